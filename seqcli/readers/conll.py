"""CoNLL columns: one token and its tags per line, sentences between blank lines.

Must not import torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from seqcli.errors import DataFormatError
from seqcli.readers.lines import display_name, read_lines


class ConllSentence(NamedTuple):
    """One sentence of a CoNLL-style file.

    `tags` is None when no tag column was asked for; `lines` holds each token's
    line number and `fields` each line's columns (written back by `seqcli tag`).
    """

    tokens: list[str]
    tags: list[str] | None
    lines: list[int]
    fields: list[list[str]]


DOCSTART = "-DOCSTART-"


def read_conll(
    path: str | Path, *, token_column: int = 1, tag_column: int | None = -1
) -> Iterator[ConllSentence]:
    """Yield the sentences of a file of whitespace-separated columns.

    Any line of whitespace alone ends a sentence; ``-DOCSTART-`` lines (document
    starts) are skipped. Every token line must have as many columns as the file's
    first one (as conlleval requires).

    Args:
        token_column, tag_column: 1-based column positions; a negative one counts
            from the end (-1 = the last). `tag_column` None reads tokens alone.
    """
    name = display_name(path)
    width = 0
    first_line = 0
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    rows: list[list[str]] = []
    for line in read_lines(path):
        cells = line.text.split()
        if cells and cells[0] == DOCSTART:
            cells = []
        if not cells:
            if tokens:
                yield ConllSentence(tokens, tags if tag_column else None, lines, rows)
                tokens, tags, lines, rows = [], [], [], []
            continue
        if not width:
            width, first_line = len(cells), line.lineno
            _check_columns(width, token_column, tag_column, name, line.lineno)
        elif len(cells) != width:
            raise DataFormatError(
                f"expected {width} columns (as on line {first_line}), "
                f"found {len(cells)}",
                name,
                line.lineno,
            )
        tokens.append(cells[_cell(token_column)])
        if tag_column:
            tags.append(cells[_cell(tag_column)])
        lines.append(line.lineno)
        rows.append(cells)
    if tokens:
        yield ConllSentence(tokens, tags if tag_column else None, lines, rows)


def _cell(column: int) -> int:
    return column - 1 if column > 0 else column


def _check_columns(
    width: int, token: int, tag: int | None, name: str, lineno: int
) -> None:
    """The wanted columns exist in a line of `width` columns, and differ."""
    wanted = {"--token-column": token, **({"--tag-column": tag} if tag else {})}
    for flag, column in wanted.items():
        if column == 0:
            raise DataFormatError(f"{flag} 0: columns count from 1", name)
    need = max(abs(c) for c in wanted.values())
    if tag:
        need = max(need, 2)  # a token and a tag
    if width < need:
        what = " (a token and a tag)" if tag else ""
        raise DataFormatError(
            f"too few columns: found {width}, need at least {need}{what}",
            name,
            lineno,
        )
    if tag and _cell(token) % width == _cell(tag) % width:
        raise DataFormatError(
            f"--token-column {token} and --tag-column {tag} are the same column "
            f"of {width}",
            name,
            lineno,
        )
