"""Text classification: data, `train_sentiment`, `predict`, `load_network`.

A table (TSV, CSV, JSON Lines) gives one text and one label per record. Each text
is tokenised and encoded, batched with texts of similar length, and read by a
`Classifier`; labels are a `Vocab` without specials, stored in the checkpoint.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from seqcli.batching import Batch, bucket_order, pad_batch, shard
from seqcli.checkpoint import (
    build_checked,
    check_buildable,
    load_checkpoint,
    require,
)
from seqcli.config import ClassifyConfig, SentimentConfig, checked_from_dict
from seqcli.devices import dist_info
from seqcli.errors import DataFormatError
from seqcli.fasta import is_fasta, read_fasta, read_labels
from seqcli.metrics.classification import (
    ClassificationReport,
    classification_report,
)
from seqcli.nn.classifier import Classifier
from seqcli.readers import LabeledText, read_table
from seqcli.reporting import Reporter, SilentReporter
from seqcli.runs import TaskRun, TrainOutcome, resume_source, train_task
from seqcli.tasks.transfer import start_encoder, transfer_config
from seqcli.tokenizers import (
    NO_CAPITALS_NOTE,
    Tokenizer,
    adapt_tokenizer,
    build_tokenizer,
    checkpoint_tokenizer,
    describe,
    tokenizer_from_dict,
)
from seqcli.training import Objective
from seqcli.vocab import UNK_ID, Vocab, build_vocab, extend_vocab

TASK = "sentiment"
PREDICT_BATCH = ClassifyConfig().batch_size
# Training batches come in rounds of one batch from each length quarter, so that no
# run of long or short batches sways the classifier before an evaluation
# (batching._deal_by_length).
LENGTH_STRATA = 4


@dataclass
class Examples:
    """Encoded texts and their label ids, in file order."""

    ids: list[list[int]]
    labels: list[int]


@dataclass
class SentimentData:
    tokenizer: Tokenizer
    vocab: Vocab
    labels: Vocab
    train: Examples
    valid: Examples
    test: Examples | None
    summary: dict[str, Any]


# --- data ------------------------------------------------------------------------
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
) -> SentimentData:
    """Read and encode every split; build tokenizer, vocab and labels unless given.

    With `extend`, the training words missing from the given vocab are added.
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
        counts = Counter(tok for t in texts for tok in tokenizer.tokenize(t))
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
            splits[name] = Examples(ids, label_ids(records, labels, paths[name]))
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


# --- training ----------------------------------------------------------------------
def build_network(
    cfg: SentimentConfig,
    vocab_size: int,
    num_classes: int,
    class_weights: list[float] | None = None,
) -> Classifier:
    return Classifier(
        vocab_size,
        num_classes,
        cfg.model,
        pooling=cfg.pooling,
        class_weights=class_weights,
        encoder=cfg.text_encoder,
        position_size=cfg.position_size,
    )


def predict(
    network: Classifier, seqs: Sequence[Sequence[int]], *, batch_size: int
) -> tuple[list[int], list[list[float]]]:
    """Class ids and probabilities of many texts, in their order.

    Texts are batched by length (few pads, short batches stay short); each batch's
    `index` says where its rows go back.
    """
    device = next(network.parameters()).device
    predicted = [0] * len(seqs)
    probs: list[list[float]] = [[] for _ in seqs]
    order = bucket_order([len(s) for s in seqs], batch_size, shuffle=False)
    was_training = network.training
    network.eval()
    with torch.no_grad():
        for rows in order:
            batch = pad_batch([seqs[i] for i in rows], index=rows)
            p = network.logits(batch.to(device)).softmax(dim=-1).cpu()  # (b, classes)
            for row, pos in enumerate(batch.index.tolist()):
                predicted[pos] = int(p[row].argmax())
                probs[pos] = p[row].tolist()
    network.train(was_training)
    return predicted, probs


def score(network: Classifier, ex: Examples, labels: Vocab) -> ClassificationReport:
    predicted, _ = predict(network, ex.ids, batch_size=PREDICT_BATCH)
    return classification_report(ex.labels, predicted, labels.itos)


def _summary_metrics(report: ClassificationReport) -> dict[str, float]:
    return {"accuracy": report.accuracy, "macro_f1": report.macro_f1}


