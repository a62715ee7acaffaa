"""Language modelling: data, `train_lm`, `stream_metrics`, `load_network`.

A corpus is read line by line, each line tokenised and closed by `<eos>`, and the
whole corpus becomes one id stream trained with truncated BPTT (see `batching`).
Sampling and scoring with a trained model are in `lm_inference`.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from seqcli.batching import (
    Batch,
    IdStream,
    lm_rows,
    lm_shard,
    lm_window_count,
    lm_windows,
)
from seqcli.checkpoint import check_buildable, load_checkpoint, load_weights
from seqcli.config import ADAPTIVE_SOFTMAX_ABOVE, LMConfig, checked_from_dict
from seqcli.devices import dist_info
from seqcli.errors import ConfigError, DataFormatError
from seqcli.nn.lm import LanguageModel, default_cutoffs
from seqcli.readers import TextLine, display_name, read_lines, read_text
from seqcli.reporting import Reporter
from seqcli.runs import TaskRun, TrainOutcome, resume_source, train_task
from seqcli.tokenizers import (
    NO_CAPITALS_NOTE,
    Tokenizer,
    build_tokenizer,
    describe,
    tokenizer_from_dict,
)
from seqcli.training import Objective
from seqcli.vocab import (
    EOS_ID,
    UNK_ID,
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
    train: torch.Tensor  # 1-D compact id streams (see batching.IdStream)
    valid: torch.Tensor
    test: torch.Tensor | None
    summary: dict[str, Any]
    stats: VocabStats


# --- data ------------------------------------------------------------------------
#
# A corpus is read in streaming passes, so that memory follows the token count and
# not the Python objects of every line: a scan counts lines (and checks the file),
# a first pass counts tokens for the vocabulary, a second encodes straight into a
# preallocated tensor of the smallest integer type that holds the vocabulary's ids
# (uint8 for most character vocabularies: one byte per character). No list of all
# lines, tokens or ids is ever built.


class _Lines:
    """Lines ``start`` to ``stop`` of a corpus file, readable any number of times.

    stdin can be read only once, so its lines are held in memory.
    """

    def __init__(self, path: str, start: int = 0, stop: int | None = None):
        self.path = str(path)
        self.start, self.stop = start, stop
        self._held: list[TextLine] | None = None

    @classmethod
    def scan(cls, path: str) -> _Lines:
        """All lines of `path`, refusing a file with no text (as `read_text` does)."""
        lines = cls(path)
        if lines.path == "-":
            lines._held = read_text(path)
            lines.stop = len(lines._held)
            return lines
        count, has_text = 0, False
        for line in read_lines(path):  # also reports a bad byte now, not mid-pass
            count += 1
            if not has_text and line.text.strip():
                has_text = True
        if not has_text:
            raise DataFormatError("empty file: no text to read", display_name(path))
        lines.stop = count
        return lines

    def part(self, start: int, stop: int) -> _Lines:
        part = _Lines(self.path, start, stop)
        part._held = self._held
        return part

    def __len__(self) -> int:
        assert self.stop is not None, "scan() first"
        return self.stop - self.start

    def texts(self) -> Iterator[str]:
        source = self._held if self._held is not None else read_lines(self.path)
        for line in itertools.islice(source, self.start, self.stop):
            yield line.text


def prepare_data(
    cfg: LMConfig, *, tokenizer: Tokenizer | None = None, vocab: Vocab | None = None
) -> LMData:
    """Read, tokenise and encode the corpora; build tokenizer and vocab unless given."""
    train_lines = _Lines.scan(cfg.train_path)
    if cfg.valid_path:
        valid_lines = _Lines.scan(cfg.valid_path)
    else:
        train_lines, valid_lines = _carve_valid(
            train_lines, cfg.valid_fraction, cfg.train_path
        )
    tok_cfg = cfg.tokenizer
    if tokenizer is None:
        tokenizer = build_tokenizer(tok_cfg, train_lines.texts())
    counts = count_tokens(tokenizer, train_lines.texts())
    if vocab is None:
        vocab = build_vocab(
            counts, min_freq=tok_cfg.min_freq, max_size=tok_cfg.max_size
        )
    valid_counts = count_tokens(tokenizer, valid_lines.texts())
    stats = vocab_stats(vocab, counts)
    summary = {
        "train": _describe(cfg.train_path, train_lines, counts),
        "valid": _describe(
            cfg.valid_path or f"last {cfg.valid_fraction:.0%} of train",
            valid_lines,
            valid_counts,
        ),
        "vocab_size": len(vocab),
        "train_coverage": stats.coverage,
        "valid_oov_rate": vocab_stats(vocab, valid_counts).oov_rate,
        "tokenizer": describe(tokenizer),
    }
    test = None
    if cfg.test_path:
        test_lines = _Lines.scan(cfg.test_path)
        test = encode_stream(vocab, _tokenized(tokenizer, test_lines.texts()))
    train, valid = (
        _encode_counted(vocab, tokenizer, train_lines, counts),
        _encode_counted(vocab, tokenizer, valid_lines, valid_counts),
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


def _carve_valid(lines: _Lines, fraction: float, path: str) -> tuple[_Lines, _Lines]:
    """Hold out the last `fraction` of lines (a contiguous tail)."""
    n_lines = len(lines)
    n_valid = max(1, int(n_lines * fraction))
    if n_lines - n_valid < 2:
        raise DataFormatError(
            f"too little text ({n_lines} lines) to carve a validation "
            "split; give --valid FILE",
            path,
        )
    split = n_lines - n_valid
    return lines.part(0, split), lines.part(split, n_lines)


def _describe(path: str, lines: _Lines, counts: Counter[str]) -> dict[str, Any]:
    return {
        "path": str(path),
        "lines": len(lines),
        "tokens": sum(counts.values()),
    }


def tokenize_lines(tokenizer: Tokenizer, lines: Iterable[TextLine]) -> list[list[str]]:
    return [tokenizer.tokenize(line.text) for line in lines]


def _tokenized(tokenizer: Tokenizer, texts: Iterable[str]) -> Iterator[list[str]]:
    return (tokenizer.tokenize(text) for text in texts)


def count_tokens(tokenizer: Tokenizer, texts: Iterable[str]) -> Counter[str]:
    """Token frequencies of `texts`, one line at a time."""
    counts: Counter[str] = Counter()
    for tokens in _tokenized(tokenizer, texts):
        counts.update(tokens)
    return counts


def encode_stream(vocab: Vocab, token_lines: Iterable[list[str]]) -> torch.Tensor:
    """One compact id stream: every line's ids followed by `<eos>` (newline at char
    level), in the smallest integer type that holds the vocabulary's ids."""
    stream = IdStream(len(vocab))
    _write_ids(stream, vocab, token_lines)
    return stream.finish()


def _encode_counted(
    vocab: Vocab, tokenizer: Tokenizer, lines: _Lines, counts: Counter[str]
) -> torch.Tensor:
    """`encode_stream` of `lines`, whose tokens `counts` counted: the tensor is
    allocated once at its final size."""
    stream = IdStream(len(vocab), size=sum(counts.values()) + len(lines))
    try:
        _write_ids(stream, vocab, _tokenized(tokenizer, lines.texts()))
        return stream.finish()
    except ValueError:  # the counts no longer fit the file
        raise DataFormatError(
            "changed while it was being read; run again", display_name(lines.path)
        ) from None


def _write_ids(
    stream: IdStream, vocab: Vocab, token_lines: Iterable[list[str]]
) -> None:
    """Each line's ids (unknown tokens -> `<unk>`) and an `<eos>`, into `stream`."""
    get, unk = vocab.stoi.get, itertools.repeat(UNK_ID)
    for tokens in token_lines:
        stream.extend(map(get, tokens, unk))
        stream.append(EOS_ID)


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
    if reporter is not None and data.tokenizer.lowercase_detected:
        reporter.on_message(NO_CAPITALS_NOTE)
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
