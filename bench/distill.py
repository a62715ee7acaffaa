"""Distillation benchmark (issue #28): one model trained from an ensemble.

    python bench/distill.py [--only conll,sst2] [--teachers 4] [--budget 30]
        [--teacher-budget 30] [--seeds 1-3] [--threads 2] [--keep DIR] [--smoke]

For each corpus, through the Python API (`seqcli.tasks`):

1. `--teachers` K models of the default recipe (seeds 101, 102, ...), each trained
   for at most `--teacher-budget` minutes, are the teachers; their ensemble is
   scored on the test set as `seqcli evaluate -m A -m B ...` scores it.
2. For each of `--seeds`: a plain model of the default recipe and a student of
   the same recipe and size (`--teacher` each of the K, the `DistillConfig`
   defaults), each trained for at most `--budget` minutes and scored on the test
   set; figures over seeds as mean, sample standard deviation, min and max.

Compute is reported in three parts, never summed silently: the teachers' training
seconds (all K), the seconds each student spent having its teachers label the
training set (the checkpoint's `data.distill.labelling_seconds`), and the
student's own training seconds.

CoNLL-2003 (`ner/conll2003`, IOB1) is scored by conlleval's entity F1; SST-2
(`sentiment/sst2`) by accuracy. SEQCLI_CORPORA overrides the corpora folder
(default: ../shared/corpora). `--smoke` takes the first 300 training and 100
validation and test records, two teachers, one seed and seconds of budget: it
checks the wiring, its figures mean nothing. The last line printed is one JSON
object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from spread import spread  # bench/, first on sys.path

from seqcli.outputs import OutputFile

ROOT = Path(__file__).resolve().parents[1]
SMOKE_RECORDS = {"train": 300, "valid": 100, "test": 100}


def corpora() -> Path:
    return Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


# --- data ----------------------------------------------------------------------
def _head(path: Path, out: Path, records: int, *, blank_separated: bool) -> str:
    """The first `records` records of a file (CoNLL sentences or table rows, a
    table's header kept), written to `out`."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept: list[str] = []
    count = 0
    for line in lines:
        kept.append(line)
        count += (line.strip() == "") if blank_separated else 1
        if count > records:
            break
    OutputFile(out, inputs={"corpus": path}).write_text("".join(kept))
    return str(out)


def data_files(corpus: str, smoke: bool, work: Path) -> dict[str, str]:
    if corpus == "conll":
        folder, ext, blank = corpora() / "ner" / "conll2003", "txt", True
    else:
        folder, ext, blank = corpora() / "sentiment" / "sst2", "tsv", False
    files = {split: folder / f"{split}.{ext}" for split in ("train", "valid", "test")}
    if not smoke:
        return {split: str(path) for split, path in files.items()}
    return {
        split: _head(
            path,
            work / f"{corpus}-{split}.{ext}",
            SMOKE_RECORDS[split],
            blank_separated=blank,
        )  # fmt: skip
        for split, path in files.items()
    }


# --- training and scoring ------------------------------------------------------
def train(corpus: str, files: dict[str, str], out: Path, **overrides: Any) -> dict:
    """One run of the default recipe; its test score and its compute."""
    from seqcli.checkpoint import load_checkpoint
    from seqcli.config import NerConfig, SentimentConfig, load_config
    from seqcli.tasks.ner import train_ner
    from seqcli.tasks.sentiment import train_sentiment

    cls, run = (NerConfig, train_ner) if corpus == "conll" else (
        SentimentConfig, train_sentiment)  # fmt: skip
    keys = {
        "train_path": files["train"],
        "valid_path": files["valid"],
        "test_path": files["test"],
        "out": str(out),
        "train.device": "cpu",
        **overrides,
    }
    outcome = run(load_config(cls, None, keys))
    metric = "f1" if corpus == "conll" else "accuracy"
    distill = load_checkpoint(outcome.path)["data"].get("distill", {})
    return {
        "model": str(outcome.path),
        "test": outcome.metrics["test"][metric],
        "valid": outcome.metrics["valid"][metric],
        "train_s": round(outcome.elapsed, 1),
        "labelling_s": distill.get("labelling_seconds", 0.0),
    }


def ensemble_score(corpus: str, models: list[str], test: str) -> float:
    """The teachers' ensemble on the test set, as `seqcli evaluate` scores it."""
    if corpus == "conll":
        from seqcli.tasks.ner_inference import evaluate_tagger, load_taggers

        return evaluate_tagger(load_taggers(models), test).overall.f1
    from seqcli.tasks.sentiment_inference import evaluate_classifier, load_classifier

    return evaluate_classifier([load_classifier(m) for m in models], test).accuracy


def bench(corpus: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    files = data_files(corpus, args.smoke, work)
    common = {"train.num_threads": args.threads}
    teachers = []
    for k in range(args.teachers):
        log(f"{corpus}: teacher {k + 1} of {args.teachers}")
        teachers.append(
            train(corpus, files, work / f"{corpus}-teacher{k + 1}.pt", **common,
                  **{"train.seed": 101 + k, "train.max_time": args.teacher_budget})
        )  # fmt: skip
    models = [t["model"] for t in teachers]
    figures: dict[str, Any] = {
        "teachers": teachers,
        "teachers_train_s": round(sum(t["train_s"] for t in teachers), 1),
        "ensemble_test": ensemble_score(corpus, models, files["test"]),
    }
    for name, extra in (("plain", {}), ("student", {"distill.teachers": models})):
        runs = []
        for seed in args.seeds:
            log(f"{corpus}: {name}, seed {seed}")
            runs.append(
                train(corpus, files, work / f"{corpus}-{name}{seed}.pt", **common,
                      **extra, **{"train.seed": seed, "train.max_time": args.budget})
            )  # fmt: skip
        figures[name] = {
            "runs": runs,
            "test": spread([r["test"] for r in runs]),
            "train_s": spread([r["train_s"] for r in runs]),
            "labelling_s": spread([r["labelling_s"] for r in runs]),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="conll,sst2")
    parser.add_argument("--teachers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=30.0, help="minutes")
    parser.add_argument("--teacher-budget", type=float, default=30.0, help="minutes")
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("1-3"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the models in this folder")
    parser.add_argument("--smoke", action="store_true", help="wiring check only")
    args = parser.parse_args()
    if args.smoke:
        args.teachers, args.seeds = min(args.teachers, 2), args.seeds[:1]
        args.budget = args.teacher_budget = 0.05
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = {
            "smoke": args.smoke,
            "settings": {k: str(v) for k, v in vars(args).items()},
            "load": [round(x, 2) for x in os.getloadavg()],
        }
        for corpus in args.only.split(","):
            results[corpus] = bench(corpus, args, work)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
