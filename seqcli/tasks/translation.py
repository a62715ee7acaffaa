"""Translation: `train_translation`, batched decoding, `load_network`.

Parallel text is read, tokenised and encoded by `translation_data`, and batched
by target tokens over pairs of similar length. A `Seq2Seq` network learns
P(y | x); validation scores its loss, perplexity and the BLEU of its greedy
translations; after training, a temperature is fitted on the validation
references (`translation_calibration`). Using a trained model (beam search,
n-best, error analysis) is in `translation_inference`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from seqcli.batching import (
    Batch,
    bucket_order,
    pad_batch,
    pad_parallel,
    shard,
    token_batches,
)
from seqcli.checkpoint import load_weights
from seqcli.config import TranslationConfig, from_dict
from seqcli.decoding import Hypothesis, beam_search
from seqcli.errors import ConfigError
from seqcli.memory import check_fits
from seqcli.metrics.translation import BleuOptions, corpus_scores
from seqcli.nn.seq2seq import Seq2Seq
from seqcli.readers import SentencePair
from seqcli.reporting import Reporter, SilentReporter
from seqcli.runs import TaskRun, TrainOutcome, train_task, uncalibrated
from seqcli.tasks.translation_calibration import fit_on_references
from seqcli.tasks.translation_data import (
    Split,
    TranslationData,
    describe_data,
    prepare_data,
)
from seqcli.tokenizers import Tokenizer, tokenizer_from_dict
from seqcli.training import Objective
from seqcli.vocab import BOS_ID, PAD_ID, SPECIALS, Vocab

TASK = "translation"
EVAL_BATCH = 64  # sentences per validation batch (greedy decoding, loss)


# --- network and batches -------------------------------------------------------
def build_network(
    cfg: TranslationConfig, src_vocab_size: int, tgt_vocab_size: int
) -> Seq2Seq:
    return Seq2Seq(
        src_vocab_size,
        tgt_vocab_size,
        cfg.model,
        attention=cfg.attention,
        input_feeding=cfg.input_feeding,
        tie_embeddings=cfg.tie_embeddings,
        label_smoothing=cfg.label_smoothing,
    )


def _batch_factory(
    train: Split, cfg: TranslationConfig
) -> Callable[[int, int, int], Iterator[Batch]]:
    """`fit`'s batches: pairs of similar length, about `batch_tokens` targets each."""
    src_lengths = [len(s) for s in train.src]
    tgt_lengths = [len(t) for t in train.tgt]

    def batches(epoch: int, rank: int, world: int) -> Iterator[Batch]:
        order = token_batches(
            src_lengths,
            tgt_lengths,
            cfg.batch_tokens,
            shuffle=True,
            seed=cfg.train.seed * 1000 + epoch,
        )
        for rows in shard(order, rank, world):
            yield pad_parallel(
                [train.src[i] for i in rows], [train.tgt[i] for i in rows]
            )

    return batches


# --- decoding ----------------------------------------------------------------------
def decode_ids(
    network: Seq2Seq,
    sources: Sequence[Sequence[int]],
    *,
    beam: int = 1,
    alpha: float = 0.0,
    max_len_ratio: float = 2.0,
    min_len: int = 0,
    n_best: int = 1,
    batch_size: int = EVAL_BATCH,
) -> list[list[Hypothesis]]:
    """The `n_best` hypotheses of each source, best first, in input order.

    Sentences of similar length are decoded together: one batched beam search per
    batch, at most `batch_size` sentences x `beam` rows per step. An empty source
    gets one empty hypothesis without a search.
    """
    device = next(network.parameters()).device
    results: list[list[Hypothesis]] = [
        [Hypothesis([], 0.0, 0.0)] for _ in range(len(sources))
    ]
    todo = [i for i, s in enumerate(sources) if s]
    # Batches of equal size (200 sentences at 64: 4 x 50, not 3 x 64 + 8): a
    # batch's rows go through the network together, and a small last batch would
    # pay a whole step's fixed costs for a few rows.
    size = math.ceil(len(todo) / max(1, math.ceil(len(todo) / batch_size)))
    order = bucket_order([len(sources[i]) for i in todo], max(1, size), shuffle=False)
    was_training = network.training
    network.eval()
    with torch.inference_mode():
        for rows in order:
            index = [todo[r] for r in rows]
            batch = pad_batch([sources[i] for i in index])
            state = network.start(batch.ids.to(device), batch.lengths)
            found = beam_search(
                network,
                state,
                torch.full((len(index),), BOS_ID, dtype=torch.long, device=device),
                beam_size=beam,
                max_len=[max_output_len(len(sources[i]), max_len_ratio) for i in index],
                min_len=min_len,
                alpha=alpha,
                n_best=n_best,
                banned_ids=(PAD_ID, BOS_ID),
            )
            for i, hyps in zip(index, found, strict=True):
                results[i] = hyps
    network.train(was_training)
    return results


# Output tokens allowed beyond ratio x source length, `<eos>` included.
OUTPUT_SLACK = 10


def max_output_len(src_len: int, ratio: float) -> int:
    """Output tokens allowed, `<eos>` included: ratio x source length + 10."""
    return max(1, math.ceil(ratio * src_len)) + OUTPUT_SLACK


def detokenize(tokenizer: Tokenizer, vocab: Vocab, ids: Sequence[int]) -> str:
    return tokenizer.detokenize(vocab.decode(ids))


def split_nll(network: Seq2Seq, split: Split) -> dict[str, float]:
    """Mean negative log-likelihood per target token (`<eos>` included) and its
    perplexity, without label smoothing."""
    device = next(network.parameters()).device
    total, count = 0.0, 0
    rows = [i for i, s in enumerate(split.src) if s]
    with torch.no_grad():
        for chunk in bucket_order(
            [len(split.tgt[i]) for i in rows], EVAL_BATCH, shuffle=False
        ):
            index = [rows[r] for r in chunk]
            batch = pad_parallel(
                [split.src[i] for i in index], [split.tgt[i] for i in index]
            )
            total -= float(network.sequence_log_probs(batch.to(device)).sum())
            count += int((batch.targets != PAD_ID).sum())
    loss = total / max(count, 1)
    return {"loss": loss, "ppl": math.exp(min(loss, 700))}


def split_metrics(
    network: Seq2Seq,
    split: Split,
    data: TranslationData,
    *,
    lowercase: bool,
    show: int = 0,
    reporter: Reporter | None = None,
) -> dict[str, float]:
    """Loss, perplexity and greedy BLEU of a split; `show` examples to `reporter`."""
    metrics = split_nll(network, split)
    hyps = decode_ids(network, split.src, beam=1)
    outputs = [detokenize(data.tgt_tokenizer, data.tgt_vocab, h[0].ids) for h in hyps]
    (bleu,) = corpus_scores(
        outputs, [split.references], options=BleuOptions(lowercase=lowercase)
    )
    metrics["bleu"] = bleu.score
    if reporter is not None:
        for i in _examples(len(outputs), show):
            reporter.on_message(
                f"  src: {split.src_text[i]}\n  ref: {split.references[i]}\n"
                f"  out: {outputs[i]}"
            )
    return metrics


def _examples(n: int, show: int) -> list[int]:
    """`show` validation sentences spread over the set, the same at every evaluation."""
    if show <= 0 or n == 0:
        return []
    return sorted({round(k * (n - 1) / max(1, show)) for k in range(show)})


