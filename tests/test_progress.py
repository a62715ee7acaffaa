"""Watching a run: the time left to the first limit, the bar at 80 columns, the
plain progress line and training-loss records when stderr is no terminal, and the
training and wall times at the end (issue #27, points 1-3)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok
from rich.console import Console
from typer.testing import CliRunner

from seqcli.cli import app
from seqcli.cli._progress import bar_clock, bar_stats, progress_bar
from seqcli.reporting import StepInfo, time_left

TINY = ["--emb-size", "8", "--hidden-size", "16", "--num-layers", "1"]
TINY += ["--batch-size", "4", "--bptt", "8", "--seed", "1", "--device", "cpu"]


def test_time_left_is_the_budget_when_it_ends_first() -> None:
    # 100 of 1000 steps at 10 steps/s: 90 s to the epochs' end; 60 s budget, 15 used
    left = time_left(
        elapsed=15.0, steps_done=100, steps_total=1000, steps_per_s=10, budget_s=60
    )
    assert left == (45.0, "max-time")


def test_time_left_is_the_epochs_when_they_end_first() -> None:
    left = time_left(
        elapsed=15.0, steps_done=900, steps_total=1000, steps_per_s=10, budget_s=600
    )
    assert left == (10.0, "epochs")


def test_time_left_unknown_without_budget_or_speed() -> None:
    assert (
        time_left(
            elapsed=1.0, steps_done=0, steps_total=None, steps_per_s=0, budget_s=None
        )
        is None
    )
    spent = time_left(
        elapsed=99.0, steps_done=5, steps_total=None, steps_per_s=0, budget_s=60
    )
    assert spent == (0.0, "max-time")


def test_step_info_counts_steps_over_all_epochs() -> None:
    # epoch 3 of 4, 50 of 100 steps: 250 steps done, 150 left at 5 steps/s = 30 s
    info = StepInfo(3, 50, 100, 2.0, 1e-3, 1000.0, 40.0, epochs=4, steps_per_s=5.0)
    assert info.epoch_fraction == 2.5
    assert info.time_left() == (30.0, "epochs")
    info.max_time_s = 60.0
    assert info.time_left() == (20.0, "max-time")


def _bar_line(info: StepInfo, *, nll: bool) -> str:
    """The bar as a terminal 80 columns wide shows it."""
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    bar = progress_bar(info.epoch, console=console)
    bar.add_task(
        "train",
        total=info.steps_in_epoch,
        completed=info.step_in_epoch,
        stats=bar_stats(info, nll=nll),
        clock=bar_clock(info),
    )
    console.print(bar.make_tasks_table(bar.tasks))
    return out.getvalue().rstrip("\n")


@pytest.mark.parametrize("nll", [True, False])
def test_bar_fits_80_columns_with_every_field(nll: bool) -> None:
    # Wide values: a two-digit epoch, thousands of steps, a large perplexity and
    # speed, hours of training.
    info = StepInfo(12, 1234, 1490, 9.8765, 3e-3, 123_456.0, 7205.0, epochs=20)
    info.steps_per_s, info.max_time_s = 4.0, 3 * 3600.0
    line = _bar_line(info, nll=nll)
    assert len(line.splitlines()) == 1, line
    assert "…" not in line
    assert "━" in line  # room is left for the bar itself
    fields = ["ep 12", "1234/1490", "loss 9.88", "123k tok/s", "lr 3e-3"]
    fields += ["2:00:05", "eta 50:44"]  # 12,176 steps left at 4 a second
    if nll:
        fields.append("ppl 19.5k")
    for field in fields:
        assert field in line, (field, line)


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory, write_lines) -> tuple:
    """A tiny char LM trained with a tiny --log-interval, stderr captured (no
    terminal): (result, its output folder)."""
    folder = tmp_path_factory.mktemp("progress")
    corpus = write_lines(folder / "c.txt", ["the cat sees the dog ."] * 12)
    args = ["train-lm", corpus, "--level", "char", "--epochs", "1", *TINY]
    args += ["--log-interval", "0.0001", "--max-time", "5", "-o", folder / "m.pt"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert_ok(result)
    return result, folder


def test_progress_line_when_stderr_is_a_file(logged_run: tuple) -> None:
    result, _ = logged_run
    lines = [line for line in result.stderr.splitlines() if line.startswith("step ")]
    assert lines, result.stderr
    for field in ("epoch ", "/1", "loss ", "lr ", "tok/s", "elapsed 0:", "left 0:"):
        assert field in lines[0], lines[0]


def test_training_loss_records_in_the_metrics_log(logged_run: tuple) -> None:
    _, folder = logged_run
    records = [json.loads(line) for line in (folder / "m.metrics.jsonl").open()]
    train = [r for r in records if r.get("kind") == "train"]
    assert train, records
    assert {"step", "loss", "lr", "elapsed_s", "epoch"} <= set(train[0])
    steps = [r["step"] for r in train]
    assert steps == sorted(steps) and steps[0] >= 1
    assert all(r["loss"] > 0 for r in train)
    # the evaluation record is still there, without the marker
    assert any("kind" not in r and "ppl" in r for r in records), records


def test_training_and_wall_time_at_the_end(logged_run: tuple) -> None:
    result, _ = logged_run
    [line] = [x for x in result.stderr.splitlines() if x.startswith("training time")]
    assert "of --max-time 5 min" in line
    assert "wall time 0:" in line


def test_max_time_help_says_it_is_training_time() -> None:
    result = CliRunner().invoke(app, ["train-lm", "--help"], env={"COLUMNS": "200"})
    assert_ok(result)
    text = " ".join(result.stdout.split())
    assert "minutes of training" in text
    assert "--log-interval" in text
    assert "--tensorboard" in text


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_log_interval_must_be_a_number_of_seconds(
    tmp_path: Path, write_lines, value: str
) -> None:
    corpus = write_lines(tmp_path / "c.txt", ["a b ."] * 4)
    args = ["train-lm", str(corpus), "--log-interval", value, "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert_error(result, "--log-interval")
