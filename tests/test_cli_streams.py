"""Inputs and stdout of the inference commands, the same way for every command.

A byte-order mark changes nothing in the output; an input without text is one
error, worded the same; a closed stdin, a closed stdout and a full stdout are one
`error:` line and exit 2 (run for real, through bash redirections, and in-process
for every command); a closed pipe stays quiet. One tiny model per task is trained
once per module (the tagger comes from conftest).
"""

from __future__ import annotations

import errno
import io
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import assert_ok
from typer.testing import CliRunner, Result

from seqcli.__main__ import GuardedStdout, run
from seqcli.cli import app
from seqcli.errors import OutputError

TINY = ["--emb-size", "8", "--hidden-size", "16", "--num-layers", "1",
        "--epochs", "1", "--seed", "1", "--device", "cpu", "-q"]  # fmt: skip
SENTENCES = ["the cat sees the dog .", "the owl likes the fox .", "a dog runs ."]
BOM = "\ufeff"
FULL = "error: cannot write to stdout: no space left on device"


def invoke(*args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models(
    tmp_path_factory: pytest.TempPathFactory, ner_model: Path
) -> dict[str, Path]:
    """lm.pt, clf.pt, tr.pt (one epoch each) and the conftest tagger as ner.pt."""
    folder = tmp_path_factory.mktemp("streams")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 4) + "\n", encoding="utf-8")
    assert_ok(invoke("train-lm", corpus, "--bptt", 8, "--batch-size", 4, *TINY,
                     "-o", folder / "lm.pt"))  # fmt: skip
    labelled = folder / "labelled.tsv"
    rows = [f"{s}\t{'pos' if i % 2 else 'neg'}" for i, s in enumerate(SENTENCES * 4)]
    labelled.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert_ok(invoke("train-sentiment", labelled, "--valid", labelled,
                     "--batch-size", 4, *TINY, "-o", folder / "clf.pt"))  # fmt: skip
    assert_ok(invoke("train-translate", corpus, corpus, "--valid-src", corpus,
                     "--valid-tgt", corpus, *TINY, "-o", folder / "tr.pt"))  # fmt: skip
    return {
        "lm": folder / "lm.pt",
        "clf": folder / "clf.pt",
        "tr": folder / "tr.pt",
        "ner": ner_model,
    }


# command -> (arguments around the input FILE, content of the input)
COMMANDS = {
    "score": (["score", "FILE", "-m", "lm", "--tokens", "-q"], "the cat sees .\n"),
    "classify": (["classify", "FILE", "-m", "clf", "--probs"], "the owl runs .\n"),
    "translate": (["translate", "FILE", "-m", "tr", "--scores"], "the dog .\n"),
    "tag": (["tag", "FILE", "-m", "ner"], "John Smith visits Paris .\n"),
    "tag conll": (
        ["tag", "FILE", "--input", "conll", "-m", "ner"],
        "John NNP\nvisits VBZ\nParis NNP\n",
    ),
    "evaluate lm": (["evaluate", "FILE", "-m", "lm", "--json"], "the cat sees .\n"),
    "evaluate classifier": (
        ["evaluate", "FILE", "-m", "clf", "--json"],
        "the cat sees .\tpos\n",
    ),
    "evaluate translation": (
        ["evaluate", "FILE", "-m", "tr", "--json"],
        "the dog .\tthe dog .\n",
    ),
    "evaluate tagger": (
        ["evaluate", "FILE", "-m", "ner", "--json"],
        "John NNP B-NP I-PER\nruns VBZ B-VP O\n",
    ),
}


def args_of(name: str, models: dict[str, Path], file: Path | str) -> list[str]:
    """The command line of COMMANDS[name] on `file`, its models filled in."""
    args, _ = COMMANDS[name]
    return [str(file) if a == "FILE" else str(models.get(a, a)) for a in args]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_byte_order_mark_changes_no_output(
    models: dict[str, Path], tmp_path: Path, name: str
) -> None:
    content = COMMANDS[name][1]
    plain, with_bom = tmp_path / "plain.txt", tmp_path / "bom.txt"
    plain.write_text(content, encoding="utf-8")
    with_bom.write_text(BOM + content, encoding="utf-8")
    expected = invoke(*args_of(name, models, plain))
    result = invoke(*args_of(name, models, with_bom))
    assert_ok(expected)
    assert_ok(result)
    assert result.stdout == expected.stdout
    assert BOM not in result.output


@pytest.mark.parametrize("content", ["", "\n \n\t\n"], ids=["empty", "blank"])
@pytest.mark.parametrize("name", COMMANDS)
def test_an_input_without_text_is_one_error_worded_alike(
    models: dict[str, Path], tmp_path: Path, name: str, content: str
) -> None:
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    result = invoke(*args_of(name, models, path))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == f"error: {path}: empty input: no text to read\n"


@pytest.mark.parametrize("name", ["score", "classify", "translate", "tag"])
def test_an_empty_stdin_is_the_same_error(models: dict[str, Path], name: str) -> None:
    result = invoke(*args_of(name, models, "-"), input="")
    assert result.exit_code == 2, result.output
    assert result.stderr == "error: <stdin>: empty input: no text to read\n"


