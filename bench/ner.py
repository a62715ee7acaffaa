"""NER benchmark: CoNLL-2003 English test F1 (conlleval), training time, tagging speed.

    python bench/ner.py [--budget 30] [--ablation-budget 6] [--threads 1]
        [--only default,a,b,c] [--keep DIR] [--lm-minutes M]

Runs, one after another in this process, through the Python API (`seqcli.tasks`):

(d) the default recipe (`NerConfig`: BiLSTM 1x200 over 100-d lowercased words, a
    character CNN, a casing feature, a BIOES-constrained CRF; Adam), trained for
    at most `--budget` minutes;
(a) word BiLSTM + softmax: no character or casing features, a softmax per token;
(b) (a) + character CNN and casing features;
(c) (b) + CRF, i.e. the default recipe;
(a)-(c) each trained for `--ablation-budget` minutes, equal budgets, so their
differences are those of the recipes at equal CPU time, not converged figures.

(e) with `--lm-minutes M` (and `e` in `--only`): first a word LM (1x200 LSTM over
    100-d lowercased words, the tagger's sizes) is trained on WikiText-2's training
    text for at most M minutes, then the default recipe for `--budget` minutes
    starting from it (`--init-from`: its embeddings, its LSTM as the forward
    direction, its input weights beside the tagger's character features).

Every run selects its best epoch on valid.txt (eng.testa) by entity F1 and is
scored once on test.txt (eng.testb) by conlleval's rules (`metrics.ner`); no
pretrained vectors are used. Then the (d) model tags the test sentences in one
batched `tag` call (one process, `--threads` torch threads): tokens per second.
Peak RSS is the whole process's. The machine's load average is recorded at the
start and the end, because the CPU is shared.

SEQCLI_CORPORA overrides the corpora folder (default: ../shared/corpora); the
data is `ner/conll2003/{train,valid,test}.txt` (IOB1). The last line printed is
one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_F1 = 87.0


def corpora() -> Path:
    return Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Log:
    """A seqcli Reporter that prints each evaluation."""

    def __init__(self, metric: str = "f1") -> None:
        self.metric = metric

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        pass

    def on_step(self, info: Any) -> None:
        pass

    def on_eval(self, record: dict[str, float]) -> None:
        log(
            f"  epoch {record['epoch']}: valid {self.metric} "
            f"{record[self.metric]:.2f} ({record['elapsed_s']:.0f} s)"
        )

    def on_message(self, text: str) -> None:
        log(f"  {text}")


# The recipes: overrides of NerConfig's defaults.
RECIPES: dict[str, dict[str, Any]] = {
    "a": {"char_features": "none", "casing": False, "decoder": "softmax"},
    "b": {"char_features": "cnn", "casing": True, "decoder": "softmax"},
    "c": {},
    "default": {},
    "e": {},  # + init_from, set by `train`
}
TITLES = {
    "a": "(a) word BiLSTM + softmax",
    "b": "(b) + char CNN and casing",
    "c": "(c) + CRF",
    "default": "(d) default",
    "e": "(e) default + --init-from a WikiText-2 LM",
}


def train_lm(minutes: float, threads: int, out: Path) -> dict[str, Any]:
    """A word LM on WikiText-2 of the tagger's sizes, for (e)."""
    from seqcli.config import LMConfig, load_config
    from seqcli.tasks.lm import train_lm as train

    data = corpora() / "lm" / "wikitext-2"
    cfg = load_config(
        LMConfig,
        None,
        {
            "train_path": str(data / "train.txt"),
            "valid_path": str(data / "valid.txt"),
            "out": str(out / "lm.pt"),
            "tokenizer.lowercase": True,
            "model.num_layers": 1,
            "model.emb_size": 100,
            "model.hidden_size": 200,
            "train.max_time": minutes,
            "train.num_threads": threads,
            "train.device": "cpu",
        },
    )
    log(f"word LM on WikiText-2 for (e): training for at most {minutes:g} min")
    outcome = train(cfg, reporter=Log(metric="ppl"))
    records = [
        json.loads(line) for line in (out / "lm.metrics.jsonl").read_text().splitlines()
    ]
    figures = {
        "train_s": records[-1]["elapsed_s"],
        "tokens": records[-1]["tokens"],
        "valid_ppl": outcome.metrics["valid"].get("ppl"),
        "model": str(outcome.path),
    }
    log(f"word LM: valid ppl {figures['valid_ppl']}, {figures['train_s']:.0f} s")
    return figures


