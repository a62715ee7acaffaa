"""Raw text benchmark: an SST-2 classifier asked to label raw, cased sentences.

SST-2's text is lowercased and PTB-tokenised (`it 's a good film .`); users type
`It's a good film.`. This trains one classifier on SST-2 (the default bi-LSTM, a
few minutes) and scores three test sets with it:

- the SST-2 test sentences as they are;
- the same sentences made raw: PTB splits undone (`ptb_join`), `-lrb-`/`-rrb-`
  and the `` '' quotes written as ( ) and ", `i` and sentence starts capitalised;
- that raw text read as checkpoints were read before the tokenizer recorded its
  normalisation (whitespace split, case kept): what `classify` did until then.

    .venv/bin/python -m bench.rawtext [--minutes 2] [--seed 1] [--keep DIR]

The last line printed is one JSON object holding every figure. SEQCLI_CORPORA
overrides the corpora folder (default: ../shared/corpora).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcli.treebank import ptb_join  # noqa: E402  (after the path is set)

QUOTES = {"-lrb-": "(", "-rrb-": ")", "``": '"', "''": '"'}


def corpora_dir() -> Path:
    default = ROOT.parent / "shared" / "corpora"
    return Path(os.environ.get("SEQCLI_CORPORA", default))


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def raw_text(tokenized: str) -> str:
    """An SST sentence as a person would type it."""
    text = ptb_join(QUOTES.get(t, t) for t in tokenized.split())
    text = re.sub(r"\bi\b", "I", text)
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m[1] + m[2].upper(), text)


def accuracy(model, texts: list[str], labels: list[str]) -> float:  # noqa: ANN001
    from seqcli.tasks.sentiment_inference import classify

    predicted = classify(model, texts).labels
    return round(
        sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels), 4
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="folder for the model")
    args = parser.parse_args()

    from dataclasses import replace

    from seqcli.config import SentimentConfig, load_config
    from seqcli.readers import read_table
    from seqcli.tasks.sentiment import train_sentiment
    from seqcli.tasks.sentiment_inference import load_classifier
    from seqcli.tokenizers import tokenizer_from_dict

    sst = corpora_dir() / "sentiment" / "sst2"
    folder = args.keep or Path(tempfile.mkdtemp(prefix="rawtext-"))
    cfg = load_config(
        SentimentConfig,
        None,
        {
            "train_path": str(sst / "train.tsv"),
            "valid_path": str(sst / "valid.tsv"),
            "out": str(folder / "sst2.pt"),
            "train.max_time": args.minutes,
            "train.seed": args.seed,
        },
    )
    log(f"training on {cfg.train_path} for at most {args.minutes} min")
    start = time.monotonic()
    outcome = train_sentiment(cfg)
    train_min = (time.monotonic() - start) / 60
    model = load_classifier(outcome.path)
    records = list(read_table(str(sst / "test.tsv")))
    labels = [r.label for r in records]
    tokenized = [r.text for r in records]
    raw = [raw_text(t) for t in tokenized]
    # Read as before: the tokenizer dict of a checkpoint from before the change.
    before = replace(model, tokenizer=tokenizer_from_dict({"kind": "word"}))
    result = {
        "model": str(outcome.path),
        "train_minutes": round(train_min, 2),
        "epochs": outcome.epochs,
        # seqcli's scores are percentages; this file keeps fractions (0-1).
        "valid_accuracy": outcome.metrics["valid"]["accuracy"] / 100,
        "tokenizer": model.tokenizer.to_dict(),
        "test_tokenized": accuracy(model, tokenized, labels),
        "test_raw": accuracy(model, raw, labels),
        "test_raw_read_as_before": accuracy(before, raw, labels),
        "raw_example": raw[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
