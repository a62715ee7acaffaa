"""NER benchmark: CoNLL-2003 English test F1 (conlleval), training time, tagging speed.

    python -m bench.ner [--budget 30] [--ablation-budget 6] [--threads 1]
        [--only default,a,b,c,e,f] [--keep DIR] [--lm-minutes M] [--seeds 1-3,7]
        [--parallel 2] [--ensemble K]

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
(f) as (e), plus a backward LM of the same sizes (`train-lm --reverse`) trained at
    the same time in a second process, which starts the backward direction
    (`--init-from-backward`: the word vectors are both LMs' side by side).
    The two LMs train side by side, one thread each, so M minutes of wall clock
    are 2M minutes of CPU: `--lm-minutes 15` keeps within 30 CPU-minutes.

Each recipe is trained once per `--seeds` seed, `--parallel` runs at a time in
worker processes (`--threads` torch threads each); a figure of several seeds is
given as mean, sample standard deviation, min and max.

With `--ensemble K`, each recipe's runs also form ensembles of K taggers, its
seeds taken K at a time in order (seeds 1-12 and K = 4: three ensembles), scored
as `seqcli evaluate test.txt -m A -m B ...` scores them (`nn.tagger.
TaggerEnsemble`: the members' CRF scores averaged). An ensemble's training time
is its members' summed; trained `--parallel` at a time, K members of at most
`--budget` minutes take at most ceil(K / parallel) * budget minutes of wall-clock.

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

from bench.results import evaluations
from bench.spread import spread

ROOT = Path(__file__).resolve().parents[1]
TARGET_F1 = 87.0


def corpora() -> Path:
    return Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def peak_rss_mb() -> float:
    """The largest resident set of this process or of any worker it waited for."""
    kib = max(
        resource.getrusage(who).ru_maxrss  # Linux: KiB
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return kib / 1024


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
    "f": {},  # + init_from and init_from_backward
}
TITLES = {
    "a": "(a) word BiLSTM + softmax",
    "b": "(b) + char CNN and casing",
    "c": "(c) + CRF",
    "default": "(d) default",
    "e": "(e) default + --init-from a WikiText-2 LM",
    "f": "(f) (e) + --init-from-backward a backward WikiText-2 LM",
}


def train_lms(
    minutes: float, out: Path, backward: bool, parallel: int
) -> dict[str, Any]:
    """The forward LM of (e), and for (f) the backward one, side by side."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    names = ["lm", "lm-backward"] if backward else ["lm"]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, parallel), mp_context=context) as pool:
        done = list(
            pool.map(
                train_lm,
                [minutes] * len(names),
                [1] * len(names),  # one thread each: the other core has the other
                [out] * len(names),
                [name == "lm-backward" for name in names],
            )
        )
    return dict(zip(names, done, strict=True))


def train_lm(
    minutes: float, threads: int, out: Path, reverse: bool = False
) -> dict[str, Any]:
    """A word LM on WikiText-2 of the tagger's sizes, for (e) and (f)."""
    import torch

    from seqcli.config import LMConfig, load_config
    from seqcli.tasks.lm import train_lm as train

    torch.set_num_threads(threads)
    name = "lm-backward" if reverse else "lm"
    data = corpora() / "lm" / "wikitext-2"
    cfg = load_config(
        LMConfig,
        None,
        {
            "train_path": str(data / "train.txt"),
            "valid_path": str(data / "valid.txt"),
            "out": str(out / f"{name}.pt"),
            "tokenizer.lowercase": True,
            "tokenizer.reverse": reverse,
            "model.num_layers": 1,
            "model.emb_size": 100,
            "model.hidden_size": 200,
            "train.max_time": minutes,
            "train.num_threads": threads,
            "train.device": "cpu",
        },
    )
    log(f"{name} on WikiText-2: training for at most {minutes:g} min")
    outcome = train(cfg, reporter=Log(metric="ppl"))
    records = evaluations(out / f"{name}.metrics.jsonl")
    figures = {
        "train_s": records[-1]["elapsed_s"],
        "tokens": records[-1]["tokens"],
        "valid_ppl": outcome.metrics["valid"].get("ppl"),
        "model": str(outcome.path),
    }
    log(f"{name}: valid ppl {figures['valid_ppl']}, {figures['train_s']:.0f} s")
    return figures


