"""Language modelling: data, `train_lm`, `stream_metrics`, `load_network`.

A corpus is read line by line, each line tokenised and closed by `<eos>`, and the
whole corpus becomes one id stream trained with truncated BPTT (see `batching`).
Sampling and scoring with a trained model are in `lm_inference`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from seqcli.batching import Batch, lm_rows, lm_shard, lm_window_count, lm_windows
from seqcli.checkpoint import check_buildable, load_checkpoint, load_weights
from seqcli.config import ADAPTIVE_SOFTMAX_ABOVE, LMConfig, checked_from_dict
from seqcli.errors import ConfigError, DataFormatError
from seqcli.nn.lm import LanguageModel, default_cutoffs
from seqcli.readers import TextLine, read_text
from seqcli.runs import TaskRun, TrainOutcome, resume_source, train_task
from seqcli.tokenizers import (
    Tokenizer,
    build_tokenizer,
    tokenizer_from_dict,
)
from seqcli.training import Objective, Reporter, dist_info
from seqcli.vocab import (
    Vocab,
    VocabStats,
    build_vocab,
    vocab_stats,
)

TASK = "lm"
EVAL_BATCH = 10
LN2 = math.log(2)
Metrics = dict[str, float]


@dataclass
class LMData:
    tokenizer: Tokenizer
    vocab: Vocab
    train: torch.Tensor  # 1-D id streams
    valid: torch.Tensor
    test: torch.Tensor | None
    summary: dict[str, Any]
    stats: VocabStats


# --- data ------------------------------------------------------------------------
def prepare_data(
    cfg: LMConfig, *, tokenizer: Tokenizer | None = None, vocab: Vocab | None = None
) -> LMData:
    """Read, tokenise and encode the corpora; build tokenizer and vocab unless given."""
    train_lines = read_text(cfg.train_path)
    if cfg.valid_path:
        valid_lines = read_text(cfg.valid_path)
    else:
        train_lines, valid_lines = _carve_valid(
            train_lines, cfg.valid_fraction, cfg.train_path
        )
    test_lines = read_text(cfg.test_path) if cfg.test_path else None
    tok_cfg = cfg.tokenizer
    if tokenizer is None:
        tokenizer = build_tokenizer(tok_cfg, (line.text for line in train_lines))
    train_tokens = tokenize_lines(tokenizer, train_lines)
    counts = Counter(tok for tokens in train_tokens for tok in tokens)
    if vocab is None:
        vocab = build_vocab(
            counts, min_freq=tok_cfg.min_freq, max_size=tok_cfg.max_size
        )
    valid_tokens = tokenize_lines(tokenizer, valid_lines)
    valid_counts = Counter(tok for tokens in valid_tokens for tok in tokens)
    stats = vocab_stats(vocab, counts)
    summary = {
        "train": _describe(cfg.train_path, train_lines, train_tokens),
        "valid": _describe(
            cfg.valid_path or f"last {cfg.valid_fraction:.0%} of train",
            valid_lines,
            valid_tokens,
        ),
        "vocab_size": len(vocab),
        "train_coverage": stats.coverage,
        "valid_oov_rate": vocab_stats(vocab, valid_counts).oov_rate,
    }
    test = None
    if test_lines is not None:
        test = encode_stream(vocab, tokenize_lines(tokenizer, test_lines))
    train, valid = (
        encode_stream(vocab, train_tokens),
        encode_stream(vocab, valid_tokens),
    )
    _check_lengths(cfg, train, valid)
    return LMData(tokenizer, vocab, train, valid, test, summary, stats)


def _check_lengths(cfg: LMConfig, train: torch.Tensor, valid: torch.Tensor) -> None:
    """Refuse streams too short to batch now rather than after an epoch of training."""
    rows = cfg.train.batch_size * dist_info()[1]  # each process takes batch_size
    if train.numel() < 2 * rows:
        raise DataFormatError(
            f"too little text ({train.numel()} tokens) for batch size {rows}: "
            f"need at least {2 * rows}; lower --batch-size",
            cfg.train_path,
        )
    if valid.numel() < 2:
        raise DataFormatError(
            f"too little validation text ({valid.numel()} token) to measure "
            "perplexity; give --valid FILE",
            cfg.valid_path or cfg.train_path,
        )


def _carve_valid(
    lines: list[TextLine], fraction: float, path: str
) -> tuple[list[TextLine], list[TextLine]]:
    """Hold out the last `fraction` of lines (a contiguous tail)."""
    n_valid = max(1, int(len(lines) * fraction))
    if len(lines) - n_valid < 2:
        raise DataFormatError(
            f"too little text ({len(lines)} lines) to carve a validation "
            "split; give --valid FILE",
            path,
        )
    return lines[:-n_valid], lines[-n_valid:]


def _describe(
    path: str, lines: Sequence[TextLine], tokens: Sequence[list[str]]
) -> dict[str, Any]:
    return {
        "path": str(path),
        "lines": len(lines),
        "tokens": sum(len(t) for t in tokens),
    }


def tokenize_lines(tokenizer: Tokenizer, lines: Iterable[TextLine]) -> list[list[str]]:
    return [tokenizer.tokenize(line.text) for line in lines]


def encode_stream(vocab: Vocab, token_lines: Iterable[list[str]]) -> torch.Tensor:
    """One id stream: every line's ids followed by `<eos>` (newline at char level)."""
    ids: list[int] = []
    for tokens in token_lines:
        ids.extend(vocab.encode(tokens, add_eos=True))
    return torch.tensor(ids, dtype=torch.long)