def train(
    name: str, minutes: float, threads: int, out: Path, init_from: str | None = None
) -> dict[str, Any]:
    from seqcli.config import NerConfig, load_config
    from seqcli.tasks.ner import train_ner

    data = corpora() / "ner" / "conll2003"
    overrides = {
        "train_path": str(data / "train.txt"),
        "valid_path": str(data / "valid.txt"),
        "test_path": str(data / "test.txt"),
        "out": str(out / f"ner-{name}.pt"),
        "train.max_time": minutes,
        "train.num_threads": threads,
        "train.device": "cpu",
        **RECIPES[name],
    }
    if init_from:
        overrides["init_from"] = init_from
    cfg = load_config(NerConfig, None, overrides)
    log(f"{TITLES[name]}: training for at most {minutes:g} min")
    started = time.monotonic()
    outcome = train_ner(cfg, reporter=Log())
    wall = time.monotonic() - started
    records = [
        json.loads(line)
        for line in (out / f"ner-{name}.metrics.jsonl").read_text().splitlines()
    ]
    test = outcome.metrics["test"]
    figures = {
        "recipe": TITLES[name],
        "overrides": RECIPES[name],
        "budget_min": minutes,
        "train_s": records[-1]["elapsed_s"],  # training with validations
        "wall_s": round(wall, 1),  # with data preparation and the test scoring
        "epochs": outcome.epochs,
        "stopped_by": outcome.stopped_by,
        "best_epoch": max(records, key=lambda r: r["f1"])["epoch"],
        "valid_f1": outcome.metrics["valid"]["f1"],
        "test_f1": test["f1"],
        "test_precision": test["precision"],
        "test_recall": test["recall"],
        "test_accuracy": test["accuracy"],
        "model": str(outcome.path),
    }
    log(
        f"{TITLES[name]}: test F1 {test['f1']:.2f} (valid {figures['valid_f1']:.2f}), "
        f"{figures['train_s']:.0f} s of training, {figures['epochs']} epochs"
    )
    return figures


def tagging_speed(model: str, threads: int) -> dict[str, Any]:
    """Tag the test sentences in one batched call; also re-score them with
    `evaluate_tagger` (the `seqcli evaluate` path) as a check."""
    import torch

    from seqcli.tasks import ner_inference as inference

    torch.set_num_threads(threads)
    tagger = inference.load_tagger(model)
    test = str(corpora() / "ner" / "conll2003" / "test.txt")
    sentences = inference.conll_sentences(test)
    tokens = sum(len(s.tokens) for s in sentences)
    started = time.perf_counter()
    inference.tag(tagger, sentences)
    seconds = time.perf_counter() - started
    report = inference.evaluate_tagger(tagger, test)
    return {
        "sentences": len(sentences),
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds),
        "batch_size": inference.PREDICT_BATCH,
        "evaluate_test_f1": report.overall.f1,
        "conlleval_lines": report.lines(),
    }


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0, help="(d)'s minutes")
    parser.add_argument(
        "--ablation-budget", type=float, default=6.0, help="minutes of (a), (b), (c)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--only", default="default,a,b,c")
    parser.add_argument("--keep", type=Path, help="keep the models in this folder")
    parser.add_argument(
        "--lm-minutes", type=float, default=0.0, help="the LM of (e); 0 = no (e)"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU",
        "torch": torch.__version__,
        "threads": args.threads,
        "load_start": load(),
        "runs": {},
    }
    out = args.keep or Path(tempfile.mkdtemp(prefix="seqcli-ner-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only.split(","):
        minutes = args.ablation_budget if name in "abc" else args.budget
        lm = None
        if name == "e":
            if not args.lm_minutes:
                parser.error("(e) needs --lm-minutes")
            figures["lm"] = train_lm(args.lm_minutes, args.threads, out)
            lm = figures["lm"]["model"]
        figures["runs"][name] = train(name, minutes, args.threads, out, lm)
        figures["runs"][name]["load_after"] = load()
    tagged = next((n for n in ("default", "e") if n in figures["runs"]), None)
    if tagged is not None:
        speed = tagging_speed(figures["runs"][tagged]["model"], args.threads)
        figures["tagging"] = {"run": tagged, **speed}
        log(f"tagging: {speed['tokens_per_s']:,} tokens/s")
        for line in speed["conlleval_lines"]:
            log(f"  {line}")
        f1 = max(
            r["test_f1"] for n, r in figures["runs"].items() if n in ("default", "e")
        )
        figures["target_f1"] = TARGET_F1
        figures["target_met"] = f1 >= TARGET_F1
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    figures["load_end"] = load()
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    sys.exit(main())
