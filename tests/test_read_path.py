"""The one read path: every text input goes through seqcli/readers/.

Every reader of every format (and the YAML config) drops a UTF-8 byte-order mark
and refuses a NUL byte at file:line; stdin that is closed is one error; and no
module outside readers/ opens a text file for reading (checked on the source).
"""

from __future__ import annotations

import ast
import gzip
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seqcli.config import LMConfig, load_config
from seqcli.errors import ConfigError, DataFormatError, SeqcliError
from seqcli.fasta import read_fasta, read_labels
from seqcli.metrics.embeddings import read_analogies, read_similarity
from seqcli.metrics.ner import conlleval_file
from seqcli.readers import (
    read_conll,
    read_lines,
    read_pairs,
    read_parallel,
    read_table,
    read_text,
    read_word_vectors,
    stream_text,
)
from seqcli.vocab import read_vocab_file

BOM = "\ufeff"

# name -> (file name, content of at least two lines, what reading it gives)
READERS: dict[str, tuple[str, str, Callable[[Path], Any]]] = {
    "lines": ("a.txt", "the cat\nsat\n", lambda p: list(read_lines(p))),
    "gzip": ("a.txt.gz", "the cat\nsat\n", read_text),
    "conll": ("a.conll", "John B-PER\nran O\n", lambda p: list(read_conll(p))),
    "tsv": ("a.tsv", "good film\tpos\nbad film\tneg\n", lambda p: list(read_table(p))),
    "csv": ("a.csv", "label,text\npos,good film\n", lambda p: list(read_table(p))),
    "jsonl": (
        "a.jsonl",
        '{"text": "good", "label": "pos"}\n{"text": "bad", "label": "neg"}\n',
        lambda p: list(read_table(p)),
    ),
    "parallel": ("a.src", "a b\nc d\n", lambda p: read_parallel(p, p)),
    "pairs": ("p.tsv", "a b\tc d\ne f\tg h\n", read_pairs),
    "vectors": (
        "v.txt",
        "the 0.1 0.2 0.3\ncat 1 2 3\n",
        lambda p: read_word_vectors(p, {"the", "cat"}),
    ),
    "fasta": ("s.fa", ">s1 pos\nACGT\n", lambda p: list(read_fasta(p))),
    "fasta labels": ("labels.txt", "s1 pos\ns2 neg\n", read_labels),
    "analogies": ("q.txt", ": capital\na b c d\n", read_analogies),
    "similarity": ("ws.txt", "cat dog 7.5\nowl fox 2\n", read_similarity),
    "conlleval": (
        "out.conll",
        "B-PER B-PER\nO O\n",
        lambda p: conlleval_file(str(p)).lines(),
    ),
    "vocab": ("vocab.txt", "cat\t3\ndog\t2\n", lambda p: read_vocab_file(str(p)).itos),
    "config": (
        "c.yaml",
        "bptt: 5\nvalid_fraction: 0.2\n",
        lambda p: load_config(LMConfig, p),
    ),
}


def write(path: Path, text: str) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("name", READERS)
def test_a_byte_order_mark_is_dropped_by_every_reader(tmp_path: Path, name: str):
    filename, content, read = READERS[name]
    plain = read(write(tmp_path / filename, content))
    (tmp_path / "bom").mkdir()
    with_bom = read(write(tmp_path / "bom" / filename, BOM + content))
    assert with_bom == plain
    assert BOM not in repr(with_bom)


@pytest.mark.parametrize("name", READERS)
def test_a_nul_byte_is_refused_at_file_and_line_by_every_reader(
    tmp_path: Path, name: str
):
    filename, content, read = READERS[name]
    first, rest = content.split("\n", 1)
    path = write(tmp_path / filename, f"{first}\nx\0{rest}")
    with pytest.raises((DataFormatError, ConfigError)) as info:
        read(path)
    assert str(info.value) == f"{path}:2: NUL byte at column 2: binary data, not text"


def test_utf16_is_named_not_reported_as_a_bad_byte(tmp_path: Path):
    path = tmp_path / "u16.txt"
    path.write_bytes("the cat\n".encode("utf-16"))
    with pytest.raises(DataFormatError, match=r"u16\.txt:1: UTF-16 text"):
        read_text(path)


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes | None) -> None:
    stream = None if data is None else io.TextIOWrapper(io.BytesIO(data))
    monkeypatch.setattr(sys, "stdin", stream)


def test_stdin_drops_a_byte_order_mark(monkeypatch: pytest.MonkeyPatch):
    _stdin(monkeypatch, (BOM + "the cat\n").encode())
    assert [line.text for line in read_text("-")] == ["the cat"]


def test_a_closed_stdin_is_one_error(monkeypatch: pytest.MonkeyPatch):
    _stdin(monkeypatch, None)  # what Python sets when started with `<&-`
    with pytest.raises(DataFormatError) as info:
        read_text("-")
    assert str(info.value) == "<stdin>: cannot read: stdin is closed"