def setup(
    cfg: SentimentConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TaskRun:
    """Data, network and metrics of a classifier run (see `runs.train_task`).

    A resumed run reuses its snapshot's vocabularies and tokenizer (and applies
    neither `init_from` nor `embeddings` again).
    """
    reporter = reporter or SilentReporter()
    cfg, lm, given = _starting_point(cfg, resume)
    data = prepare_data(cfg, **given, extend=lm is not None and cfg.extend_vocab)
    if not cfg.valid_path:
        reporter.on_message(
            f"no --valid file: holding out {len(data.valid.ids):,} training examples "
            f"({cfg.valid_fraction:.0%}, every label in proportion) for validation"
        )
    weights = None
    if cfg.class_weights == "auto":
        weights = auto_class_weights(data.train.labels, len(data.labels))
    network = build_network(cfg, len(data.vocab), len(data.labels), weights)
    summary = dict(data.summary)
    if data.tokenizer.lowercase_detected:
        reporter.on_message(NO_CAPITALS_NOTE)
    if resume is None:
        summary.update(start_encoder(network.encoder, cfg, data.vocab, lm, reporter))
    if cfg.freeze_embeddings:
        network.encoder.embedding.weight.requires_grad_(False)
    return _task_run(cfg, data, network.to(device), summary)


def _task_run(
    cfg: SentimentConfig,
    data: SentimentData,
    network: Classifier,
    summary: dict[str, Any],
) -> TaskRun:
    def metrics_of(ex: Examples) -> Callable[[Classifier], dict[str, float]]:
        return lambda net: _summary_metrics(score(net, ex, data.labels))

    world = dist_info()[1]  # each process takes batches of its own (batching.shard)
    return TaskRun(
        task=TASK,
        cfg=cfg,
        network=network,
        batches=_batch_factory(data.train, cfg),
        steps_per_epoch=-(-len(data.train.ids) // (cfg.train.batch_size * world)),
        evaluate=metrics_of(data.valid),
        objective=Objective(cfg.select_metric, higher_is_better=True),
        vocab={"tokens": data.vocab.to_list(), "labels": data.labels.to_list()},
        tokenizer=data.tokenizer.to_dict(),
        summary=summary,
        describe=describe_data(data.summary),
        load_network=load_network,
        test_metrics=None if data.test is None else metrics_of(data.test),
    )


def describe_data(summary: dict[str, Any]) -> str:
    """One line: examples per split, labels with their training counts, vocabulary
    size and the validation OOV rate (what `train-lm` says of its corpus)."""
    counts = ", ".join(
        f"{summary[split]['examples']:,} {split}"
        for split in ("train", "valid", "test")
        if split in summary
    )
    labels = ", ".join(f"{k} {v:,}" for k, v in summary["train"]["labels"].items())
    return (
        f"{counts} examples; labels {labels}; vocabulary {summary['vocab_size']:,} "
        f"entries; validation OOV rate {summary['valid_oov_rate']:.2%}"
    )


def train_sentiment(
    cfg: SentimentConfig,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """Train a classifier on `cfg.train_path`; returns where the best one was saved.

    Args:
        cfg: the resolved configuration.
        resume: a loaded resume snapshot; its vocabulary, labels and tokenizer are
            reused (and `init_from`/`embeddings` are not applied again).
    """
    return train_task(setup, cfg, resume=resume, reporter=reporter)


def _starting_point(
    cfg: SentimentConfig, resume: dict[str, Any] | None
) -> tuple[SentimentConfig, dict[str, Any] | None, dict[str, Any]]:
    """(config, LM checkpoint or None, vocabularies given to `prepare_data`).

    A resumed run keeps its snapshot's vocabularies; --init-from takes the LM's
    tokenizer, vocabulary and layer sizes; otherwise everything is built anew.
    """
    if resume is not None:  # a snapshot is checked as a checkpoint is, first
        check_network(resume, source=resume_source(cfg))
        return cfg, None, stored_vocabs(resume)
    if not cfg.init_from:
        return cfg, None, {}
    lm = load_checkpoint(cfg.init_from, task="lm", command="--init-from")
    given = {
        "tokenizer": tokenizer_from_dict(lm["tokenizer"]),
        "vocab": Vocab.from_list(lm["vocab"]["tokens"]),
    }
    return transfer_config(cfg, lm), lm, given


def _batch_factory(
    train: Examples, cfg: SentimentConfig
) -> Callable[[int, int, int], Iterator[Batch]]:
    """`fit`'s batches: shuffled each epoch, texts of similar length together."""
    lengths = [len(s) for s in train.ids]

    def batches(epoch: int, rank: int, world: int) -> Iterator[Batch]:
        order = bucket_order(
            lengths,
            cfg.train.batch_size,
            shuffle=True,
            seed=cfg.train.seed * 1000 + epoch,
            bucket=cfg.bucket,
            strata=LENGTH_STRATA,
        )
        for rows in shard(order, rank, world):
            yield pad_batch(
                [train.ids[i] for i in rows], targets=[train.labels[i] for i in rows]
            )

    return batches


def stored_vocabs(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "tokenizer": checkpoint_tokenizer(snapshot),
        "vocab": Vocab.from_list(snapshot["vocab"]["tokens"]),
        "labels": Vocab.from_list(snapshot["vocab"]["labels"], specials=False),
    }


# --- loading a trained model ----------------------------------------------------
def load_network(data: dict[str, Any], *, source: str = "checkpoint") -> Classifier:
    """The classifier of a loaded checkpoint, its weights in place.

    Only the sizes of the stored vocabularies are needed here, so neither they nor
    the tokenizer are rebuilt (`load_classifier` builds them once, for reading text).
    """
    return build_checked(
        _stored_builder(data, source=source), data["state_dict"], source=source
    )


def check_network(data: dict[str, Any], *, source: str) -> None:
    """Refuse a checkpoint whose stored config is invalid or does not describe its
    stored weights, allocating nothing (a forged huge network is never built)."""
    check_buildable(
        _stored_builder(data, source=source), data["state_dict"], source=source
    )


def _stored_builder(data: dict[str, Any], *, source: str) -> Callable[[], Classifier]:
    """A function building the network the stored config describes, once checked."""
    cfg = checked_from_dict(SentimentConfig, data["config"], source=f"{source}: config")
    vocab_size = len(data["vocab"]["tokens"])
    classes = len(require(data, "vocab.labels", list, source=source))
    return lambda: build_network(cfg, vocab_size, classes)