# --- training ----------------------------------------------------------------------
def build_network(cfg: LMConfig, vocab_size: int) -> LanguageModel:
    softmax = cfg.softmax
    if softmax == "auto":
        softmax = "adaptive" if vocab_size > ADAPTIVE_SOFTMAX_ABOVE else "full"
    if softmax == "adaptive" and vocab_size < 4:
        raise ConfigError(
            "adaptive softmax needs a larger vocabulary; use --softmax full"
        )
    cutoffs = cfg.adaptive_cutoffs or default_cutoffs(vocab_size)
    if softmax == "adaptive" and not cutoffs:
        softmax = "full"
    if softmax == "adaptive" and (
        cutoffs != sorted(set(cutoffs)) or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size
    ):
        raise ConfigError(
            f"adaptive_cutoffs {cutoffs}: need increasing sizes from 1 to "
            f"{vocab_size - 1} (the vocabulary has {vocab_size} entries)"
        )
    return LanguageModel(
        vocab_size,
        cfg.model,
        softmax=softmax,
        cutoffs=cutoffs,
        tie_weights=cfg.tie_weights,
    )


def stream_metrics(
    network: LanguageModel, stream: torch.Tensor, *, bptt: int, char_level: bool
) -> dict[str, float]:
    """Mean NLL, perplexity (and bits/char) of a stream, carrying state over windows."""
    device = next(network.parameters()).device
    rows = lm_rows(stream, min(EVAL_BATCH, max(1, stream.numel() // 2)))
    network.reset_state()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in lm_windows(rows, bptt):
            n = batch.targets.numel()
            total += float(network(batch.to(device))) * n
            count += n
    network.reset_state()
    loss = total / max(count, 1)
    metrics = {"loss": loss, "ppl": math.exp(min(loss, 700))}
    if char_level:
        metrics["bpc"] = loss / LN2
    return metrics


def setup(
    cfg: LMConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TaskRun:
    """Data, network and metrics of a language model run (see `runs.train_task`).

    A resumed run reuses its snapshot's vocabulary and tokenizer, so that ids keep
    their meaning; --init-from also takes the LM's weights and sizes.
    """
    start = resume
    if resume is not None:  # a snapshot is checked as a checkpoint is, first
        check_network(resume, source=resume_source(cfg))
    elif cfg.init_from:
        start = load_checkpoint(cfg.init_from, task=TASK, command="--init-from")
        cfg = _network_of(cfg, start)
    given = {}
    if start is not None:
        given = {
            "tokenizer": tokenizer_from_dict(start["tokenizer"]),
            "vocab": Vocab.from_list(start["vocab"]["tokens"]),
        }
    data = prepare_data(cfg, **given)
    network = build_network(cfg, len(data.vocab)).to(device)
    if resume is None and start is not None:
        load_weights(network, start["state_dict"], source=str(cfg.init_from))
        if reporter is not None:
            reporter.on_message(
                f"starting from {cfg.init_from}: its weights and vocabulary"
            )
    return _task_run(cfg, data, network)


def _task_run(cfg: LMConfig, data: LMData, network: LanguageModel) -> TaskRun:
    char = cfg.tokenizer.level == "char"
    rank, world = dist_info()
    # Each process takes `batch_size` rows of its own (see batching.lm_shard).
    train_rows = lm_shard(data.train, cfg.train.batch_size, rank, world)

    def batches(epoch: int, rank: int, world: int) -> Iterable[Batch]:
        return lm_windows(train_rows, cfg.bptt)

    def metrics_of(stream: torch.Tensor) -> Callable[[torch.nn.Module], Metrics]:
        return lambda net: stream_metrics(net, stream, bptt=cfg.bptt, char_level=char)

    s = data.summary
    return TaskRun(
        task=TASK,
        cfg=cfg,
        network=network,
        batches=batches,
        steps_per_epoch=lm_window_count(train_rows, cfg.bptt),
        evaluate=metrics_of(data.valid),
        objective=Objective("loss"),
        vocab={"tokens": data.vocab.to_list()},
        tokenizer=data.tokenizer.to_dict(),
        summary=s,
        describe=(
            f"{s['train']['tokens']:,} training tokens; vocabulary "
            f"{len(data.vocab):,} entries covering {s['train_coverage']:.2%} of them; "
            f"validation OOV rate {s['valid_oov_rate']:.2%}"
        ),
        load_network=load_network,
        test_metrics=None if data.test is None else metrics_of(data.test),
    )


def train_lm(
    cfg: LMConfig,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """Train a language model on `cfg.train_path`; returns where the best one was saved.

    Args:
        cfg: the resolved configuration.
        resume: a loaded resume snapshot (see `runs.find_resume`); its vocabulary and
            tokenizer are reused so that ids keep their meaning.
    """
    return train_task(setup, cfg, resume=resume, reporter=reporter)


def _network_of(cfg: LMConfig, start: dict[str, Any]) -> LMConfig:
    """`cfg` with the network and tokenizer settings of a stored LM, so that the
    stored weights, vocabulary and tokenizer fit (fine-tuning with --init-from)."""
    base = check_network(start, source=f"--init-from {cfg.init_from}")
    return replace(
        cfg,
        model=base.model,
        tokenizer=base.tokenizer,
        softmax=base.softmax,
        adaptive_cutoffs=base.adaptive_cutoffs,
        tie_weights=base.tie_weights,
    )


# --- loading a trained model ----------------------------------------------------
def load_network(data: dict[str, Any], *, source: str = "checkpoint") -> LanguageModel:
    """The LM of a loaded checkpoint, its stored config and every tensor's shape
    checked before the network is built (`check_network`)."""
    cfg = check_network(data, source=source)
    network = build_network(cfg, len(data["vocab"]["tokens"]))
    load_weights(network, data["state_dict"], source=source)
    return network


def check_network(data: dict[str, Any], *, source: str) -> LMConfig:
    """The stored config of an LM checkpoint, checked, and checked to describe the
    stored weights: a config edited to describe a huge network is refused before
    anything is allocated."""
    cfg = checked_from_dict(LMConfig, data["config"], source=f"{source}: config")
    vocab_size = len(data["vocab"]["tokens"])
    check_buildable(
        lambda: build_network(cfg, vocab_size), data["state_dict"], source=source
    )
    return cfg
