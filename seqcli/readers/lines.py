"""Plain text, one record per line: the base every other reader reads through.

``-`` reads stdin; a name ending in ``.gz`` is gunzipped; decoding is per line, so
that a bad byte is reported with its line number. Must not import torch.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from seqcli.errors import DataFormatError


class TextLine(NamedTuple):
    """One line of a plain-text corpus (without its newline)."""

    lineno: int  # 1-based
    text: str


def display_name(path: str | Path) -> str:
    return "<stdin>" if str(path) == "-" else str(path)


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise DataFormatError("file not found", p)
    if p.is_dir():
        raise DataFormatError("is a directory, not a file", p)
    if p.suffix == ".gz":
        return gzip.open(p, "rb")
    return open(p, "rb")


def read_lines(path: str | Path) -> Iterator[TextLine]:
    """Yield every line of a UTF-8 text file (``-`` = stdin, ``.gz`` = gzip).

    Decoding is per line so that a bad byte is reported with its line number.
    """
    name = display_name(path)
    fh = _open_binary(path)
    try:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} "
                    f"at column {exc.start + 1})",
                    name,
                    lineno,
                ) from None
            yield TextLine(lineno, text.rstrip("\r\n"))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataFormatError(f"damaged gzip file ({exc})", name) from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def read_text_lines(path: str) -> list[str]:
    """The lines of a file as plain strings, blank ones kept (BLEU's hypotheses).

    Unlike `read_text`, a file of blank lines is accepted: an empty hypothesis is
    scored, not refused. A file with no lines at all is an error.
    """
    lines = [line.text for line in read_lines(path)]
    if not lines:
        raise DataFormatError("file is empty", display_name(path))
    return lines


def read_aligned_lines(paths: list[str]) -> list[list[str]]:
    """Read files that hold one segment per line, in the same order (parallel text).

    Raises:
        DataFormatError: stdin given twice, or a file whose line count differs
            from the first file's.
    """
    if paths.count("-") > 1:
        raise DataFormatError("stdin ('-') can be read only once", "-")
    texts = [read_text_lines(path) for path in paths]
    first, expected = paths[0], len(texts[0])
    for path, lines in zip(paths[1:], texts[1:], strict=True):
        if len(lines) != expected:
            raise DataFormatError(
                f"has {len(lines)} lines but {display_name(first)} has {expected}; "
                "each line must be the same segment in every file",
                display_name(path),
            )
    return texts


def read_text(path: str | Path) -> list[TextLine]:
    """All lines of a file, refusing a file with no text at all."""
    lines = list(read_lines(path))
    if not any(line.text.strip() for line in lines):
        raise DataFormatError("empty file: no text to read", display_name(path))
    return lines
