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

    python -m bench.calibration [--budget 15] [--seeds 1,2,3]
        [--only sst2,imdb,conll] [--threads 1] [--limit N] [--keep DIR]

`--budget M` caps each run at M minutes of training. `--limit N` keeps N records
of every split, evenly spaced (bench/subsets.py; a smoke run: `--budget 0.05
--limit 200` checks the wiring in a minute or two; its figures mean nothing). The
last line printed is one JSON object holding every figure; a figure of several
seeds is given with its mean, sample standard deviation (sd), min and max
(`spread`).

`figure(name)` is the same measurement for `python -m bench` (bench/figures.py:
calibration-sst2, calibration-imdb, calibration-conll2003), and `imdb_accuracy`
the IMDB test accuracy of its models (sentiment-imdb).

SEQCLI_CORPORA overrides the corpora folder (default: ../shared/corpora).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.results import Measurement, reference
from bench.sentiment import (
    corpora_dir,
    imdb_settings,
    log,
    sentiment_cfg,
    split_imdb,
    sst2_data,
    sst2_plain,
)
from bench.spread import spread
from bench.subsets import spaced
from seqcli.metrics.calibration import ECE_BINS
from seqcli.outputs import OutputFile

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
# `python -m bench`: a budget under QUICK_BELOW minutes a run is a quick run, in
# which IMDB keeps QUICK_LIMITS records of each split: scoring the 25,000 test
# reviews of 600 tokens on one thread takes longer than the quick run's training.
QUICK_BELOW = 5.0
QUICK_LIMITS = {"imdb": 2000}
COMMANDS = {
    "sst2": "seqcli train-sentiment sst2/train.tsv --valid sst2/valid.tsv "
    "--calibrate --max-time {budget:g} --seed S (bench/sentiment.py's plain "
    "recipe); seqcli evaluate sst2/test.tsv -m MODEL",
    "imdb": "seqcli train-sentiment imdb-train.tsv --valid imdb-valid.tsv "
    "--calibrate --max-time {budget:g} --seed S (bench/sentiment.py's plain IMDB "
    "recipe, seed S's own 2,500 validation reviews); seqcli evaluate "
    "imdb/test.tsv.gz -m MODEL",
    "conll": "seqcli train-ner conll2003/train.txt --valid conll2003/valid.txt "
    "--calibrate --max-time {budget:g} --seed S; seqcli evaluate "
    "conll2003/test.txt -m MODEL",
}
SCORES = {"sst2": "test accuracy %", "imdb": "test accuracy %", "conll": "test F1"}


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


def measure(
    name: str, *, budget: float, threads: int, seeds: list[int], out: Path, limit: int
) -> dict[str, Any]:
    """Every seed's figures on one dataset (`limit` records a split, 0: all), and
    their spread."""
    runs = {}
    for seed in seeds:
        if name == "conll":
            files = conll_files(limit, out)
            runs[str(seed)] = conll_run(files, budget, threads, out, seed)
            continue
        files = sst2_data() if name == "sst2" else imdb_files(out, seed)
        settings = (
            sst2_plain(budget, threads, out)
            if name == "sst2"
            else imdb_settings(budget, threads, out, f"imdb-seed{seed}")
        )
        if limit:
            files = limited(files, limit, out, name)
        test = files.pop("bench_test")
        runs[str(seed)] = sentiment_run(name, {**settings, **files}, test, seed)
    score = "test_f1" if name == "conll" else "test_accuracy"
    return {"score": score, "runs": runs, **summary(runs)}


def imdb_files(out: Path, seed: int) -> dict[str, str]:
    files = split_imdb(out, seed=seed, lm_text=False)
    return {k: files[k] for k in ("train_path", "valid_path", "bench_test")}


def limited(files: dict[str, str], limit: int, out: Path, name: str) -> dict:
    return {
        key: spaced(path, out / f"{name}-{key}.tsv", limit, blank_separated=False)
        for key, path in files.items()
    }


def conll_files(limit: int, out: Path) -> dict[str, str]:
    data = corpora_dir() / "ner" / "conll2003"
    files = {split: str(data / f"{split}.txt") for split in ("train", "valid", "test")}
    if limit:
        files = {
            split: spaced(path, out / f"conll-{split}.txt", limit, blank_separated=True)
            for split, path in files.items()
        }
    return files


# --- python -m bench -------------------------------------------------------------
def at_budget(name: str, b: Any, work: Path) -> tuple[dict[str, Any], int]:
    """`measure` at a bench budget: a quick one keeps QUICK_LIMITS records."""
    limit = QUICK_LIMITS.get(name, 0) if b.amount < QUICK_BELOW else 0
    raw = measure(
        name,
        budget=b.amount,
        threads=b.threads or 1,
        seeds=list(b.seeds),
        out=work,
        limit=limit,
    )
    return raw, limit


def figure(name: str) -> Callable[[Any, Path, str | None], Measurement]:
    """The calibration figure of dataset `name` for bench/figures.py: the test
    ECE after temperature scaling per seed, the ECE before it beside it."""

    def run(b: Any, work: Path, reuse: str | None) -> Measurement:
        raw, limit = at_budget(name, b, work)
        runs = list(raw["runs"].values())
        saved = work / "runs.json"  # sentiment-imdb: the same models' accuracy
        key = {"amount": b.amount, "seeds": list(b.seeds), "threads": b.threads}
        OutputFile(saved, inputs={}, flag="runs").write_text(
            json.dumps({**key, "raw": raw, "limit": limit})
        )
        return Measurement(
            values=[r["ece_after"] for r in runs],
            seeds=list(b.seeds),
            command=COMMANDS[name].format(budget=b.amount),
            details={
                **raw,
                "bins": ECE_BINS,
                "budget_min": b.amount,
                "records_limit": limit or None,
                "references": [
                    reference(
                        "before scaling (T = 1)", [r["ece_before"] for r in runs]
                    ),
                    reference(
                        f"{SCORES[name]}, the same models", [r["score"] for r in runs]
                    ),
                ],
            },
            artefact=str(saved),
        )

    return run


def imdb_accuracy(b: Any, work: Path, reuse: str | None) -> Measurement:
    """IMDB test accuracy of calibration-imdb's models when it ran first at the
    same budget, else of models trained alike now."""
    key = {"amount": b.amount, "seeds": list(b.seeds), "threads": b.threads}
    saved = json.loads(Path(reuse).read_text(encoding="utf-8")) if reuse else {}
    if {k: saved.get(k) for k in key} == key:
        raw, limit, source = saved["raw"], saved["limit"], "calibration-imdb"
    else:
        (raw, limit), source = at_budget("imdb", b, work), "this figure"
    return Measurement(
        values=[r["score"] for r in raw["runs"].values()],
        seeds=list(b.seeds),
        command=COMMANDS["imdb"].format(budget=b.amount),
        details={
            "runs": raw["runs"],
            "records_limit": limit or None,
            "budget_min": b.amount,
            "models_from": source,
            "target": 88.0,
        },
    )


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
        results = {
            name: measure(
                name,
                budget=args.budget,
                threads=args.threads,
                seeds=seeds,
                out=out,
                limit=args.limit,
            )
            for name in chosen
        }
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