# --- training ----------------------------------------------------------------------
def setup(
    cfg: TranslationConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    train_pairs: Sequence[SentencePair] | None = None,
) -> TaskRun:
    """Data, network and metrics of a translation run (see `runs.train_task`).

    A resumed run reuses its snapshot's tokenizers and vocabularies. A distilled
    run trains on `train_pairs`, its teachers' translations (see
    `translation_distill`, which checks the teachers).
    """
    reporter = reporter or SilentReporter()
    given: dict[str, Any] = {} if resume is None else stored_vocabs(resume)
    if train_pairs is not None:
        given["train_pairs"] = train_pairs
    # Refused from the config alone, before the data are read (the smallest
    # vocabularies); then exactly, before the network is built.
    fits = {"optimizer": cfg.train.optimizer, "device": device}
    tiny = len(SPECIALS)
    check_fits(lambda: build_network(cfg, tiny, tiny), **fits, lower_bound=True)
    data = prepare_data(cfg, **given)
    sizes = (len(data.src_vocab), len(data.tgt_vocab))
    check_fits(lambda: build_network(cfg, *sizes), **fits)
    network = build_network(cfg, *sizes).to(device)
    lowercase = cfg.tokenizer.lowercase

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        return split_metrics(
            net,  # type: ignore[arg-type]
            data.valid,
            data,
            lowercase=lowercase,
            show=cfg.show_examples,
            reporter=reporter,
        )

    test = data.test
    steps = len(
        token_batches(
            [len(s) for s in data.train.src],
            [len(t) for t in data.train.tgt],
            cfg.batch_tokens,
            shuffle=False,
        )
    )
    return TaskRun(
        task=TASK,
        cfg=cfg,
        network=network,
        batches=_batch_factory(data.train, cfg),
        steps_per_epoch=steps,
        evaluate=evaluate,
        objective=Objective(cfg.select, higher_is_better=cfg.select == "bleu"),
        vocab={"src": data.src_vocab.to_list(), "tgt": data.tgt_vocab.to_list()},
        tokenizer=tokenizers_dict(data.src_tokenizer, data.tgt_tokenizer),
        summary=data.summary,
        describe=describe_data(data.summary, cfg.max_len),
        load_network=load_network,
        test_metrics=None
        if test is None
        else uncalibrated(
            lambda best: split_metrics(best, test, data, lowercase=lowercase)
        ),
        calibrate=_calibrator(data.valid) if cfg.calibrate else None,
    )


def _calibrator(valid: Split) -> Callable[[Seq2Seq], dict[str, Any]]:
    """Fits a trained model's temperature on the validation references' tokens
    (`translation_calibration.fit_on_references`)."""
    return lambda network: fit_on_references(network, valid).to_dict()


def train_translation(
    cfg: TranslationConfig,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """Train a translation model; returns where the best one was saved.

    A run with teachers (`cfg.teachers`) is `translation_distill.train_distilled`'s:
    it translates the training source first.

    Raises:
        ConfigError: `cfg.teachers` given here.
    """
    if cfg.teachers:
        raise ConfigError(
            "teachers: a distilled run starts from "
            "seqcli.tasks.translation_distill.train_distilled"
        )
    return train_task(setup, cfg, resume=resume, reporter=reporter)


def tokenizers_dict(src: Tokenizer, tgt: Tokenizer) -> dict[str, Any]:
    """The checkpoint's `tokenizer` entry: both sides, and the target's kind on top
    (what `seqcli info` shows)."""
    return {
        "kind": tgt.kind,
        "lowercase": tgt.lowercase,
        "src": src.to_dict(),
        "tgt": tgt.to_dict(),
    }


def stored_vocabs(data: dict[str, Any]) -> dict[str, Any]:
    """The tokenizers and vocabularies of a loaded checkpoint, as `prepare_data`
    takes them."""
    tok = data["tokenizer"]
    return {
        "tokenizers": (
            tokenizer_from_dict(tok["src"]),
            tokenizer_from_dict(tok["tgt"]),
        ),
        "vocabs": (
            Vocab.from_list(data["vocab"]["src"]),
            Vocab.from_list(data["vocab"]["tgt"]),
        ),
    }


# --- loading a trained model ----------------------------------------------------
def load_network(data: dict[str, Any], *, source: str = "checkpoint") -> Seq2Seq:
    """The network of a loaded checkpoint, its weights in place."""
    cfg = from_dict(TranslationConfig, data["config"])
    network = build_network(cfg, len(data["vocab"]["src"]), len(data["vocab"]["tgt"]))
    load_weights(network, data["state_dict"], source=source)
    return network
