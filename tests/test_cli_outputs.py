"""Every command that writes a file claims it through `seqcli.outputs` first.

An output that is one of the command's inputs (same path, a symlink, a hard link) is
refused before any work, with one line naming it, and the input is left byte for
byte; a read-only file system or a full disk is one line, the previous file kept and
no temporary file left behind. Before the one write path, `tokenize train -o`,
`tokenize vocab -o` and `embeddings export -o` overwrote their own inputs.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import assert_error
from typer.testing import CliRunner, Result

from seqcli.cli import app

LINES = "the cat sees the dog .\nthe dog likes the owl .\nthe owl chases the fox .\n"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def alias_of(target: Path, how: str) -> Path:
    """The same file as `target`, named as the user might name it."""
    if how == "same-path":
        return target
    if how == "dotted-path":  # a/../a/x.txt (pathlib keeps "..", drops ".")
        return target.parent / ".." / target.parent.name / target.name
    other = target.with_name("other-name" + target.suffix)
    if how == "symlink":
        other.symlink_to(target)
    else:
        os.link(target, other)
    return other


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "lm.txt"
    path.write_text(LINES, encoding="utf-8")
    return path


@pytest.fixture
def word_model(tmp_path: Path) -> Path:
    """A checkpoint with a word vocabulary and an input embedding (no training)."""
    import torch

    from seqcli.checkpoint import save_checkpoint
    from seqcli.vocab import SPECIALS

    tokens = [*SPECIALS, "cat", "dog", "owl"]
    weight = torch.arange(len(tokens) * 3, dtype=torch.float).view(len(tokens), 3)
    return save_checkpoint(
        tmp_path / "m.pt",
        {
            "task": "lm",
            "config": {},
            "vocab": {"tokens": tokens},
            "tokenizer": {"kind": "word", "lowercase": True},
            "state_dict": {"encoder.embedding.weight": weight},
        },
    )


def assert_refused(result: Result, out: Path, given: Path, before: bytes) -> None:
    """Exit 2, one line naming the output, and the input unchanged."""
    assert_error(result, f"{out}: is ", str(given), "which this command reads")
    assert given.read_bytes() == before


# --- a) b) tokenize: the corpus is not replaced by the model or vocabulary ----------
@pytest.mark.parametrize("how", ["same-path", "dotted-path", "symlink", "hard-link"])
def test_tokenize_train_refuses_to_write_over_its_corpus(corpus: Path, how: str):
    before = corpus.read_bytes()
    out = alias_of(corpus, how)
    result = invoke("tokenize", "train", corpus, "-o", out, "--vocab-size", "30")
    assert_refused(result, out, corpus, before)


@pytest.mark.parametrize("how", ["same-path", "symlink", "hard-link"])
def test_tokenize_vocab_refuses_to_write_over_its_corpus(corpus: Path, how: str):
    before = corpus.read_bytes()
    out = alias_of(corpus, how)
    result = invoke("tokenize", "vocab", corpus, "-o", out, "--top", "0")
    assert_refused(result, out, corpus, before)


def test_tokenize_vocab_refuses_its_heldout_file(corpus: Path, tmp_path: Path):
    heldout = tmp_path / "valid.txt"
    heldout.write_text(LINES, encoding="utf-8")
    result = invoke("tokenize", "vocab", corpus, "--heldout", heldout, "-o", heldout)
    assert_refused(result, heldout, heldout, LINES.encode())


def test_tokenize_train_writes_a_model_beside_its_corpus(corpus: Path):
    """The refusal is about the same file only: a new name next to it is written."""
    out = corpus.with_suffix(".model")
    result = invoke("tokenize", "train", corpus, "-o", out, "--vocab-size", "30")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and corpus.read_text(encoding="utf-8") == LINES


def test_the_output_is_claimed_before_the_input_is_read(tmp_path: Path):
    """An unusable output is reported even though the corpus is broken: the claim
    comes first, so no work is spent on a run that cannot be saved."""
    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"fine\n\xff\xfe not utf-8\n")
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    for command in (["train"], ["vocab"]):
        result = invoke("tokenize", *command, broken, "-o", blocker / "out")
        assert_error(result, f"{blocker / 'out'}: cannot create folder")


# --- c) embeddings export / plot: the model is not replaced by text or a picture -----
@pytest.mark.parametrize("how", ["same-path", "symlink", "hard-link"])
def test_embeddings_export_refuses_to_write_over_its_model(word_model: Path, how: str):
    before = word_model.read_bytes()
    out = alias_of(word_model, how)
    result = invoke("embeddings", "export", "-m", word_model, "-o", out)
    assert_refused(result, out, word_model, before)


def test_embeddings_export_refuses_to_write_over_its_vectors(tmp_path: Path):
    vectors = tmp_path / "vec.txt"
    vectors.write_text("2 2\ncat 1 0\ndog 0 1\n", encoding="utf-8")
    before = vectors.read_bytes()
    result = invoke("embeddings", "export", "--vectors", vectors, "-o", vectors)
    assert_refused(result, vectors, vectors, before)


def test_embeddings_export_still_writes_word2vec_text(word_model: Path, tmp_path):
    out = tmp_path / "vec.txt"
    result = invoke("embeddings", "export", "-m", word_model, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines()[:2] == ["3 3", "cat 12 13 14"]


@pytest.mark.parametrize("flag", ["-m", "--words"])
def test_embeddings_plot_refuses_to_draw_over_an_input(
    word_model: Path, tmp_path: Path, flag: str
):
    words = tmp_path / "words.txt"
    words.write_text("cat dog owl\n", encoding="utf-8")
    given = word_model if flag == "-m" else words
    before = given.read_bytes()
    result = invoke(
        "embeddings", "plot", "-m", word_model, "--words", words, "-o", given
    )
    assert_refused(result, given, given, before)


def test_translate_refuses_to_draw_attention_over_an_input(tmp_path: Path):
    """Refused before the model is loaded (here it is not even a checkpoint)."""
    source, model = tmp_path / "src.txt", tmp_path / "mt.pt"
    source.write_text("a b\n", encoding="utf-8")
    model.write_bytes(b"not read: the claim comes first")
    for given in (source, model):
        before = given.read_bytes()
        result = invoke("translate", source, "-m", model, "--plot-attention", given)
        assert_refused(result, given, given, before)


# --- d) a read-only file system, a full disk ------------------------------------------
def _erofs(*args: object, **kwargs: object) -> None:
    raise OSError(errno.EROFS, "Read-only file system")


def test_export_on_a_read_only_file_system_is_one_line_before_any_work(
    word_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The claim's probe fails as the file system does: one line, nothing loaded."""
    out = tmp_path / "ro" / "vec.txt"
    out.parent.mkdir()
    monkeypatch.setattr(tempfile, "TemporaryFile", _erofs)
    result = invoke("embeddings", "export", "-m", word_model, "-o", out)
    assert_error(result, f"-o/--out {out}: cannot write in", "read-only file system")
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("failing", ["tempfile.mkstemp", "os.replace"])
def test_export_when_the_file_system_turns_read_only_keeps_the_previous_file(
    word_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
):
    """Read-only by the time of the write (a remount): one line, the old file kept,
    no temporary file left beside it."""
    out = tmp_path / "ro" / "vec.txt"
    out.parent.mkdir()
    out.write_text("previous vectors\n", encoding="utf-8")
    module, name = failing.split(".")
    monkeypatch.setattr({"tempfile": tempfile, "os": os}[module], name, _erofs)
    result = invoke("embeddings", "export", "-m", word_model, "-o", out)
    assert_error(
        result, f"read-only file system writing {out}; the previous file is kept"
    )
    assert out.read_text(encoding="utf-8") == "previous vectors\n"
    assert list(out.parent.iterdir()) == [out]


