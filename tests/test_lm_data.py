"""The language model's data path: streamed passes into one compact id tensor.

`prepare_data` must give the ids, the held-out split and the data summary that the
plain in-memory way (every line, every token list, every id in Python lists) gives,
in the smallest integer type that holds the vocabulary. How little memory it takes
is measured by bench/memory.py, not here.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from seqcli.batching import IdStream, id_dtype, lm_rows, lm_windows
from seqcli.config import LMConfig
from seqcli.errors import DataFormatError
from seqcli.readers import read_text
from seqcli.tasks import lm_data as task
from seqcli.tokenizers import Tokenizer
from seqcli.vocab import build_vocab, vocab_stats

MakeConfig = Callable[..., LMConfig]

# Blank lines, a rare word, punctuation and non-ASCII characters, so that the
# vocabulary (min_freq 2) leaves tokens out and the split falls mid-text.
TEXT = (
    ["a lone gnu ."]
    + [
        "the cat sees the dog .",
        "",
        "the owl likes the fox , très bien .",
        "a rare zebra chases the cat .",
        "   ",
        "the dog sees the owl .",
        "naïve foxes like the owl .",
    ]
    * 6
    + ["the cat sees an unseen yak .", "le café est fermé ."]
)


def reference(cfg: LMConfig, tokenizer: Tokenizer) -> dict[str, Any]:
    """What prepare_data gave before streaming: everything held in Python lists."""
    train = read_text(cfg.train_path)
    if cfg.valid_path:
        valid = read_text(cfg.valid_path)
    else:
        n_valid = max(1, int(len(train) * cfg.valid_fraction))
        train, valid = train[:-n_valid], train[-n_valid:]
    train_tokens = [tokenizer.tokenize(line.text) for line in train]
    valid_tokens = [tokenizer.tokenize(line.text) for line in valid]
    counts = Counter(t for tokens in train_tokens for t in tokens)
    valid_counts = Counter(t for tokens in valid_tokens for t in tokens)
    vocab = build_vocab(
        counts, min_freq=cfg.tokenizer.min_freq, max_size=cfg.tokenizer.max_size
    )

    def ids(token_lines: list[list[str]]) -> list[int]:
        return [i for t in token_lines for i in vocab.encode(t, add_eos=True)]

    test = None
    if cfg.test_path:
        test_lines = read_text(cfg.test_path)
        test = ids([tokenizer.tokenize(line.text) for line in test_lines])
    return {
        "vocab": vocab,
        "train": ids(train_tokens),
        "valid": ids(valid_tokens),
        "test": test,
        "summary": {
            "train": {
                "path": cfg.train_path,
                "lines": len(train),
                "tokens": sum(map(len, train_tokens)),
            },
            "valid": {
                "path": cfg.valid_path or f"last {cfg.valid_fraction:.0%} of train",
                "lines": len(valid),
                "tokens": sum(map(len, valid_tokens)),
            },
            "vocab_size": len(vocab),
            "train_coverage": vocab_stats(vocab, counts).coverage,
            "valid_oov_rate": vocab_stats(vocab, valid_counts).oov_rate,
        },
    }


@pytest.fixture
def text_config(
    lm_config: MakeConfig, tmp_path: Path, write_lines: Callable[..., Path]
) -> Callable[..., LMConfig]:
    def make(level: str, *, valid: bool, test: bool = False) -> LMConfig:
        cfg = lm_config(level=level)
        corpus = write_lines(tmp_path / "text.txt", TEXT)
        cfg = replace(
            cfg,
            train_path=str(corpus),
            tokenizer=replace(cfg.tokenizer, min_freq=2, sp_vocab_size=60),
        )
        if valid:
            held = write_lines(tmp_path / "valid.txt", TEXT[3:9] + ["an unseen yak"])
            cfg = replace(cfg, valid_path=str(held))
        if test:
            cfg = replace(cfg, test_path=str(write_lines(tmp_path / "t.txt", TEXT[:4])))
        return cfg

    return make


@pytest.mark.parametrize("valid", [False, True], ids=["carved", "valid-file"])
@pytest.mark.parametrize("level", ["word", "char", "subword"])
def test_streamed_ids_and_summary_equal_the_in_memory_way(
    text_config: Callable[..., LMConfig], level: str, valid: bool
):
    cfg = text_config(level, valid=valid, test=True)
    data = task.prepare_data(cfg)
    want = reference(cfg, data.tokenizer)
    assert data.vocab == want["vocab"]
    assert data.train.tolist() == want["train"]
    assert data.valid.tolist() == want["valid"]
    assert data.test is not None and data.test.tolist() == want["test"]
    # The summary's description of the tokenizer is newer than the copied code.
    summary = {k: v for k, v in data.summary.items() if k != "tokenizer"}
    assert summary == want["summary"]
    # Tokens seen once in training, or never, became <unk>.
    assert data.summary["train_coverage"] < 1.0
    assert data.summary["valid_oov_rate"] > 0.0


@pytest.mark.parametrize("level", ["word", "char", "subword"])
def test_streams_are_held_in_the_smallest_integer_type(
    text_config: Callable[..., LMConfig], level: str
):
    data = task.prepare_data(text_config(level, valid=False, test=True))
    for stream in (data.train, data.valid, data.test):
        assert stream is not None
        assert stream.dtype == torch.uint8  # fewer than 256 entries here


def test_a_larger_vocabulary_takes_two_bytes_an_id(
    lm_config: MakeConfig, tmp_path: Path, write_lines: Callable[..., Path]
):
    words = [f"w{i}" for i in range(400)]
    lines = [" ".join(words[i : i + 10]) for i in range(0, 400, 10)] * 2
    cfg = replace(lm_config(), train_path=str(write_lines(tmp_path / "w.txt", lines)))
    data = task.prepare_data(cfg)
    assert len(data.vocab) > 256
    assert data.train.dtype == torch.int16
    assert data.train.tolist() == reference(cfg, data.tokenizer)["train"]


@pytest.mark.parametrize(
    ("size", "dtype"),
    [
        (4, torch.uint8),
        (256, torch.uint8),
        (257, torch.int16),
        (32_768, torch.int16),
        (32_769, torch.int32),
        (2**31, torch.int32),
    ],
)
def test_id_dtype_holds_every_id_of_the_vocabulary(size: int, dtype: torch.dtype):
    assert id_dtype(size) == dtype
    assert torch.iinfo(dtype).max >= size - 1


def test_id_dtype_refuses_a_vocabulary_beyond_int32():
    with pytest.raises(ValueError, match="too large"):
        id_dtype(2**31 + 1)


@pytest.mark.parametrize("size", [None, 28])
def test_id_stream_joins_chunks_in_order(
    monkeypatch: pytest.MonkeyPatch, size: int | None
):
    monkeypatch.setattr(IdStream, "CHUNK", 4)
    stream = IdStream(300, size=size)
    want: list[int] = []
    for start in range(0, 20, 3):
        ids = list(range(start * 13, start * 13 + 3))
        stream.extend(ids)
        stream.append(299)
        want += [*ids, 299]
    out = stream.finish()
    assert out.dtype == torch.int16
    assert out.tolist() == want


def test_id_stream_of_a_known_size_refuses_more_or_fewer_ids():
    more = IdStream(10, size=2)
    more.extend([1, 2, 3])
    with pytest.raises(ValueError, match="more ids"):
        more.finish()
    fewer = IdStream(10, size=4)
    fewer.extend([1, 2, 3])
    with pytest.raises(ValueError, match="fewer ids"):
        fewer.finish()


def test_an_empty_id_stream_is_an_empty_tensor():
    assert IdStream(10).finish().numel() == 0


def test_windows_of_compact_rows_are_int64_and_equal_those_of_int64_rows():
    stream = torch.randint(0, 200, (403,))
    compact, wide = lm_rows(stream.to(torch.uint8), 4), lm_rows(stream, 4)
    assert compact.dtype == torch.uint8  # rows stay compact
    pairs = list(zip(lm_windows(compact, 7), lm_windows(wide, 7), strict=True))
    assert pairs
    for small, big in pairs:
        assert small.ids.dtype == small.targets.dtype == torch.int64
        assert torch.equal(small.ids, big.ids)
        assert torch.equal(small.targets, big.targets)
        assert small.carry == big.carry


def test_a_corpus_that_changes_between_the_passes_is_refused(
    text_config: Callable[..., LMConfig], monkeypatch: pytest.MonkeyPatch
):
    cfg = text_config("word", valid=True)
    real = task.count_tokens

    def undercount(tokenizer: Tokenizer, texts: Any) -> Counter[str]:
        counts = real(tokenizer, texts)
        counts["the"] -= 1  # as if a line had been cut after the first pass
        return counts

    monkeypatch.setattr(task, "count_tokens", undercount)
    with pytest.raises(DataFormatError, match="changed while it was being read"):
        task.prepare_data(cfg)


def test_a_blank_corpus_is_still_refused(
    lm_config: MakeConfig, tmp_path: Path, write_lines: Callable[..., Path]
):
    blank = write_lines(tmp_path / "blank.txt", ["", "  ", ""])
    with pytest.raises(DataFormatError, match="empty input: no text to read"):
        task.prepare_data(replace(lm_config(), train_path=str(blank)))


def test_a_corpus_on_stdin_gives_the_same_data_as_the_file(
    text_config: Callable[..., LMConfig], monkeypatch: pytest.MonkeyPatch
):
    cfg = text_config("word", valid=False)
    from_file = task.prepare_data(cfg)
    raw = Path(cfg.train_path).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    from_stdin = task.prepare_data(replace(cfg, train_path="-"))
    assert torch.equal(from_stdin.train, from_file.train)
    assert torch.equal(from_stdin.valid, from_file.valid)
    assert from_stdin.summary["train"]["tokens"] == from_file.summary["train"]["tokens"]
