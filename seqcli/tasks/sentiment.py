"""Text classification: `train_sentiment`, `predict`, `load_network`.

A table (TSV, CSV, JSON Lines) gives one text and one label per record
(`sentiment_data` reads and encodes it). Each text is batched with texts of similar
length and read by a `Classifier`; labels are a `Vocab` without specials, stored in
the checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
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
from seqcli.distill import (
    Teaching,
    average,
    label_columns,
    read_unlabeled,
    teaching_of,
)
from seqcli.distill import describe as describe_teaching
from seqcli.memory import check_fits
from seqcli.metrics.classification import (
    ClassificationReport,
    classification_report,
)
from seqcli.nn.classifier import Classifier
from seqcli.reporting import Reporter, SilentReporter
from seqcli.runs import TaskRun, TrainOutcome, resume_source, train_task
from seqcli.tasks.sentiment_data import (
    Examples,
    SentimentData,
    auto_class_weights,
    encode_texts,
    prepare_data,
)
from seqcli.tasks.transfer import start_encoder, transfer_config
from seqcli.temperature import (
    UNCALIBRATED,
    Calibration,
    calibrated_logits,
    fit_binary_logits,
    fit_logits,
)
from seqcli.tokenizers import (
    NO_CAPITALS_NOTE,
    checkpoint_tokenizer,
    tokenizer_from_dict,
)
from seqcli.training import Objective
from seqcli.vocab import SPECIALS, Vocab

TASK = "sentiment"
PREDICT_BATCH = ClassifyConfig().batch_size
# Training batches come in rounds of one batch from each length quarter, so that no
# run of long or short batches sways the classifier before an evaluation
# (batching._deal_by_length).
LENGTH_STRATA = 4


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
    network: Classifier,
    seqs: Sequence[Sequence[int]],
    *,
    batch_size: int,
    temperature: float = 1.0,
    bias: float = 0.0,
) -> tuple[list[int], list[list[float]]]:
    """Class ids and probabilities of many texts, in their order; the logits are
    divided by `temperature` (a calibrated model's T, or a teacher's softening)
    and a two-class model's `bias` is added to its second class's before the
    softmax (`temperature.calibrated_logits`)."""
    logits = predict_logits(network, seqs, batch_size=batch_size)
    probs = calibrated_logits(logits, temperature, bias).softmax(dim=-1)
    return probs.argmax(dim=-1).tolist(), probs.tolist()  # probs: (texts, classes)


def predict_logits(
    network: Classifier, seqs: Sequence[Sequence[int]], *, batch_size: int
) -> torch.Tensor:
    """(texts, classes) logits of many texts, in their order, on the CPU.

    Texts are batched by length (few pads, short batches stay short); each batch's
    `index` says where its rows go back.
    """
    device = next(network.parameters()).device
    logits = torch.zeros(len(seqs), network.output.out_features)
    order = bucket_order([len(s) for s in seqs], batch_size, shuffle=False)
    was_training = network.training
    network.eval()
    with torch.no_grad():
        for rows in order:
            batch = pad_batch([seqs[i] for i in rows], index=rows)
            logits[batch.index] = network.logits(batch.to(device)).float().cpu()
    network.train(was_training)
    return logits


def score(
    network: Classifier,
    ex: Examples,
    labels: Vocab,
    calibration: Calibration = UNCALIBRATED,
) -> ClassificationReport:
    predicted, _ = predict(
        network,
        ex.ids,
        batch_size=PREDICT_BATCH,
        temperature=calibration.temperature,
        bias=calibration.bias,
    )
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
    # Refused from the config alone, before the data are read (the smallest
    # vocabulary, two classes); then exactly, before the network is built.
    fits = {"optimizer": cfg.train.optimizer, "device": device}
    check_fits(lambda: build_network(cfg, len(SPECIALS), 2), **fits, lower_bound=True)
    unlabeled = cfg.distill.unlabeled_path  # read before the data: checked first
    silver = read_unlabeled(unlabeled) if unlabeled else []
    data = prepare_data(
        cfg,
        **given,
        extend=lm is not None and cfg.extend_vocab,
        unlabeled=silver if resume is None else (),
    )
    if not cfg.valid_path:
        reporter.on_message(
            f"no --valid file: holding out {len(data.valid.ids):,} training examples "
            f"({cfg.valid_fraction:.0%}, every label in proportion) for validation"
        )
    weights = None
    if cfg.class_weights == "auto":
        weights = auto_class_weights(data.train.labels, len(data.labels))
    check_fits(lambda: build_network(cfg, len(data.vocab), len(data.labels)), **fits)
    network = build_network(cfg, len(data.vocab), len(data.labels), weights)
    summary = dict(data.summary)
    if data.tokenizer.lowercase_detected:
        reporter.on_message(NO_CAPITALS_NOTE)
    if resume is None:
        summary.update(start_encoder(network.encoder, cfg, data.vocab, lm, reporter))
    if cfg.freeze_embeddings:
        network.encoder.embedding.weight.requires_grad_(False)
    teaching = None
    if cfg.distill.teachers:
        data.train, teaching = _teach(cfg, data, silver, device)
        summary["distill"] = teaching.summary
        reporter.on_message(describe_teaching(teaching))
    return _task_run(cfg, data, network.to(device), summary, teaching)


def _task_run(
    cfg: SentimentConfig,
    data: SentimentData,
    network: Classifier,
    summary: dict[str, Any],
    teaching: Teaching | None = None,
) -> TaskRun:
    def metrics_of(ex: Examples) -> Callable[[Classifier], dict[str, float]]:
        return lambda net: _summary_metrics(score(net, ex, data.labels))

    world = dist_info()[1]  # each process takes batches of its own (batching.shard)
    return TaskRun(
        task=TASK,
        cfg=cfg,
        network=network,
        batches=_batch_factory(data.train, cfg, teaching),
        steps_per_epoch=-(-len(data.train.ids) // (cfg.train.batch_size * world)),
        evaluate=metrics_of(data.valid),
        objective=Objective(cfg.select_metric, higher_is_better=True),
        vocab={"tokens": data.vocab.to_list(), "labels": data.labels.to_list()},
        tokenizer=data.tokenizer.to_dict(),
        summary=summary,
        describe=describe_data(data.summary),
        load_network=load_network,
        test_metrics=None if data.test is None else _test_metrics(data.test, data),
        calibrate=_calibrator(data.valid) if _calibrates(cfg) else None,
    )


def _test_metrics(
    ex: Examples, data: SentimentData
) -> Callable[[Classifier, Calibration], dict[str, float]]:
    """The best classifier's test metrics as `classify` and `evaluate` decide:
    with its stored calibration (a two-class model's bias moves its decisions)."""
    return lambda net, calibration: _summary_metrics(
        score(net, ex, data.labels, calibration)
    )


def _calibrates(cfg: SentimentConfig) -> bool:
    """--calibrate, or by default whenever a validation file is given."""
    return bool(cfg.valid_path) if cfg.calibrate is None else cfg.calibrate


def _calibrator(valid: Examples) -> Callable[[Classifier], dict[str, Any]]:
    """Fits the temperature of a trained classifier on the validation texts, and
    a two-class one's decision bias with it (`temperature.fit_binary_logits`)."""

    def calibrate(network: Classifier) -> dict[str, Any]:
        logits = predict_logits(network, valid.ids, batch_size=PREDICT_BATCH)
        fit = fit_binary_logits if logits.size(-1) == 2 else fit_logits
        return fit(logits, torch.tensor(valid.labels)).to_dict()

    return calibrate


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
    train: Examples, cfg: SentimentConfig, teaching: Teaching | None = None
) -> Callable[[int, int, int], Iterator[Batch]]:
    """`fit`'s batches: shuffled each epoch, texts of similar length together;
    with `teaching`, each row carries its teachers' probabilities."""
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
            batch = pad_batch(
                [train.ids[i] for i in rows], targets=[train.labels[i] for i in rows]
            )
            yield batch if teaching is None else teaching.teach(batch, rows)

    return batches


