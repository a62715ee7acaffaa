"""A numeric option given a value it refuses is one `error:` line and exit 2, never
Click's multi-line usage box: for every command, by construction (the app's
group turns Click's BadParameter into the one line), checked by a sweep of every
numeric option of every command with 0 and -1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from click.testing import CliRunner
from conftest import assert_error
from typer.testing import CliRunner as TyperRunner

from seqcli.cli import app

BOX = ("Usage:", "╭", "│")


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


# The app as Click runs it, built once (Typer builds it anew at every invoke).
CLICK_APP = typer.main.get_command(app)


def _numeric_options() -> list[tuple[tuple[str, ...], str]]:
    found = []
    for path, command in _commands(CLICK_APP):
        for param in command.params:
            numeric = isinstance(param.type, click.types._NumberParamTypeBase)
            if isinstance(param, click.Option) and numeric and not param.is_flag:
                found.append((path, max(param.opts, key=len)))
    return found


NUMERIC = _numeric_options()


def test_the_sweep_finds_the_options_of_the_issue() -> None:
    names = {(" ".join(path), flag) for path, flag in NUMERIC}
    for case in [
        ("sample", "--temperature"),
        ("sample", "--max-length"),
        ("sample", "--num"),
        ("classify", "--batch-size"),
        ("tag", "--batch-size"),
        ("bleu", "--confidence-n"),
        ("tokenize train", "--vocab-size"),
        ("embeddings neighbors", "-k"),
    ]:
        assert case in names


@pytest.mark.parametrize("value", ["0", "-1"])
@pytest.mark.parametrize(
    ("path", "flag"), NUMERIC, ids=[f"{' '.join(p)} {f}" for p, f in NUMERIC]
)
def test_no_usage_box_for_a_numeric_option(
    path: tuple[str, ...],
    flag: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command runs with that option alone: what follows (a missing argument's
    usage text, a missing model) is not about the option; a refusal of the value
    itself is the one line."""
    monkeypatch.chdir(tmp_path)  # no models/ here: nothing is loaded or trained
    result = CliRunner().invoke(CLICK_APP, [*path, flag, value], input="")
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit | type(None)), result.exception
    if any(mark in result.output for mark in BOX):
        assert flag not in result.output, result.output


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["sample", "--temperature", "-1"], "--temperature"),
        (["sample", "--max-length", "0"], "--max-length"),
        (["sample", "-n", "0"], "--num"),
        (["classify", "x", "--batch-size", "0"], "--batch-size"),
        (["tag", "x", "--batch-size", "0"], "--batch-size"),
        (["translate", "x", "--beam", "abc"], "--beam"),
    ],
)
def test_a_refused_value_is_one_line_naming_the_flag(
    args: list[str], flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = assert_error(TyperRunner().invoke(app, args), flag)
    assert args[-1] in line  # the value given


@pytest.mark.parametrize("n", ["0", "1"])
def test_bleu_confidence_needs_two_resamples(n: str, tmp_path: Path) -> None:
    ref = tmp_path / "ref.txt"
    ref.write_text("the cat sat .\na dog ran .\nan owl .\n", encoding="utf-8")
    result = TyperRunner().invoke(
        app, ["bleu", str(ref), str(ref), "--confidence", "--confidence-n", n]
    )
    assert result.stdout == ""
    assert_error(result, f"--confidence-n {n}", "at least 2")
    ok = TyperRunner().invoke(
        app, ["bleu", str(ref), str(ref), "--confidence", "--confidence-n", "20"]
    )
    assert ok.exit_code == 0, ok.output
    assert "μ = " in ok.stdout  # the interval is there