class _FullDisk:
    """A file object that takes `room` characters, then fails as a full disk."""

    def __init__(self, fh: object, room: int):
        self.fh, self.room = fh, room

    def write(self, data: str | bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.fh.write(data)  # type: ignore[attr-defined]

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.fh, name)


def _full_disk_after(room: int) -> Callable[..., _FullDisk]:
    real = os.fdopen

    def fdopen(fd: int, *args: object, **kwargs: object) -> _FullDisk:
        return _FullDisk(real(fd, *args, **kwargs), room)

    return fdopen


@pytest.mark.parametrize(
    "command",
    [
        ["embeddings", "export", "-m", "{model}"],
        ["tokenize", "vocab", "{corpus}", "--top", "0"],
        ["tokenize", "train", "{corpus}", "--vocab-size", "30"],
    ],
    ids=lambda command: "-".join(command[:2]),
)
def test_a_full_disk_is_one_line_and_keeps_the_previous_file(
    word_model: Path,
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
):
    out = tmp_path / "out" / "result"
    out.parent.mkdir()
    out.write_bytes(b"previous result\n")
    args = [a.format(model=word_model, corpus=corpus) for a in command]
    monkeypatch.setattr(os, "fdopen", _full_disk_after(20))
    result = invoke(*args, "-o", out)
    assert_error(result, f"no space left writing {out}; the previous file is kept")
    assert out.read_bytes() == b"previous result\n"
    assert list(out.parent.iterdir()) == [out]


def test_a_log_that_cannot_be_appended_to_is_one_line(tmp_path: Path):
    """The metrics log of train-* goes through append_line: an OS error is an
    OutputError naming the log, which the CLI prints as one line."""
    from seqcli.errors import OutputError
    from seqcli.outputs import append_line

    log = tmp_path / "gone" / "m.metrics.jsonl"
    with pytest.raises(OutputError) as caught:
        append_line(log, '{"step": 1}')
    assert str(caught.value) == (
        f"no such file or directory writing {log}; nothing was written"
    )
    append_line(tmp_path / "m.metrics.jsonl", '{"step": 1}\n')
    append_line(tmp_path / "m.metrics.jsonl", '{"step": 2}')
    lines = (tmp_path / "m.metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == ['{"step": 1}', '{"step": 2}']


def test_a_figure_is_written_in_the_format_of_its_suffix(tmp_path: Path):
    """Plots are saved by OutputFile.write_figure only (embeddings plot, translate
    --plot-attention): the suffix picks the format; an unknown one is one line."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from seqcli.errors import OutputError
    from seqcli.outputs import OutputFile

    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1], [1, 0])
    svg, odd = tmp_path / "map.svg", tmp_path / "map.xyz"
    OutputFile(svg, inputs={}).write_figure(figure)
    assert b"<svg" in svg.read_bytes()[:500]
    with pytest.raises(OutputError, match=r"map\.xyz: cannot draw a \.xyz file; use"):
        OutputFile(odd, inputs={}).write_figure(figure)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.svg"]


@pytest.mark.parametrize("suffix", [".last.pt", ".metrics.jsonl"])
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_a_run_whose_snapshot_or_log_is_a_directory_is_refused_first(
    corpus: Path, tmp_path: Path, suffix: str, dry_run: bool
):
    """train-* writes three files for -o m.pt; a folder in the place of the snapshot
    or the log failed at the first save (a traceback for the log), after training."""
    (tmp_path / f"m{suffix}").mkdir()
    out = tmp_path / "m.pt"
    flags = ["--dry-run"] if dry_run else ["--epochs", "1", "--hidden-size", "8"]
    result = invoke("train-lm", corpus, "-o", out, "--device", "cpu", "-q", *flags)
    assert_error(result, f"-o/--out {out}: the run also writes", f"m{suffix}")
    assert not out.exists()
