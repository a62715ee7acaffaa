"""Why the IMDB recipe's validation accuracy swings from one evaluation to the next.

Trains the IMDB recipe of `bench/sentiment.py` (plain, left to right) for a few
epochs, evaluating often, and logs, at each evaluation, more than `fit` does:

    accuracy        on the held-out reviews, at the usual 0.5 threshold
    pos_share       share of held-out reviews predicted positive (0.5 is the truth)
    auc             ranking quality, blind to where the threshold lies
    best_accuracy   accuracy at the best threshold for these weights (an oracle:
                    how much of `accuracy`'s swing is the threshold's)
    recent_pos      share of positive labels in the batches since the last evaluation
    recent_len      their mean length in tokens

    python -m bench.imdb_swings [--epochs 2] [--eval-every 22] [--split-seed 1]
        [--seed 1] [--no-bucket] [--lr 0.002] [--log FILE]

One JSON record per evaluation goes to --log (and stdout); the last line printed
is a summary: how accuracy goes with the imbalance of the predictions (|pos_share -
0.5|), how its changes go with the oracle's, and pos_share with recent_pos and
recent_len, with the spread of accuracy and of best_accuracy over the second half.
SEQCLI_CORPORA overrides the corpora folder (default: ../shared/corpora).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcli.outputs import append_line  # noqa: E402 - after the path


def auc(labels: list[int], scores: list[float]) -> float:
    """Area under the ROC curve: P(a positive scores above a negative), by ranks."""
    ranked = sorted(range(len(scores)), key=lambda i: scores[i])
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(rank + 1 for rank, i in enumerate(ranked) if labels[i] == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def best_threshold_accuracy(labels: list[int], scores: list[float]) -> float:
    """The highest accuracy any threshold on `scores` gives (an oracle)."""
    pairs = sorted(zip(scores, labels, strict=True))
    correct = sum(labels)  # threshold below everything: all predicted positive
    best = correct
    for _, label in pairs:  # move one review at a time to the negative side
        correct += -1 if label == 1 else 1
        best = max(best, correct)
    return best / len(labels)


def correlation(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 3 or statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
        return float("nan")
    return statistics.correlation(xs, ys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=22)
    parser.add_argument("--split-seed", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--no-bucket", action="store_true")
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()

    import torch

    from bench.sentiment import imdb_settings, sentiment_cfg, split_imdb
    from seqcli.runs import prepare
    from seqcli.tasks.sentiment import (
        PREDICT_BATCH,
        _batch_factory,
        build_network,
        predict,
    )
    from seqcli.tasks.sentiment_data import prepare_data
    from seqcli.training import Objective, fit

    with tempfile.TemporaryDirectory(prefix="seqcli-swings-") as tmp:
        files = split_imdb(Path(tmp), seed=args.split_seed, lm_text=False)
        settings = imdb_settings(600, 1, Path(tmp), "swings")
        settings.update(
            {
                "train_path": files["train_path"],
                "valid_path": files["valid_path"],
                "bucket": not args.no_bucket,
                "train.epochs": args.epochs,
                "train.eval_every": args.eval_every,
                "train.early_stop": 0,  # watch the whole run
                "train.plateau_patience": 10**6,  # ... at one lr
                "train.lr": args.lr,
                "train.seed": args.seed,
            }
        )
        cfg = sentiment_cfg(settings)
        device = prepare(cfg.train)
        data = prepare_data(cfg)
    network = build_network(cfg, len(data.vocab), len(data.labels)).to(device)
    positive = data.labels.stoi["1"]
    recent: list[tuple[float, float]] = []  # (positive share, mean length) per batch
    steps = [0]

    def batches(epoch: int, rank: int, world: int) -> Iterator[Any]:
        for batch in _batch_factory(data.train, cfg)(epoch, rank, world):
            share = float((batch.targets == positive).float().mean())
            recent.append((share, float(batch.lengths.float().mean())))
            steps[0] += 1
            yield batch

    records: list[dict[str, float]] = []
    started = time.monotonic()

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        predicted, probs = predict(net, data.valid.ids, batch_size=PREDICT_BATCH)
        labels = [int(y == positive) for y in data.valid.labels]
        scores = [p[positive] for p in probs]
        hits = sum(p == y for p, y in zip(predicted, data.valid.labels, strict=True))
        record = {
            "step": steps[0],
            "minutes": round((time.monotonic() - started) / 60, 2),
            "accuracy": hits / len(labels),
            "pos_share": sum(p == positive for p in predicted) / len(labels),
            "auc": auc(labels, scores),
            "best_accuracy": best_threshold_accuracy(labels, scores),
            "recent_pos": statistics.fmean(s for s, _ in recent) if recent else 0.5,
            "recent_len": statistics.fmean(n for _, n in recent) if recent else 0.0,
        }
        recent.clear()
        records.append(record)
        line = json.dumps({k: round(v, 4) for k, v in record.items()})
        print(line, flush=True)
        if args.log:
            append_line(args.log, line)
        return {"accuracy": record["accuracy"]}

    fit(
        network,
        batches=batches,
        steps_per_epoch=None,
        evaluate=evaluate,
        objective=Objective("accuracy", higher_is_better=True),
        cfg=cfg.train,
        save=lambda kind, state, metrics: None,
    )
    print(json.dumps(summarise(records, args)))


def summarise(records: list[dict[str, float]], args: argparse.Namespace) -> dict:
    def changes(key: str) -> list[float]:
        return [b[key] - a[key] for a, b in itertools.pairwise(records)]

    late = records[len(records) // 2 :]  # past the first steep rise
    return {
        "command": "python -m bench.imdb_swings " + " ".join(sys.argv[1:]),
        "evaluations": len(records),
        "corr_accuracy_pos_imbalance": correlation(
            [r["accuracy"] for r in late], [abs(r["pos_share"] - 0.5) for r in late]
        ),
        "corr_d_accuracy_d_best_accuracy": correlation(
            changes("accuracy"), changes("best_accuracy")
        ),
        "corr_pos_share_recent_pos": correlation(
            [r["pos_share"] for r in records], [r["recent_pos"] for r in records]
        ),
        "corr_pos_share_recent_len": correlation(
            [r["pos_share"] for r in records], [r["recent_len"] for r in records]
        ),
        "late_accuracy_sd": statistics.pstdev(r["accuracy"] for r in late),
        "late_best_accuracy_sd": statistics.pstdev(r["best_accuracy"] for r in late),
        "late_pos_share_range": [
            min(r["pos_share"] for r in late),
            max(r["pos_share"] for r in late),
        ],
    }


if __name__ == "__main__":
    main()
