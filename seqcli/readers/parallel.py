"""Parallel text: two line-aligned files, or one two-column table of pairs.

Must not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from seqcli.errors import DataFormatError
from seqcli.readers.lines import display_name, empty_input, read_lines
from seqcli.readers.tables import read_table, table_format


class SentencePair(NamedTuple):
    """One source sentence and its translation."""

    lineno: int  # 1-based line (of both files, or of the pairs file)
    src: str
    tgt: str


def read_parallel(src_path: str | Path, tgt_path: str | Path) -> list[SentencePair]:
    """The pairs of two line-aligned files (line i of one translates line i of the
    other).

    Raises:
        DataFormatError: the files differ in line count, or a source line is empty
            (named by file and line); a pair whose two sides are blank is skipped.
    """
    src = list(read_lines(src_path))
    tgt = list(read_lines(tgt_path))
    if len(src) != len(tgt):
        raise DataFormatError(
            f"has {len(tgt)} lines but {display_name(src_path)} has {len(src)}; "
            "parallel files need one translation per line",
            display_name(tgt_path),
        )
    pairs = []
    for s, t in zip(src, tgt, strict=True):
        if not s.text.strip() and not t.text.strip():
            continue
        if not s.text.strip():
            raise DataFormatError(
                "empty source sentence", display_name(src_path), s.lineno
            )
        if not t.text.strip():
            raise DataFormatError(
                "empty target sentence", display_name(tgt_path), t.lineno
            )
        pairs.append(SentencePair(s.lineno, s.text.strip(), t.text.strip()))
    if not pairs:
        raise empty_input(src_path)
    return pairs


def read_pairs(path: str | Path, *, fmt: str = "auto") -> list[SentencePair]:
    """The pairs of a two-column table: TSV/CSV columns 1 (source) and 2 (target),
    or JSON Lines fields ``src`` and ``tgt``; an empty side is an error."""
    jsonl = table_format(path, fmt) == "jsonl"
    records = read_table(
        path,
        text_column="src" if jsonl else "1",
        label_column="tgt" if jsonl else "2",
        header="no" if not jsonl else "auto",
        fmt=fmt,
    )
    pairs = [SentencePair(r.lineno, r.text, r.label) for r in records]
    if not pairs:
        raise empty_input(path)
    return pairs