def train(
    name: str,
    minutes: float,
    threads: int,
    out: Path,
    lms: dict[str, str],
    seed: int = 1,
) -> dict[str, Any]:
    """One tagger run of recipe `name` (LMs by role: "lm", "lm-backward")."""
    import torch

    from seqcli.config import NerConfig, load_config
    from seqcli.tasks.ner import train_ner

    torch.set_num_threads(threads)
    data = corpora() / "ner" / "conll2003"
    stem = f"ner-{name}-seed{seed}"
    overrides = {
        "train_path": str(data / "train.txt"),
        "valid_path": str(data / "valid.txt"),
        "test_path": str(data / "test.txt"),
        "out": str(out / f"{stem}.pt"),
        "train.max_time": minutes,
        "train.num_threads": threads,
        "train.device": "cpu",
        "train.seed": seed,
        **RECIPES[name],
    }
    if name in ("e", "f"):
        overrides["init_from"] = lms["lm"]
    if name == "f":
        overrides["init_from_backward"] = lms["lm-backward"]
    cfg = load_config(NerConfig, None, overrides)
    log(f"{TITLES[name]}, seed {seed}: training for at most {minutes:g} min")
    started = time.monotonic()
    outcome = train_ner(cfg, reporter=Log())
    wall = time.monotonic() - started
    records = evaluations(out / f"{stem}.metrics.jsonl")
    test = outcome.metrics["test"]
    figures = {
        "recipe": TITLES[name],
        "seed": seed,
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
        "load_after": load(),
    }
    log(
        f"{TITLES[name]}, seed {seed}: test F1 {test['f1']:.2f} "
        f"(valid {figures['valid_f1']:.2f}), "
        f"{figures['train_s']:.0f} s of training, {figures['epochs']} epochs"
    )
    return figures


def run_all(
    jobs: list[tuple[str, int]], args: argparse.Namespace, out: Path, lms: dict
) -> list[dict[str, Any]]:
    """Every (recipe, seed) run, `--parallel` at a time in worker processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    def minutes(name: str) -> float:
        return args.ablation_budget if name in "abc" else args.budget

    columns = [
        [name for name, _ in jobs],
        [minutes(name) for name, _ in jobs],
        [args.threads] * len(jobs),
        [out] * len(jobs),
        [lms] * len(jobs),
        [seed for _, seed in jobs],
    ]
    if args.parallel <= 1:
        return [train(*job) for job in zip(*columns, strict=True)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.parallel, mp_context=context) as pool:
        return list(pool.map(train, *columns))


def by_recipe(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each recipe's runs by seed, with the spread of its F1 figures."""
    recipes: dict[str, Any] = {}
    for result in results:
        name = next(k for k, v in TITLES.items() if v == result["recipe"])
        recipes.setdefault(name, {"seeds": {}})["seeds"][str(result["seed"])] = result
    for name, entry in recipes.items():
        runs = list(entry["seeds"].values())
        for key in ("test_f1", "valid_f1", "train_s", "epochs"):
            entry[key] = spread([run[key] for run in runs], digits=2)
        log(f"{TITLES[name]}: test F1 {json.dumps(entry['test_f1'])}")
    return recipes


