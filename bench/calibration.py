"""Calibration benchmark: ECE and Brier score before and after temperature scaling.

For each dataset and seed, trains the recipe of the task's own benchmark with
--calibrate (the temperature fitted on its validation set after training, issue
#28), then scores the test set with `seqcli evaluate`'s functions: accuracy (or
F1) and the ECE (15 equal-width bins of top-label confidence, percent) and Brier
score at T = 1 ("before") and at the fitted T ("after"):

    sst2    SST-2 sentences, the plain bi-LSTM of bench/sentiment.py
    imdb    IMDB reviews, the plain left-to-right recipe of bench/sentiment.py,
            seed s holding out its own 2,500 training reviews for validation;
            its test accuracy over the seeds is the figure that must no longer
            depend on which evaluation came last
    conll   CoNLL-2003 English, the default tagger of bench/ner.py (BiLSTM, char
            CNN, BIOES CRF); ECE and Brier per token, from the CRF's marginals

    .venv/bin/python bench/calibration.py [--budget 15] [--seeds 1,2,3]
        [--only sst2,imdb,conll] [--threads 1] [--limit N] [--keep DIR]

`--budget M` caps each run at M minutes of training. `--limit N` keeps the first
N records of every split (a smoke run: `--budget 0.05 --limit 200` checks the
wiring in a minute or two; its figures mean nothing). The last line printed is one
JSON object holding every figure; a figure of several seeds is given with its
mean, sample standard deviation (sd), min and max (`spread`).

SEQCLI_CORPORA overrides the corpora folder (default: ../shared/corpora).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sentiment import (  # noqa: E402 - bench/ is on sys.path from here
    corpora_dir,
    imdb_settings,
    log,
    sentiment_cfg,
    split_imdb,
    sst2_data,
    sst2_plain,
)
from spread import spread  # noqa: E402

DATASETS = ("sst2", "imdb", "conll")
# Figures that vary from seed to seed; `summary` gives their mean and spread.
SPREAD_KEYS = (
    "score",
    "temperature",
    "ece_before",
    "ece_after",
    "brier_before",
    "brier_after",
)


def head_table(path: str, limit: int, out: Path) -> str:
    """The header and first `limit` records of a (possibly gzipped) TSV file."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        lines = [line for _, line in zip(range(limit + 1), fh, strict=False)]
    out.write_text("".join(lines), encoding="utf-8")
    return str(out)


def head_conll(path: str, limit: int, out: Path) -> str:
    """The first `limit` sentences of a CoNLL file."""
    blocks = Path(path).read_text(encoding="utf-8").split("\n\n")
    out.write_text("\n\n".join(blocks[:limit]) + "\n", encoding="utf-8")
    return str(out)


def sentiment_run(
    name: str, overrides: dict[str, Any], test_path: str, seed: int
) -> dict[str, Any]:
    """Train one calibrated classifier; its test accuracy and calibration."""
    from seqcli.tasks.sentiment import train_sentiment
    from seqcli.tasks.sentiment_inference import evaluate_calibration, load_classifier

    cfg = sentiment_cfg({**overrides, "train.seed": seed, "calibrate": True})
    log(f"{name}, seed {seed}: training (max {cfg.train.max_time:g} min)")
    outcome = train_sentiment(cfg)
    model = load_classifier(outcome.path)
    report, calibration = evaluate_calibration(model, test_path)
    return figures(report.accuracy, model.calibration.temperature, calibration)


def conll_run(
    files: dict[str, str], budget: float, threads: int, out: Path, seed: int
) -> dict[str, Any]:
    """Train one calibrated tagger; its test F1 and per-token calibration."""
    from seqcli.config import NerConfig, load_config
    from seqcli.tasks.ner import train_ner
    from seqcli.tasks.ner_calibration import tagger_calibration
    from seqcli.tasks.ner_inference import evaluate_tagger, load_tagger

    overrides = {
        "train_path": files["train"],
        "valid_path": files["valid"],
        "out": str(out / f"conll-seed{seed}.pt"),
        "train.max_time": budget,
        "train.num_threads": threads,
        "train.device": "cpu",
        "train.seed": seed,
        "calibrate": True,
    }
    log(f"conll, seed {seed}: training (max {budget:g} min)")
    outcome = train_ner(load_config(NerConfig, None, overrides))
    model = load_tagger(outcome.path)
    report = evaluate_tagger(model, files["test"])
    calibration = tagger_calibration(model, files["test"])
    return figures(report.overall.f1, model.calibration.temperature, calibration)


def figures(score: float, temperature: float, calibration: dict) -> dict[str, Any]:
    before, after = calibration["uncalibrated"], calibration["calibrated"]
    result = {
        "score": round(score, 2),
        "temperature": round(temperature, 4),
        "ece_before": round(before.ece, 2),
        "ece_after": round(after.ece, 2),
        "brier_before": round(before.brier, 4),
        "brier_after": round(after.brier, 4),
        "examples": after.examples,
    }
    log(json.dumps(result))
    return result


def summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {key: spread([r[key] for r in runs.values()]) for key in SPREAD_KEYS}


def bench_dataset(
    name: str, args: argparse.Namespace, out: Path, seeds: list[int]
) -> dict[str, Any]:
    """Every seed's figures on one dataset, and their spread."""
    runs = {}
    for seed in seeds:
        if name == "conll":
            runs[str(seed)] = conll_run(
                conll_files(args, out), args.budget, args.threads, out, seed
            )
            continue
        files = sst2_data() if name == "sst2" else imdb_files(args, out, seed)
        settings = (
            sst2_plain(args.budget, args.threads, out)
            if name == "sst2"
            else imdb_settings(args.budget, args.threads, out, f"imdb-seed{seed}")
        )
        test = files.pop("bench_test")
        if args.limit:
            files = limited(files, args.limit, out, name)
            test = head_table(test, args.limit, out / f"{name}-test.tsv")
        runs[str(seed)] = sentiment_run(name, {**settings, **files}, test, seed)
    score = "test_f1" if name == "conll" else "test_accuracy"
    return {"score": score, "runs": runs, **summary(runs)}


def imdb_files(args: argparse.Namespace, out: Path, seed: int) -> dict[str, str]:
    files = split_imdb(out, seed=seed, lm_text=False)
    return {k: files[k] for k in ("train_path", "valid_path", "bench_test")}


def limited(files: dict[str, str], limit: int, out: Path, name: str) -> dict:
    return {
        key: head_table(path, limit, out / f"{name}-{key}.tsv")
        for key, path in files.items()
    }


def conll_files(args: argparse.Namespace, out: Path) -> dict[str, str]:
    data = corpora_dir() / "ner" / "conll2003"
    files = {split: str(data / f"{split}.txt") for split in ("train", "valid", "test")}
    if args.limit:
        files = {
            split: head_conll(path, args.limit, out / f"conll-{split}.txt")
            for split, path in files.items()
        }
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=15.0, help="minutes per run")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--only", default=",".join(DATASETS))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--limit", type=int, default=0, help="records per split")
    parser.add_argument("--keep", type=Path, help="keep the models in this folder")
    args = parser.parse_args()
    chosen = [d for d in args.only.split(",") if d]
    unknown = sorted(set(chosen) - set(DATASETS))
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; one of {DATASETS}")
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        results = {name: bench_dataset(name, args, out, seeds) for name in chosen}
    results["settings"] = {
        "budget_min": args.budget,
        "seeds": seeds,
        "threads": args.threads,
        "limit": args.limit,
        "wall_min": round((time.monotonic() - started) / 60, 2),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
