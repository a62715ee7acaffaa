"""Plain text, one record per line: the base every other reader reads through.

``-`` reads stdin; a name ending in ``.gz`` is gunzipped; decoding is per line, so
that a bad byte is reported with its line number. A UTF-8 byte-order mark at the
start is dropped and a NUL byte refused, here and so for every format; a closed
stdin or a failed read is one `DataFormatError`. Must not import torch.
"""

from __future__ import annotations

import codecs
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


def empty_input(path: str | Path) -> DataFormatError:
    """The one error for an input without text (no lines, or blank ones only),
    worded the same whatever the command or format."""
    return DataFormatError("empty input: no text to read", display_name(path))


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == "-":
        if sys.stdin is None:  # `<&-`: Python starts with no sys.stdin at all
            raise DataFormatError("cannot read: stdin is closed", "<stdin>")
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise DataFormatError("file not found", p)
    if p.is_dir():
        raise DataFormatError("is a directory, not a file", p)
    try:
        return gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")
    except OSError as exc:
        raise DataFormatError(f"cannot read ({exc.strerror})", p) from None


def read_lines(path: str | Path) -> Iterator[TextLine]:
    """Yield every line of a UTF-8 text file (``-`` = stdin, ``.gz`` = gzip).

    A byte-order mark at the start is dropped (Windows editors write one), so that
    it never becomes part of the first token. Decoding is per line so that a bad
    byte, or a NUL (a binary file, or UTF-16), is reported with its line number.
    """
    name = display_name(path)
    fh = _open_binary(path)
    try:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1:
                raw = _first_line(raw, name)
                if not raw:  # a file that holds a byte-order mark and nothing else
                    return
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} "
                    f"at column {exc.start + 1})",
                    name,
                    lineno,
                ) from None
            if "\0" in text:  # NUL is valid UTF-8: looked for once decoded
                raise DataFormatError(
                    f"NUL byte at column {text.index(chr(0)) + 1}: binary data, "
                    "not text",
                    name,
                    lineno,
                )
            yield TextLine(lineno, text.rstrip("\r\n"))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataFormatError(f"damaged gzip file ({exc})", name) from None
    except OSError as exc:  # EIO, EISDIR (stdin redirected from a folder), ...
        raise DataFormatError(f"cannot read ({exc.strerror})", name) from None
    finally:
        if str(path) != "-":
            fh.close()


def _first_line(raw: bytes, name: str) -> bytes:
    """The first line without its UTF-8 byte-order mark; UTF-16 refused by name."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :]
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataFormatError("UTF-16 text: convert it to UTF-8", name, 1)
    return raw


def stream_text(path: str | Path) -> Iterator[TextLine]:
    """`read_lines`, refusing an input without text before yielding anything.

    Blank lines before the first line of text are held back until it comes, so
    that a command streaming its output prints nothing for an empty input.
    """
    held: list[TextLine] = []
    lines = read_lines(path)
    for line in lines:
        held.append(line)
        if line.text.strip():
            yield from held
            yield from lines
            return
    raise empty_input(path)


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
    """All lines of a file, blank ones kept, refusing an input without text."""
    return list(stream_text(path))
