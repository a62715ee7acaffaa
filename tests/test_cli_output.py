"""What the CLI writes around the results: whole log lines off a terminal, and one
suggestion for a mistyped command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqcli.cli import app
from seqcli.cli._shared import err_console

TINY = ["--emb-size", "8", "--hidden-size", "16", "--num-layers", "1"]


@pytest.fixture
def narrow_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next console write to a narrow non-terminal, as in `... 2> log`.

    The console is created on first use, for the stream of that moment: drop the
    one made by earlier tests so that this test's CliRunner stream is the one seen.
    """
    for name in ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "40")  # rich's width off a terminal
    monkeypatch.setattr(err_console, "_real", None)


@pytest.mark.usefixtures("narrow_pipe")
def test_training_log_records_are_whole_lines_off_a_terminal(
    corpus_file: Path, tmp_path: Path
):
    out = tmp_path / "m.pt"
    result = CliRunner().invoke(
        app,
        ["train-lm", str(corpus_file), "--epochs", "2", *TINY, "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert "" not in lines  # no blank lines left by a progress bar
    # The data summary and each evaluation record are far wider than 40 columns.
    summary = [line for line in lines if "training tokens" in line]
    assert len(summary) == 1 and summary[0].rstrip().endswith("on cpu")
    records = [line for line in lines if line.startswith("epoch ")]
    assert [r.split()[1] for r in records] == ["1", "2"]
    assert all(" loss " in r and " ppl " in r and len(r) > 40 for r in records)
    assert any(line.startswith("saved ") and str(out) in line for line in lines)


def test_unknown_command_suggests_once():
    result = CliRunner().invoke(app, ["train-l"])
    assert result.exit_code == 2
    assert result.output.count("Did you mean") == 1
    assert "'train-lm'" in result.output