def test_a_nul_byte_is_one_error_naming_file_and_line(
    models: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "nul.txt"
    path.write_bytes(b"the cat sees .\nthe\0dog\n")
    result = invoke("score", path, "-m", models["lm"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: {path}:2: NUL byte at column 4: binary data, not text\n"
    )


# --- closed and full streams, for real: bash redirections -------------------------
def shell(command: str, *, unbuffered: bool = True) -> subprocess.CompletedProcess:
    """`command` under bash, `seqcli` standing for this interpreter's seqcli."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    seqcli = f"{shlex.quote(sys.executable)} -m seqcli"
    return subprocess.run(
        ["bash", "-c", command.replace("seqcli", seqcli)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("command", "model"), [("score", "lm"), ("translate", "tr")])
def test_a_closed_stdin_is_one_line(
    models: dict[str, Path], command: str, model: str
) -> None:
    done = shell(f"seqcli {command} - -m {shlex.quote(str(models[model]))} <&-")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: <stdin>: cannot read: stdin is closed\n"


def test_a_closed_stdout_is_one_line(models: dict[str, Path]) -> None:
    done = shell(f"seqcli sample -m {shlex.quote(str(models['lm']))} -n 2 >&-")
    assert done.returncode == 2
    assert done.stderr == "error: cannot write to stdout: it is closed\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_stdout_is_one_line(models: dict[str, Path]) -> None:
    """Unbuffered, the first write fails in the command (buffered, in the flush at
    exit: the next test, and every command in-process below)."""
    lm = shlex.quote(str(models["lm"]))
    done = shell(f"seqcli sample -m {lm} -n 2 >/dev/full", unbuffered=True)
    assert done.returncode == 2
    assert done.stderr == FULL + "\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_stdout_is_one_line_in_the_flush_at_exit(tmp_path: Path) -> None:
    """It used to print 'Exception ignored ... OSError' and exit 120."""
    text = tmp_path / "h.txt"
    text.write_text("the cat sat on the mat .\n", encoding="utf-8")
    done = shell(f"seqcli bleu {text} {text} >/dev/full", unbuffered=False)
    assert (done.returncode, done.stderr) == (2, FULL + "\n")


@pytest.mark.parametrize("unbuffered", [True, False], ids=["unbuffered", "buffered"])
def test_a_closed_pipe_stays_quiet(tmp_path: Path, unbuffered: bool) -> None:
    """The reader of the pipe is gone before anything is written (`| head -0`)."""
    text = tmp_path / "h.txt"
    text.write_text("the cat sat on the mat .\n", encoding="utf-8")
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "seqcli", "bleu", str(text), str(text)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


# --- a full stdout, in-process, for every command -----------------------------------
EVERY_COMMAND = {
    "sample": ["sample", "-m", "lm", "-n", "2"],
    "score": ["score", "TEXT", "-m", "lm", "-q"],
    "classify": ["classify", "TEXT", "-m", "clf"],
    "translate": ["translate", "TEXT", "-m", "tr"],
    "tag": ["tag", "TEXT", "-m", "ner"],
    "evaluate": ["evaluate", "TEXT", "-m", "lm"],
    "info": ["info", "lm"],
    "bleu": ["bleu", "TEXT", "TEXT"],
    "tokenize encode": ["tokenize", "encode", "TEXT"],
    "--version": ["--version"],
    "--help": ["--help"],
}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("name", EVERY_COMMAND)
def test_every_command_reports_a_full_stdout_in_one_line(
    models: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    """The entry point (`seqcli` and `python -m seqcli`) with stdout on a full
    device, block-buffered as it is in a pipe or a file."""
    text = tmp_path / "text.txt"
    text.write_text("the cat sees the dog .\n", encoding="utf-8")
    files = {**{k: str(v) for k, v in models.items()}, "TEXT": str(text)}
    argv = ["seqcli", *(files.get(a, a) for a in EVERY_COMMAND[name])]
    monkeypatch.setattr(sys, "argv", argv)
    with open("/dev/full", "w", encoding="utf-8") as full:
        monkeypatch.setattr(sys, "stdout", full)
        with pytest.raises(SystemExit) as info:
            run()
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == FULL


@pytest.mark.parametrize("method", ["write", "flush"])
def test_the_guard_names_stdout_and_lets_a_broken_pipe_through(method: str) -> None:
    class Failing(io.StringIO):
        def __init__(self, error: OSError):
            super().__init__()
            self.error = error

        def write(self, text: str) -> int:
            raise self.error

        def flush(self) -> None:
            raise self.error

    guard = GuardedStdout(Failing(OSError(errno.EIO, "Input/output error")))
    with pytest.raises(OutputError, match="^cannot write to stdout: input/output e"):
        getattr(guard, method)(*(["x"] if method == "write" else []))
    assert guard.failed
    guard = GuardedStdout(Failing(BrokenPipeError(errno.EPIPE, "Broken pipe")))
    with pytest.raises(BrokenPipeError):
        getattr(guard, method)(*(["x"] if method == "write" else []))
