"""Read plain UTF-8 text files as lists of lines, with errors that name file and line.

``-`` means stdin. Used by `seqcli bleu` for hypotheses and references.
Must not import torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqcli.errors import DataFormatError

STDIN = "-"


def display_name(path: str) -> str:
    """The name to show in messages: ``<stdin>`` for ``-``, else the path."""
    return "<stdin>" if path == STDIN else path


def read_text_lines(path: str) -> list[str]:
    """Read a UTF-8 text file (or stdin for ``-``) into its lines.

    Only the line ending is removed (``\\n`` or ``\\r\\n``), so leading and trailing
    spaces survive; a final line without a newline still counts, and a blank line
    is kept as ``""``.

    Args:
        path: A file name, or ``-`` for standard input.

    Returns:
        The lines of the file, without their line endings.

    Raises:
        DataFormatError: If the file is missing, a directory, empty, or not UTF-8
            (the message gives the 1-based line of the first bad byte).
    """
    data = _read_bytes(path)
    if not data:
        raise DataFormatError("file is empty", display_name(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Decoding the whole file at once is fast; the line is recovered only on error.
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise DataFormatError(
            f"not valid UTF-8 (byte 0x{bad} at column {column})",
            display_name(path),
            line,
        ) from None
    # split("\n") rather than splitlines(): a form feed or U+2028 inside a sentence
    # must not start a new line, or hypotheses and references fall out of step.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_aligned_lines(paths: list[str]) -> list[list[str]]:
    """Read several files that must have one line per segment, in the same order.

    Args:
        paths: File names (``-`` for stdin at most once); the first sets the count.

    Returns:
        One list of lines per path, all of the same length.

    Raises:
        DataFormatError: On any error of `read_text_lines`, a file given as stdin
            twice, or a file whose line count differs from the first file's.
    """
    if paths.count(STDIN) > 1:
        raise DataFormatError("stdin ('-') can be read only once", STDIN)
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


def _read_bytes(path: str) -> bytes:
    if path == STDIN:
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.exists():
        raise DataFormatError("file not found", path)
    if p.is_dir():
        raise DataFormatError("is a directory, not a file", path)
    return p.read_bytes()
