"""-q/--quiet: every command that says anything besides its results and errors on
stderr (progress, `using models/x.pt`, what it wrote) takes it (issue #27 point 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_ok
from typer.main import get_command
from typer.testing import CliRunner

from seqcli.cli import app

pytestmark = pytest.mark.usefixtures("one_thread")

# Commands that write only results (stdout) and errors: nothing for -q to silence.
NOTHING_TO_SILENCE = {"bleu", "info", "tokenize encode", "tokenize decode"}


def _commands(group, prefix: tuple[str, ...] = ()):  # noqa: ANN001, ANN202
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_command_with_notes_takes_quiet() -> None:
    without = set()
    for path, command in _commands(get_command(app)):
        flags = {opt for param in command.params for opt in param.opts}
        if not {"-q", "--quiet"} <= flags:
            without.add(" ".join(path))
    assert without == NOTHING_TO_SILENCE


@pytest.mark.parametrize(
    "command",
    ["evaluate", "sample", "classify", "tag", "translate", "plot", "train-ner"],
)
def test_quiet_parses(command: str) -> None:
    # `-q` before `--help`: an unknown option would fail before help is shown.
    result = CliRunner().invoke(app, [*command.split(), "-q", "--help"])
    assert_ok(result)


def test_quiet_silences_training_and_evaluate(
    tmp_path: Path, write_lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_lines(tmp_path / "c.txt", ["a b a b ."] * 8)
    args = ["train-lm", corpus, "--level", "char", "--epochs", "1", "--emb-size", "8"]
    args += ["--hidden-size", "16", "--num-layers", "1", "--batch-size", "4"]
    args += ["--bptt", "8", "--device", "cpu", "--log-interval", "0.0001"]
    args += ["-q", "-o", tmp_path / "models" / "m.pt"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert_ok(result)
    assert result.stderr == ""  # no progress line, table nor timing
    monkeypatch.chdir(tmp_path)  # evaluate picks the newest model in models/
    loud = CliRunner().invoke(app, ["evaluate", "c.txt"])
    assert_ok(loud)
    assert "using models" in loud.stderr
    quiet = CliRunner().invoke(app, ["evaluate", "c.txt", "-q"])
    assert_ok(quiet)
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout
