"""Named-entity recognition: `train_ner`, `predict`, `score`, `load_network`.

A CoNLL-style file gives one token and its tag per line (`ner_data` reads,
checks and encodes it). The tags' scheme (IOB1, IOB2 or BIOES) is detected or
given; the network learns them converted to
`cfg.train_scheme` (BIOES by default: every tag says where its entity starts and
ends), and its predictions are converted back, so they come out in the scheme of
the input. Validation and test scores are conlleval's entity F1, computed on the
tags in the input's scheme (`seqcli.metrics.ner`).

Each word is read three ways (`nn.tagger.Tagger`): its lookup key (lowercased,
digits as 0) in the word vocabulary, its characters (case kept), and its casing
category. Words seen once in training are read as `<unk>` with probability
`cfg.word_dropout` (Lample et al., 2016), so that the network learns what to do
with a word it does not know from its spelling alone.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from seqcli.batching import Batch, bucket_order, pad_tagged
from seqcli.checkpoint import load_checkpoint
from seqcli.config import NerConfig
from seqcli.distill import Teaching
from seqcli.distill import describe as describe_teaching
from seqcli.errors import ConfigError
from seqcli.memory import check_fits
from seqcli.metrics.ner import NerReport, conlleval, convert
from seqcli.nn.tagger import Tagger, TaggerEnsemble, scaled_nll
from seqcli.reporting import Reporter, SilentReporter
from seqcli.runs import TaskRun, TrainOutcome, train_task, uncalibrated
from seqcli.tasks.ner_data import (
    Encoded,
    Lexicon,
    NerData,
    Split,
    prepare_data,
)
from seqcli.tasks.ner_distill import teach, unlabeled_sentences
from seqcli.tasks.ner_network import (
    PREDICT_BATCH,
    TASK,
    batch_of,
    build_network,
    load_network,
    stored_vocabs,
)
from seqcli.tasks.transfer import (
    copy_first_layer_inputs,
    pair_lms,
    start_encoder,
    transfer_config,
)
from seqcli.temperature import Calibration, fit_temperature
from seqcli.tokenizers import WordTokenizer
from seqcli.training import Objective
from seqcli.vocab import SPECIALS, UNK_ID, Vocab


# --- prediction and scores -------------------------------------------------------
@dataclass
class Tagged:
    """One sentence's k best tag sequences (tag ids of the training scheme)."""

    paths: list[list[int]]
    scores: list[float]
    probs: list[list[float]] | None = None  # per path: P(tag) of each token


def predict(
    network: Tagger | TaggerEnsemble,
    encoded: Encoded,
    *,
    batch_size: int = PREDICT_BATCH,
    k: int = 1,
    probs: bool = False,
    temperature: float = 1.0,
) -> list[Tagged]:
    """The k best tag sequences of every sentence, in input order.

    Sentences are batched by length; with `probs` each token's marginal
    probability of its tag in each path is added (forward-backward for a CRF),
    with the scores divided by `temperature` (a calibrated model's T).
    """
    device = next(network.parameters()).device
    out: list[Tagged | None] = [None] * len(encoded.words)
    order = bucket_order([len(s) for s in encoded.words], batch_size, shuffle=False)
    was_training = network.training
    network.eval()
    with torch.no_grad():
        for rows in order:
            batch = batch_of(encoded, rows).to(device)
            best = network.decode(batch, k=k)
            marg = None
            if probs:
                marg = network.marginals(batch, temperature=temperature).cpu()
            for row, pos in enumerate(rows):
                scores = [score for score, _ in best[row]]
                paths = [list(path) for _, path in best[row]]
                tagged = Tagged(paths, scores)
                if marg is not None:
                    tagged.probs = [
                        [float(marg[row, i, t]) for i, t in enumerate(p)] for p in paths
                    ]
                out[pos] = tagged
    network.train(was_training)
    return out  # type: ignore[return-value]


def to_scheme(ids: Sequence[int], labels: Vocab, source: str, target: str) -> list[str]:
    """Tag ids of the training scheme -> tag strings of the input's scheme."""
    return convert([labels.itos[i] for i in ids], source, target)


def score(
    network: Tagger,
    split: Split,
    data_labels: Vocab,
    train_scheme: str,
    scheme: str,
    *,
    batch_size: int = PREDICT_BATCH,
) -> NerReport:
    """conlleval's report of the network's best paths against the gold tags."""
    tagged = predict(network, split.encoded, batch_size=batch_size)
    predicted = [
        to_scheme(t.paths[0], data_labels, train_scheme, scheme) for t in tagged
    ]
    return conlleval(zip(split.gold, predicted, strict=True))


def summary_metrics(report: NerReport) -> dict[str, float]:
    o = report.overall
    return {
        "f1": o.f1,
        "precision": o.precision,
        "recall": o.recall,
        "accuracy": report.accuracy,
    }


# --- training ------------------------------------------------------------------------
def setup(
    cfg: NerConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TaskRun:
    """Data, network and metrics of a tagger run (see `runs.train_task`).

    A resumed run reuses its snapshot's vocabularies (and applies neither
    `init_from` nor `embeddings` again).
    """
    reporter = reporter or SilentReporter()
    lm = None
    if cfg.init_from_backward and not cfg.init_from:
        raise ConfigError("--init-from-backward needs a forward LM: --init-from")
    given: dict[str, Any] = {}
    if resume is not None:
        given = stored_vocabs(resume)
    elif cfg.init_from:
        lm = load_checkpoint(cfg.init_from, task="lm", command="--init-from")
        cfg = transfer_config(cfg, lm)
        if cfg.init_from_backward:
            lm, cfg = _with_backward_lm(lm, cfg)
        given = {"lm_vocab": Vocab.from_list(lm["vocab"]["tokens"])}
    # Refused from the config alone, before the data are read (the smallest
    # vocabularies the network could have); then exactly, before it is built.
    fits = {"optimizer": cfg.train.optimizer, "device": device}
    one_label = Vocab(["O"], specials=False)
    tiny = len(SPECIALS)
    check_fits(
        lambda: build_network(cfg, tiny, tiny, one_label), **fits, lower_bound=True
    )
    silver = unlabeled_sentences(cfg)  # read before the data: checked first
    data = prepare_data(cfg, **given, unlabeled=silver if resume is None else ())
    sizes = (len(data.lexicon.words), len(data.lexicon.chars), data.labels)
    check_fits(lambda: build_network(cfg, *sizes), **fits)
    network = build_network(cfg, *sizes)
    summary = dict(data.summary)
    if resume is None:
        summary.update(
            start_encoder(network.encoder, cfg, data.lexicon.words, lm, reporter)
        )
        if lm is not None:
            copied = copy_first_layer_inputs(network.encoder, lm)
            summary["init_from"]["copied"] += copied
            summary["init_from"]["backward"] = cfg.init_from_backward
            reporter.on_message(
                f"copied the LM's input weights into {', '.join(copied)}: the "
                "columns that read the word embedding (characters and casing "
                "keep random ones)"
            )
    if cfg.freeze_embeddings:
        network.encoder.embedding.weight.requires_grad_(False)
    teaching = None
    if cfg.distill.teachers:
        data.train, teaching = teach(cfg, data, silver, device)
        summary["distill"] = teaching.summary
        reporter.on_message(describe_teaching(teaching))
    return _task_run(cfg, data, network.to(device), summary, teaching)


def _with_backward_lm(
    lm: dict[str, Any], cfg: NerConfig
) -> tuple[dict[str, Any], NerConfig]:
    """--init-from-backward: both LMs as one start, words twice as wide."""
    command = "--init-from-backward"
    backward = load_checkpoint(cfg.init_from_backward, task="lm", command=command)
    source = f"{command} {cfg.init_from_backward}"
    paired = pair_lms(lm, backward, cfg, source=source)
    model = replace(cfg.model, emb_size=2 * cfg.model.emb_size)
    return paired, replace(cfg, model=model)


def _task_run(
    cfg: NerConfig,
    data: NerData,
    network: Tagger,
    summary: dict[str, Any],
    teaching: Teaching | None = None,
) -> TaskRun:
    def metrics_of(split: Split) -> Callable[[Tagger], dict[str, float]]:
        return lambda net: summary_metrics(
            score(net, split, data.labels, cfg.train_scheme, data.scheme)
        )

    return TaskRun(
        task=TASK,
        cfg=cfg,
        network=network,
        batches=_batch_factory(data.train, data.lexicon, cfg, teaching),
        steps_per_epoch=-(-len(data.train) // cfg.train.batch_size),
        evaluate=metrics_of(data.valid),
        objective=Objective("f1", higher_is_better=True),
        vocab={
            "tokens": data.lexicon.words.to_list(),
            "chars": data.lexicon.chars.to_list(),
            "labels": data.labels.to_list(),
        },
        tokenizer=WordTokenizer().to_dict(),
        summary=summary,
        describe=describe_data(data.summary),
        load_network=load_network,
        test_metrics=None if data.test is None else uncalibrated(metrics_of(data.test)),
        calibrate=_calibrator(data.valid) if cfg.calibrate else None,
    )


def _calibrator(valid: Split) -> Callable[[Tagger], dict[str, Any]]:
    """Fits the temperature of a trained tagger on the validation sentences: the
    CRF's whole score (or the softmax's logits) divided by T."""

    def calibrate(network: Tagger) -> dict[str, Any]:
        device = next(network.parameters()).device
        held = []  # (emissions, gold tags, mask) per batch, computed once
        with torch.no_grad():
            lengths = [len(s) for s in valid.tokens]
            for rows in bucket_order(lengths, PREDICT_BATCH, shuffle=False):
                batch = batch_of(valid.encoded, rows, valid.tags).to(device)
                held.append(
                    (network.emissions(batch).float(), batch.targets, batch.mask)
                )

        def nll(t: torch.Tensor) -> torch.Tensor:
            return sum(scaled_nll(e, y, m, network.crf, t) for e, y, m in held)

        return Calibration(fit_temperature(nll)).to_dict()

    return calibrate


def describe_data(summary: dict[str, Any]) -> str:
    counts = ", ".join(
        f"{summary[s]['sentences']:,} {s}"
        for s in ("train", "valid", "test")
        if s in summary
    )
    return (
        f"{counts} sentences; tags {summary['scheme'].upper()}, trained as "
        f"{summary['train_scheme'].upper()} ({summary['labels']} tags); vocabulary "
        f"{summary['vocab_size']:,} words, {summary['chars']:,} characters; "
        f"validation OOV rate {summary['valid_oov_rate']:.2%}"
    )


def train_ner(
    cfg: NerConfig,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """Train a tagger on `cfg.train_path`; returns where the best one was saved."""
    return train_task(setup, cfg, resume=resume, reporter=reporter)


def singletons(split: Split) -> set[int]:
    """Word ids seen once in the training data (the candidates for word dropout)."""
    counts = Counter(i for s in split.encoded.words for i in s)
    return {i for i, n in counts.items() if n == 1 and i != UNK_ID}


def _batch_factory(
    train: Split, lexicon: Lexicon, cfg: NerConfig, teaching: Teaching | None = None
) -> Callable[[int, int, int], Iterator[Batch]]:
    """`fit`'s batches: shuffled each epoch, sentences of similar length together,
    training singletons read as <unk> with probability `cfg.word_dropout`; with
    `teaching`, each row carries its teachers' per-token posteriors."""
    lengths = [len(s) for s in train.tokens]
    once = singletons(train)
    p = cfg.word_dropout

    def batches(epoch: int, rank: int, world: int) -> Iterator[Batch]:
        rng = random.Random(cfg.train.seed * 1000 + epoch)
        order = bucket_order(
            lengths,
            cfg.train.batch_size,
            shuffle=True,
            seed=cfg.train.seed * 1000 + epoch,
        )
        for rows in order[rank::world]:
            words = [
                [
                    UNK_ID if i in once and rng.random() < p else i
                    for i in train.encoded.words[r]
                ]
                for r in rows
            ]
            batch = pad_tagged(
                words,
                [train.encoded.chars[r] for r in rows],
                [train.encoded.casing[r] for r in rows],
                [train.tags[r] for r in rows],
            )
            yield batch if teaching is None else teaching.teach(batch, rows)

    return batches
