"""Text classification data: reading labelled tables (or FASTA), labels, encoding.

`prepare_data` reads every split with the configured columns, builds (or adapts)
the tokenizer, the vocabulary and the label set, and encodes the texts; a missing
validation file is replaced by a stratified, seeded share of the training records
(`hold_out`). `tasks.sentiment` trains on what it returns.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from seqcli.config import SentimentConfig
from seqcli.errors import DataFormatError
from seqcli.fasta import is_fasta, read_fasta, read_labels
from seqcli.readers import LabeledText, read_table
from seqcli.tokenizers import (
    Tokenizer,
    adapt_tokenizer,
    build_tokenizer,
    describe,
)
from seqcli.vocab import UNK_ID, Vocab, build_vocab, extend_vocab


@dataclass
class Examples:
    """Encoded texts and their label ids, in file order."""

    ids: list[list[int]]
    labels: list[int]
    texts: list[str] = field(default_factory=list)  # as read (teachers read them)


@dataclass
class SentimentData:
    tokenizer: Tokenizer
    vocab: Vocab
    labels: Vocab
    train: Examples
    valid: Examples
    test: Examples | None
    summary: dict[str, Any]


def read_split(cfg: SentimentConfig, path: str) -> list[LabeledText]:
    """All records of one labelled file, read with the configured columns (a
    FASTA file: its sequences, labelled by their headers or `cfg.fasta_labels`)."""
    if cfg.data_format == "fasta" or (cfg.data_format == "auto" and is_fasta(path)):
        return read_fasta_split(cfg, path)
    records = list(
        read_table(
            path,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            header=cfg.header,
            fmt=cfg.data_format,
        )
    )
    if not records:
        raise DataFormatError("no labelled examples in the file", path)
    return records


def read_fasta_split(cfg: SentimentConfig, path: str) -> list[LabeledText]:
    labels = read_labels(cfg.fasta_labels) if cfg.fasta_labels else None
    return list(read_fasta(path, labels=labels, labels_name=str(cfg.fasta_labels)))


def encode_texts(
    tokenizer: Tokenizer, vocab: Vocab, texts: Iterable[str], cfg: SentimentConfig
) -> list[list[int]]:
    """Texts -> ids: tokenising (the tokenizer cleans and lowercases as the training
    text was), truncation to max_tokens."""
    limit = cfg.max_tokens or None
    return [vocab.encode(tokenizer.tokenize(t)[:limit]) for t in texts]


def label_ids(records: Sequence[LabeledText], labels: Vocab, path: str) -> list[int]:
    """Label strings -> ids; labels training never saw are an error naming them."""
    unseen = Counter(r.label for r in records if r.label not in labels)
    if unseen:
        first = next(r.lineno for r in records if r.label not in labels)
        which = ", ".join(f"{lab!r} ({n}x)" for lab, n in unseen.most_common(5))
        raise DataFormatError(
            f"{sum(unseen.values())} examples have labels the model was not "
            f"trained on: {which}; known labels: {', '.join(labels.itos)}",
            path,
            first,
        )
    return [labels.stoi[r.label] for r in records]


def build_labels(records: Sequence[LabeledText], path: str) -> Vocab:
    """The label set, numbers in numeric order ("1" .. "10"), others alphabetical."""
    names = sorted({r.label for r in records}, key=_label_key)
    if len(names) < 2:
        raise DataFormatError(
            f"only one label ({names[0]!r}) in the training data; "
            "a classifier needs at least two",
            path,
        )
    return Vocab(names, specials=False)


def _label_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def prepare_data(
    cfg: SentimentConfig,
    *,
    tokenizer: Tokenizer | None = None,
    vocab: Vocab | None = None,
    labels: Vocab | None = None,
    extend: bool = False,
    unlabeled: Sequence[str] = (),
) -> SentimentData:
    """Read and encode every split; build tokenizer, vocab and labels unless given.

    With `extend`, the training words missing from the given vocab are added. The
    words of `unlabeled` texts (which the teachers label) count as training words
    for the vocabulary built here.
    """
    train = read_split(cfg, cfg.train_path)
    if cfg.valid_path:
        valid = read_split(cfg, cfg.valid_path)
    else:
        train, valid = hold_out(train, cfg.valid_fraction, seed=cfg.train.seed)
    test = read_split(cfg, cfg.test_path) if cfg.test_path else None
    texts = [r.text for r in train]
    if tokenizer is None:
        tokenizer = build_tokenizer(cfg.tokenizer, texts, clean=cfg.clean)
    else:  # an LM's (or a resumed run's): read this task's text as it needs
        tokenizer = adapt_tokenizer(tokenizer, cfg.tokenizer, texts, clean=cfg.clean)
    if vocab is None or extend:
        counts = Counter(
            tok for t in [*texts, *unlabeled] for tok in tokenizer.tokenize(t)
        )
        min_freq = cfg.tokenizer.min_freq
        if vocab is None:
            vocab = build_vocab(
                counts, min_freq=min_freq, max_size=cfg.tokenizer.max_size
            )
        else:  # an LM's vocabulary, and the training words it lacks
            vocab = extend_vocab(vocab, counts, min_freq=min_freq)
    labels = labels or build_labels(train, cfg.train_path)

    held_out = f"{cfg.valid_fraction:.0%} of {cfg.train_path}, stratified"
    valid_path = cfg.valid_path or held_out
    paths = {"train": cfg.train_path, "valid": valid_path, "test": cfg.test_path}
    splits: dict[str, Examples] = {}
    for name, records in (("train", train), ("valid", valid), ("test", test)):
        if records is not None:
            ids = encode_texts(tokenizer, vocab, (r.text for r in records), cfg)
            splits[name] = Examples(
                ids,
                label_ids(records, labels, paths[name]),
                [r.text for r in records],
            )
    summary: dict[str, Any] = {
        name: _describe(paths[name], ex, labels) for name, ex in splits.items()
    }
    summary["vocab_size"] = len(vocab)
    valid_ids = [i for ids in splits["valid"].ids for i in ids]
    summary["valid_oov_rate"] = valid_ids.count(UNK_ID) / max(len(valid_ids), 1)
    summary["tokenizer"] = describe(tokenizer)
    return SentimentData(
        tokenizer,
        vocab,
        labels,
        splits["train"],
        splits["valid"],
        splits.get("test"),
        summary,
    )


def hold_out(
    records: list[LabeledText], fraction: float, *, seed: int
) -> tuple[list[LabeledText], list[LabeledText]]:
    """(train, valid): a seeded `fraction` of each label's records, at least one
    of every label that has two or more, for validation; both keep file order."""
    by_label: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        by_label.setdefault(record.label, []).append(i)
    rng = random.Random(seed)
    chosen: set[int] = set()
    for label in sorted(by_label):
        rows = by_label[label]
        if len(rows) < 2:
            continue  # training needs its only example
        n = min(len(rows) - 1, max(1, round(len(rows) * fraction)))
        chosen.update(rng.sample(rows, n))
    train = [r for i, r in enumerate(records) if i not in chosen]
    valid = [r for i, r in enumerate(records) if i in chosen]
    return train, valid


def _describe(path: str | None, ex: Examples, labels: Vocab) -> dict[str, Any]:
    counts = Counter(ex.labels)
    return {
        "path": str(path),
        "examples": len(ex.ids),
        "tokens": sum(len(s) for s in ex.ids),
        "labels": {labels.itos[i]: counts[i] for i in range(len(labels))},
    }


def auto_class_weights(labels: Sequence[int], num_classes: int) -> list[float]:
    """n / (classes * count): each class weighs as much in the loss as a balanced
    data set would give it (scikit-learn's "balanced")."""
    counts = Counter(labels)
    return [len(labels) / (num_classes * max(counts[c], 1)) for c in range(num_classes)]
