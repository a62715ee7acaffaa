"""Language-model data: a corpus read line by line into one compact id stream.

Each line is tokenised and closed by `<eos>`; `prepare_data` builds the tokenizer
and vocabulary from the training text and encodes every split (a missing
validation file is carved from the training text's end).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from seqcli.batching import IdStream
from seqcli.config import LMConfig
from seqcli.devices import dist_info
from seqcli.errors import DataFormatError
from seqcli.readers import TextLine, display_name, empty_input, read_lines, read_text
from seqcli.tokenizers import Tokenizer, build_tokenizer, describe
from seqcli.vocab import EOS_ID, UNK_ID, Vocab, VocabStats, build_vocab, vocab_stats


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
            raise empty_input(path)
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
