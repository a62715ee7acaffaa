"""Plain-text readers: line numbers, gzip, stdin and the errors that name file:line."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pytest

from seqcli.errors import DataFormatError
from seqcli.readers import TextLine, read_lines, read_text


def test_read_lines_numbers_from_one_and_strips_newlines(tmp_path: Path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"first\nsecond\r\n\nlast without newline")
    lines = list(read_lines(path))
    assert lines == [
        TextLine(1, "first"),
        TextLine(2, "second"),
        TextLine(3, ""),
        TextLine(4, "last without newline"),
    ]


def test_inner_spaces_survive(tmp_path: Path):
    path = tmp_path / "a.txt"
    path.write_text("  two  spaces  \n", encoding="utf-8")
    assert [line.text for line in read_lines(path)] == ["  two  spaces  "]


def test_gzip_files_are_decompressed(tmp_path: Path):
    path = tmp_path / "a.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("één\ntwee\n")
    assert [line.text for line in read_text(path)] == ["één", "twee"]


def test_damaged_gzip_is_a_data_format_error(tmp_path: Path):
    path = tmp_path / "a.txt.gz"
    path.write_bytes(b"not gzip at all\n")
    with pytest.raises(DataFormatError, match=r"a\.txt\.gz.*gzip"):
        read_text(path)


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch):
    stdin = io.TextIOWrapper(io.BytesIO("uno\ndós\n".encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert read_text("-") == [TextLine(1, "uno"), TextLine(2, "dós")]


def test_bad_stdin_is_named_stdin(monkeypatch: pytest.MonkeyPatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"ok\n\xff\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    with pytest.raises(DataFormatError, match=r"^<stdin>:2: "):
        read_text("-")


def test_non_utf8_names_file_and_line(tmp_path: Path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("fine\nstill fine\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        read_text(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert "UTF-8" in str(info.value)
    assert info.value.line == 3
    assert info.value.path == str(path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_file_without_text_is_refused(tmp_path: Path, content: str):
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"empty\.txt.*empty"):
        read_text(path)


def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(DataFormatError, match=r"nope\.txt.*not found"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(DataFormatError, match="directory"):
        read_text(tmp_path)