def test_an_unreadable_stdin_is_one_error(monkeypatch: pytest.MonkeyPatch):
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise IsADirectoryError(21, "Is a directory")

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(Failing())))
    with pytest.raises(DataFormatError, match=r"^<stdin>: cannot read \(Is a dir"):
        read_text("-")


@pytest.mark.parametrize("content", ["", "\n", " \n\t\n"])
def test_an_input_without_text_is_the_one_empty_input_error(
    tmp_path: Path, content: str
):
    path = write(tmp_path / "e.txt", content)
    for read in (read_text, lambda p: list(stream_text(p))):
        with pytest.raises(DataFormatError) as info:
            read(path)
        assert str(info.value) == f"{path}: empty input: no text to read"


def test_stream_text_yields_nothing_before_it_knows_there_is_text(tmp_path: Path):
    lines = stream_text(write(tmp_path / "e.txt", "\n\n\n"))
    with pytest.raises(DataFormatError, match="empty input"):
        next(lines)  # not a blank line first, then the error
    text = stream_text(write(tmp_path / "t.txt", "\n\nthe cat\n\n"))
    assert [line.text for line in text] == ["", "", "the cat", ""]


# --- no text read outside readers/ --------------------------------------------------
# Modules outside readers/ that may open a file for reading, and the modes they
# may use: binary files (checkpoints, SentencePiece models), /proc/cpuinfo, and
# outputs.py reading back its own lock file and metrics log.
ALLOWED_READS = {
    "seqcli/checkpoint.py": {"rb"},
    "seqcli/tokenizers.py": {"rb"},
    "seqcli/devices.py": {"r"},  # /proc/cpuinfo
    "seqcli/memory.py": {"r"},  # /proc/meminfo
    "seqcli/outputs.py": {"r", "os.open"},
}
_MODULES_WITH_PATH_FIRST = {"gzip", "io", "bz2", "lzma", "codecs", "os", "tokenize"}
_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}


def file_reads(source: str) -> list[tuple[int, str]]:
    """(line, mode) of each call in `source` that opens a file for reading:
    open(), io/gzip/Path .open(), os.fdopen() in a read mode (a mode that is not a
    literal counts as a read), os.open() without write flags, .read_text() and
    .read_bytes()."""
    reads = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = getattr(getattr(func, "value", None), "id", None)
        if name in ("read_text", "read_bytes") and isinstance(func, ast.Attribute):
            reads.append((node.lineno, name))
        elif name == "open" and owner == "os":
            flags = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if not flags & _WRITE_FLAGS:
                reads.append((node.lineno, "os.open"))
        elif name in ("open", "fdopen"):
            position = 1 if isinstance(func, ast.Name) else 0
            if owner in _MODULES_WITH_PATH_FIRST:
                position = 1
            mode = _mode(node, position)
            if not set(mode) & set("wax+"):
                reads.append((node.lineno, mode))
    return reads


def _mode(call: ast.Call, position: int) -> str:
    given = next((k.value for k in call.keywords if k.arg == "mode"), None)
    if given is None and len(call.args) > position:
        given = call.args[position]
    if given is None:
        return "r"
    return given.value if isinstance(given, ast.Constant) else "?"


def test_the_read_checker_finds_reads_and_passes_writes():
    source = """
open(p)
open(p, "rb")
open(p, mode=m)
Path(p).open()
Path(p).read_text(encoding="utf-8")
p.read_bytes()
gzip.open(p, "rt")
os.fdopen(fd)
os.open(p, os.O_RDONLY)
open(p, "w")
open(p, "ab")
Path(p).open("w")
gzip.open(p, "wb")
os.fdopen(fd, "wb")
os.open(p, os.O_WRONLY | os.O_CREAT)
read_text(p)
"""
    assert file_reads(source) == [
        (2, "r"),
        (3, "rb"),
        (4, "?"),
        (5, "r"),
        (6, "read_text"),
        (7, "read_bytes"),
        (8, "rt"),
        (9, "r"),
        (10, "os.open"),
    ]


def test_text_files_are_opened_for_reading_only_under_readers():
    package = Path(__file__).resolve().parents[1] / "seqcli"
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package.parent).as_posix()
        if name.startswith("seqcli/readers/"):
            continue
        modes = {mode for _, mode in file_reads(path.read_text(encoding="utf-8"))}
        if modes:
            found[name] = modes
    stray = {
        name: modes - ALLOWED_READS.get(name, set())
        for name, modes in found.items()
        if modes - ALLOWED_READS.get(name, set())
    }
    assert not stray, f"read text through seqcli.readers instead: {stray}"
    assert set(found) == set(ALLOWED_READS), "an allowed read is gone: update the list"


def test_a_bad_byte_in_a_yaml_config_is_named_at_its_line(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"bptt: 5\nseed: \xff\n")
    with pytest.raises(SeqcliError, match=r"c\.yaml:2: not valid UTF-8"):
        load_config(LMConfig, path)
