"""One reader per corpus format, yielding typed records with their line numbers.

Readers never tokenise or build vocabularies. Bad input raises `DataFormatError`
naming the file and line. ``-`` reads stdin; a name ending in ``.gz`` is gunzipped.
Must not import torch.
"""

from __future__ import annotations

import gzip
import sys
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
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                    f"at column {exc.start + 1})",
                    name,
                    lineno,
                ) from None
            yield TextLine(lineno, text.rstrip("\r\n"))
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataFormatError(f"damaged gzip file ({exc})", name) from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def read_text(path: str | Path) -> list[TextLine]:
    """All lines of a file, refusing a file with no text at all."""
    lines = list(read_lines(path))
    if not any(line.text.strip() for line in lines):
        raise DataFormatError("empty file: no text to read", display_name(path))
    return lines