# --- distillation ---------------------------------------------------------------
def _teach(
    cfg: SentimentConfig, data: SentimentData, silver: list[str], device: torch.device
) -> tuple[Examples, Teaching]:
    """The training examples (and the unlabeled texts, appended with a placeholder
    label) with each one's teachers' averaged class probabilities.

    Every teacher is checked (its task, its label set) before any labels a text;
    each reads the raw texts with its own tokenizer and vocabulary.
    """
    started = time.monotonic()
    teachers = [_load_teacher(path, data.labels) for path in cfg.distill.teachers]
    texts = [*data.train.texts, *silver]
    per_teacher = []
    for checkpoint, columns in teachers:
        teacher_cfg = checked_from_dict(
            SentimentConfig, checkpoint["config"], source="--teacher: config"
        )
        network = load_network(checkpoint, source="--teacher").to(device)
        stored = stored_vocabs(checkpoint)
        ids = encode_texts(stored["tokenizer"], stored["vocab"], texts, teacher_cfg)
        _, probs = predict(
            network,
            ids,
            batch_size=PREDICT_BATCH,
            temperature=cfg.distill.temperature,
        )
        per_teacher.append([torch.tensor(p)[columns] for p in probs])
        del network
    train = Examples(
        [*data.train.ids, *encode_texts(data.tokenizer, data.vocab, silver, cfg)],
        [*data.train.labels, *[0] * len(silver)],  # silver rows: no gold term
        texts,
    )
    teaching = teaching_of(
        cfg.distill,
        average(per_teacher),
        gold_examples=len(data.train.ids),
        teachers_seconds=time.monotonic() - started,
    )
    return train, teaching


def _load_teacher(path: str, labels: Vocab) -> tuple[dict[str, Any], list[int]]:
    """A teacher's checked checkpoint and, for each label of the student's, the
    teacher's class column holding it."""
    checkpoint = load_checkpoint(path, task=TASK, command="--teacher")
    check_network(checkpoint, source=str(path))
    teacher = require(checkpoint, "vocab.labels", list, source=str(path))
    return checkpoint, label_columns(
        teacher, labels.itos, source=str(path), what="labels"
    )


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
