"""Sentiment benchmarks: SST-2 and IMDB accuracy, training time, classify speed.

Runs, one after another, through the Python API (`seqcli.tasks`):

1. A word LM on the IMDB training reviews (cleaned, lowercased; labels unused).
   It is the unlabelled text both transfer runs start from.
2. SST-2 (sentence level, the 6,920 training sentences only): a plain bi-LSTM
   with max pooling; a left-to-right classifier started from the LM (`init_from`).
3. IMDB (cleaned, lowercased, first 600 tokens): a plain left-to-right LSTM and
   the same classifier started from the LM. 2,500 training reviews are held out
   for validation (and kept out of the LM's text).
4. The training speed of length-bucketed vs. unbucketed batches on IMDB.

Test accuracy and throughput come from one timed `classify` call over the test
texts. `--budget M` caps each SST-2 run at M minutes of training, each IMDB run at
2M and the language model at M/2 (M = 15 gives the targets' 15 and 30 minutes).
The last line printed is one JSON object holding every figure.

    .venv/bin/python bench/sentiment.py [--budget 15] [--threads 0]

SEQCLI_CORPORA overrides the corpora folder (default: ../shared/corpora).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"sst2": 0.85, "imdb": 0.88}
IMDB_VALID = 2500
SPEED_REVIEWS = 1600  # reviews per bucketed/unbucketed speed run
# The LM's sizes; a classifier started from it takes them (and reads left to right).
LM_MODEL = {"cell": "lstm", "emb_size": 128, "hidden_size": 256, "num_layers": 1}


def corpora_dir() -> Path:
    default = ROOT.parent / "shared" / "corpora"
    return Path(os.environ.get("SEQCLI_CORPORA", default))


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def sentiment_cfg(overrides: dict[str, Any]) -> Any:
    from seqcli.config import SentimentConfig, load_config

    return load_config(SentimentConfig, None, overrides)


def train_classifier(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Train, then classify the test texts once: accuracy and throughput."""
    from seqcli.readers import read_table
    from seqcli.tasks.sentiment import classify, load_classifier, train_sentiment

    test_path = overrides.pop("bench_test")
    cfg = sentiment_cfg(overrides)
    log(f"{name}: training (max {cfg.train.max_time:.1f} min)")
    start = time.monotonic()
    outcome = train_sentiment(cfg)
    train_s = time.monotonic() - start
    records = list(read_table(test_path))
    model = load_classifier(outcome.path)
    start = time.monotonic()
    predictions = classify(model, [r.text for r in records])
    classify_s = time.monotonic() - start
    hits = sum(p == r.label for p, r in zip(predictions.labels, records, strict=True))
    result = {
        "test_accuracy": round(hits / len(records), 4),
        "valid": outcome.metrics["valid"],
        "train_minutes": round(train_s / 60, 2),
        "epochs": outcome.epochs,
        "stopped_by": outcome.stopped_by,
        "classify_per_s": round(len(records) / classify_s, 1),
        "test_examples": len(records),
    }
    log(f"{name}: {json.dumps(result)}")
    return result


def train_lm(name: str, overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from seqcli.config import LMConfig, load_config
    from seqcli.tasks.lm import train_lm as train

    cfg = load_config(LMConfig, None, overrides)
    log(f"{name}: training LM (max {cfg.train.max_time:.1f} min)")
    start = time.monotonic()
    outcome = train(cfg)
    result = {
        "valid_ppl": round(outcome.metrics["valid"]["ppl"], 1),
        "train_minutes": round((time.monotonic() - start) / 60, 2),
        "epochs": outcome.epochs,
    }
    log(f"{name}: {json.dumps(result)}")
    return str(outcome.path), result


def common(budget: float, threads: int, out: Path, name: str) -> dict[str, Any]:
    return {
        "out": str(out / f"{name}.pt"),
        "tokenizer.lowercase": True,
        "train.max_time": budget,
        "train.num_threads": threads,
        "train.device": "cpu",
        "pooling": "max",
    }


def sst2_plain(budget: float, threads: int, out: Path) -> dict[str, Any]:
    return {
        **common(budget, threads, out, "sst2"),
        "model.emb_size": 300,
        "model.hidden_size": 256,
        "model.dropout": 0.5,
    }


def sst2_transfer(budget: float, threads: int, out: Path, lm: str) -> dict[str, Any]:
    # The LM's sizes come with it; lighter dropout keeps more of what it learnt.
    return {
        **common(budget, threads, out, "sst2-init"),
        "init_from": lm,
        "model.bidirectional": False,
        "model.dropout": 0.2,
    }


def imdb_settings(budget: float, threads: int, out: Path, name: str) -> dict[str, Any]:
    return {
        **common(budget, threads, out, name),
        "clean": True,
        "max_tokens": 600,
        # Left to right: the encoder then runs unpacked; a packed LSTM's backward
        # pass on a CPU slows with the square of the length (see nn/recurrent.py).
        "model.bidirectional": False,
        "model.emb_size": LM_MODEL["emb_size"],
        "model.hidden_size": LM_MODEL["hidden_size"],
        "model.dropout": 0.5,
        "tokenizer.max_size": 30000,
        "train.batch_size": 64,
        "train.lr": 2e-3,
        "train.eval_every": 175,  # about half an epoch: keep the best of each half
        "train.plateau_patience": 1,
        "train.early_stop": 3,
    }


def lm_settings(budget: float, threads: int, out: Path, text: str) -> dict[str, Any]:
    return {
        "train_path": text,
        "out": str(out / "lm-imdb.pt"),
        "tokenizer.lowercase": True,
        "tokenizer.max_size": 30000,
        "train.max_time": budget,
        "train.num_threads": threads,
        "train.device": "cpu",
        "train.batch_size": 32,
        "train.lr": 2e-3,
        "model.dropout": 0.2,
        **{f"model.{k}": v for k, v in LM_MODEL.items()},
    }


def bench_sst2(args: argparse.Namespace, out: Path, lm: str) -> dict[str, Any]:
    folder = corpora_dir() / "sentiment" / "sst2"
    data = {
        "train_path": str(folder / "train.tsv"),
        "valid_path": str(folder / "valid.tsv"),
        "bench_test": str(folder / "test.tsv"),
    }
    budget, threads = args.budget, args.threads
    return {
        "plain": train_classifier(
            "sst2 plain", {**sst2_plain(budget, threads, out), **data}
        ),
        "init_from_lm": train_classifier(
            "sst2 init-from", {**sst2_transfer(budget, threads, out, lm), **data}
        ),
    }


def split_imdb(tmp: Path) -> dict[str, str]:
    """Hold out validation reviews; write the training text for the LM."""
    from seqcli.readers import read_table
    from seqcli.tokenizers import clean_web_text

    folder = corpora_dir() / "sentiment" / "imdb"
    records = list(read_table(folder / "train.tsv.gz"))
    random.Random(1).shuffle(records)
    valid, train = records[:IMDB_VALID], records[IMDB_VALID:]
    paths = {name: tmp / f"imdb-{name}.tsv" for name in ("train", "valid", "speed")}
    for path, rows in (
        (paths["train"], train),
        (paths["valid"], valid),
        (paths["speed"], train[:SPEED_REVIEWS]),
    ):
        lines = [f"{r.text}\t{r.label}" for r in rows]
        path.write_text("text\tlabel\n" + "\n".join(lines) + "\n", encoding="utf-8")
    lm_text = tmp / "imdb-lm.txt"
    lm_text.write_text(
        "\n".join(clean_web_text(r.text) for r in train) + "\n", encoding="utf-8"
    )
    return {
        "train_path": str(paths["train"]),
        "valid_path": str(paths["valid"]),
        "bench_test": str(folder / "test.tsv.gz"),
        "speed": str(paths["speed"]),
        "lm_text": str(lm_text),
    }


def bench_imdb(
    args: argparse.Namespace, out: Path, files: dict[str, str], lm: str
) -> dict[str, Any]:
    data = {k: files[k] for k in ("train_path", "valid_path", "bench_test")}
    budget, threads = 2 * args.budget, args.threads
    results: dict[str, Any] = {"bucket_speed": bucket_speed(args, out, files)}
    results["plain"] = train_classifier(
        "imdb plain", {**imdb_settings(budget, threads, out, "imdb"), **data}
    )
    results["init_from_lm"] = train_classifier(
        "imdb init-from",
        {**imdb_settings(budget, threads, out, "imdb-init"), **data, "init_from": lm},
    )
    return results


def bucket_speed(
    args: argparse.Namespace, out: Path, files: dict[str, str]
) -> dict[str, Any]:
    """One epoch over the same reviews with and without length buckets."""
    from seqcli.tasks.sentiment import train_sentiment

    seconds = {}
    for bucket in (True, False):
        cfg = sentiment_cfg(
            {
                **imdb_settings(60, args.threads, out, f"speed-{bucket}"),
                "train_path": files["speed"],
                "valid_path": files["speed"],
                "bucket": bucket,
                "train.epochs": 1,
            }
        )
        start = time.monotonic()
        train_sentiment(cfg)
        seconds[bucket] = time.monotonic() - start
        log(f"bucket={bucket}: {seconds[bucket]:.1f} s for one epoch")
    return {
        "reviews": SPEED_REVIEWS,
        "bucketed_s": round(seconds[True], 1),
        "unbucketed_s": round(seconds[False], 1),
        "speedup": round(seconds[False] / seconds[True], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=15.0, help="minutes (SST-2)")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0 = idle cores)"
    )
    parser.add_argument("--only", choices=("sst2", "imdb"), help="one data set")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    figures: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "device": f"{os.cpu_count()}-core CPU (no GPU), {platform.machine()}",
        "command": "python bench/sentiment.py " + " ".join(sys.argv[1:]),
        "budget_minutes": args.budget,
        "threads": args.threads,
    }
    with tempfile.TemporaryDirectory(prefix="seqcli-bench-") as tmp:
        out = Path(tmp) / "models"
        files = split_imdb(Path(tmp))
        lm, figures["lm"] = train_lm(
            "imdb LM", lm_settings(args.budget / 2, args.threads, out, files["lm_text"])
        )
        if args.only in (None, "sst2"):
            figures["sst2"] = bench_sst2(args, out, lm)
        if args.only in (None, "imdb"):
            figures["imdb"] = bench_imdb(args, out, files, lm)
    for name, target in TARGETS.items():
        if name in figures:
            best = max(
                figures[name][k]["test_accuracy"] for k in ("plain", "init_from_lm")
            )
            figures[name]["target"] = target
            figures[name]["target_met"] = best >= target
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