def ensembles(recipe: dict[str, Any], k: int, parallel: int) -> dict[str, Any]:
    """The recipe's seeds K at a time (in order) as ensembles, scored on the valid
    and test files as `seqcli evaluate -m A -m B ...` scores them."""
    from seqcli.tasks import ner_inference as inference

    data = corpora() / "ner" / "conll2003"
    runs = list(recipe["seeds"].values())
    groups = []
    for first in range(0, len(runs) - k + 1, k):
        members = runs[first : first + k]
        tagger = inference.load_taggers([m["model"] for m in members])
        scores = {
            split: inference.evaluate_tagger(tagger, str(data / f"{split}.txt"))
            for split in ("valid", "test")
        }
        test = scores["test"].overall
        group = {
            "seeds": [m["seed"] for m in members],
            "models": [m["model"] for m in members],
            "members_test_f1": [m["test_f1"] for m in members],
            "valid_f1": scores["valid"].overall.f1,
            "test_f1": test.f1,
            "test_precision": test.precision,
            "test_recall": test.recall,
            "per_type": {t: v.f1 for t, v in scores["test"].by_type.items()},
            "members_train_s": round(sum(m["train_s"] for m in members), 1),
            "wall_bound_min": -(-k // parallel) * members[0]["budget_min"],
        }
        log(
            f"ensemble of seeds {group['seeds']}: test F1 {test.f1:.2f} "
            f"(members {', '.join(f'{x:.2f}' for x in group['members_test_f1'])})"
        )
        groups.append(group)
    entry: dict[str, Any] = {"size": k, "groups": groups}
    for key in ("test_f1", "valid_f1", "members_train_s"):
        entry[key] = spread([g[key] for g in groups], digits=2)
    return entry


def seed_list(text: str) -> list[int]:
    """``1-4,7`` -> [1, 2, 3, 4, 7]."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += list(range(int(low), int(high or low) + 1))
    return seeds


def tagging_speed(
    model: str | list[str], threads: int, test: str | None = None
) -> dict[str, Any]:
    """Tag the test sentences (CoNLL-2003's unless `test` names another file) in
    one batched call; also re-score them with `evaluate_tagger` (the `seqcli
    evaluate` path) as a check. Several models are tagged as one ensemble."""
    import torch

    from seqcli.tasks import ner_inference as inference

    torch.set_num_threads(threads)
    tagger = inference.load_taggers(model if isinstance(model, list) else [model])
    test = test or str(corpora() / "ner" / "conll2003" / "test.txt")
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


# --- the peer: seqeval scores the same predictions ---------------------------------
SEQEVAL_PYTHON = ROOT / "bench" / "envs" / "seqeval" / "bin" / "python"
SEQEVAL_SCRIPT = ROOT / "bench" / "peers" / "seqeval_score.py"


def file_predictions(model: str, path: str) -> tuple[list[list[str]], list[list[str]]]:
    """(gold tags, predicted tags) of each sentence of a CoNLL file, in the file's
    scheme: the very tags that `evaluate_tagger` (`seqcli evaluate`) scores."""
    from seqcli.metrics.ner import detect_scheme
    from seqcli.readers import read_conll
    from seqcli.tasks.ner import predict, to_scheme
    from seqcli.tasks.ner_inference import load_taggers

    tagger = load_taggers([model])
    cfg = tagger.cfg
    sentences = list(
        read_conll(path, token_column=cfg.token_column, tag_column=cfg.tag_column)
    )
    scheme = cfg.scheme
    if scheme == "auto":
        scheme = detect_scheme(s.tags for s in sentences)
    found = predict(
        tagger.network, tagger.lexicon.encode([s.tokens for s in sentences])
    )
    predicted = [
        to_scheme(t.paths[0], tagger.labels, cfg.train_scheme, scheme) for t in found
    ]
    return [list(s.tags) for s in sentences], predicted


def seqeval_scores(
    gold: list[list[str]], predicted: list[list[str]], work: Path
) -> dict[str, Any]:
    """seqeval's precision, recall and F1 (percent) of the predictions, run in its
    bench-only environment on the predictions written to `work`.

    Raises:
        FileNotFoundError: the environment is missing (`make bench-env`).
    """
    from seqcli.outputs import OutputFile

    if not SEQEVAL_PYTHON.exists():
        raise FileNotFoundError(f"{SEQEVAL_PYTHON} is missing: run `make bench-env`")
    path = work / "ner-predictions.json"
    OutputFile(path, inputs={}, flag="predictions").write_text(
        json.dumps({"gold": gold, "predicted": predicted})
    )
    proc = subprocess.run(
        [str(SEQEVAL_PYTHON), str(SEQEVAL_SCRIPT), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def add_ensembles(figures: dict[str, Any], args: argparse.Namespace) -> dict:
    """`--ensemble`: each tagger recipe's ensembles, and the first one's speed."""
    found = {}
    for name in ("default", "e", "f"):
        runs = figures["runs"].get(name)
        if runs is not None and len(runs["seeds"]) >= args.ensemble:
            found[name] = ensembles(runs, args.ensemble, args.parallel)
            log(f"{TITLES[name]}, ensembles: test F1 {found[name]['test_f1']}")
    if found:
        entry = next(iter(found.values()))
        group = entry["groups"][0]
        speed = tagging_speed(group["models"], args.threads)
        speed.pop("conlleval_lines")
        entry["tagging"] = speed
        log(f"tagging with an ensemble: {speed['tokens_per_s']:,} tokens/s")
    return found


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
        "--lm-minutes", type=float, default=0.0, help="the LMs of (e), (f)"
    )
    parser.add_argument(
        "--seeds",
        type=seed_list,
        default=[1],
        help="one run of each recipe per seed (comma-separated; ranges as 1-4)",
    )
    parser.add_argument(
        "--ensemble",
        type=int,
        default=0,
        help="also score each recipe's seeds K at a time as ensembles",
    )
    parser.add_argument(
        "--parallel", type=int, default=1, help="runs trained side by side"
    )
    args = parser.parse_args()
    names = args.only.split(",")
    if {"e", "f"} & set(names) and not args.lm_minutes:
        parser.error("(e) and (f) need --lm-minutes")

    import torch

    torch.set_num_threads(args.threads)
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU",
        "torch": torch.__version__,
        "threads": args.threads,
        "seeds": args.seeds,
        "parallel": args.parallel,
        "load_start": load(),
    }
    out = args.keep or Path(tempfile.mkdtemp(prefix="seqcli-ner-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    lms: dict[str, str] = {}
    if {"e", "f"} & set(names):
        figures["lms"] = train_lms(args.lm_minutes, out, "f" in names, args.parallel)
        lms = {role: lm["model"] for role, lm in figures["lms"].items()}
    jobs = [(name, seed) for name in names for seed in args.seeds]
    figures["runs"] = by_recipe(run_all(jobs, args, out, lms))
    tagged = next((n for n in ("default", "f", "e") if n in figures["runs"]), None)
    if tagged is not None:
        first = next(iter(figures["runs"][tagged]["seeds"].values()))
        speed = tagging_speed(first["model"], args.threads)
        figures["tagging"] = {"run": tagged, "seed": first["seed"], **speed}
        log(f"tagging: {speed['tokens_per_s']:,} tokens/s")
        for line in speed["conlleval_lines"]:
            log(f"  {line}")
        f1s = [
            figures["runs"][n]["test_f1"]["mean"]
            for n in ("default", "e", "f")
            if n in figures["runs"]
        ]
        if args.ensemble > 1:
            figures["ensembles"] = add_ensembles(figures, args)
            f1s += [e["test_f1"]["mean"] for e in figures["ensembles"].values()]
        f1 = max(f1s)
        figures["target_f1"] = TARGET_F1
        figures["target_met"] = f1 >= TARGET_F1  # by the mean over seeds
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    figures["load_end"] = load()
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    sys.exit(main())
