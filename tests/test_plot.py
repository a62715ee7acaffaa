"""`seqcli plot` (learning curves from metrics logs) and `--tensorboard` (the same
scalars for TensorBoard), issue #27 point 4."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok
from typer.testing import CliRunner

from seqcli.cli import app
from seqcli.reporting import SilentReporter, StepInfo


def write_log(path: Path, *, scale: float) -> Path:
    """A metrics log as `fit` writes it: training-loss records every few steps and
    an evaluation per epoch (with the LM's ppl)."""
    records = []
    for step in range(1, 13):
        if step % 3 == 0:
            loss = scale * 5 / step
            records.append(
                {
                    "kind": "train",
                    "epoch": step / 6,
                    "step": step,
                    "loss": loss,
                    "lr": 1e-3,
                    "elapsed_s": step * 2.0,
                }
            )
        if step % 6 == 0:
            records.append(
                {
                    "epoch": step // 6,
                    "step": step,
                    "lr": 1e-3,
                    "elapsed_s": step * 2.0,
                    "tokens": step * 100,
                    "loss": scale * 6 / step,
                    "ppl": 50.0 / step,
                    "best": 1.0,
                }
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    return [
        write_log(tmp_path / "small.metrics.jsonl", scale=1.0),
        write_log(tmp_path / "large.metrics.jsonl", scale=2.0),
    ]


def test_curves_of_two_runs_carry_their_names(logs: list[Path]) -> None:
    pytest.importorskip("matplotlib")
    from seqcli.curves import draw_curves, load_runs

    figure = draw_curves(load_runs(logs))
    axes = figure.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["loss", "loss", "ppl", "ppl"]
    assert [ax.get_xlabel() for ax in axes[:2]] == ["step", "training time (min)"]
    loss_labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert loss_labels == ["small train", "small valid", "large train", "large valid"]
    ppl_labels = [t.get_text() for t in axes[2].get_legend().get_texts()]
    assert ppl_labels == ["small valid", "large valid"]
    # the training loss of `small`: 4 records, against steps and minutes
    line = axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [3, 6, 9, 12]
    assert list(axes[1].get_lines()[0].get_xdata()) == [0.1, 0.2, 0.3, 0.4]


def test_plot_writes_a_png(logs: list[Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "curves.png"
    result = CliRunner().invoke(app, ["plot", *map(str, logs), "-o", str(out)])
    assert_ok(result)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "small, large" in result.stderr


def test_plot_without_matplotlib_names_the_extra(
    logs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    out = tmp_path / "curves.png"
    result = CliRunner().invoke(app, ["plot", str(logs[0]), "-o", str(out)])
    assert_error(result, "pip install 'seqcli[plot]'")
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            '{"step": 1, "loss": 2}\n{oops\n{"step": 2, "loss": 1}\n',
            ":2: not valid JSON",
        ),
        ('["a list"]\n', ":1: expected a JSON object"),
        ("\n", "holds no records"),
    ],
    ids=["bad-json", "not-an-object", "empty"],
)
def test_plot_reports_a_bad_log_by_line(
    tmp_path: Path, text: str, fragment: str
) -> None:
    log = tmp_path / "bad.metrics.jsonl"
    log.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["plot", str(log), "-o", str(tmp_path / "c.png")])
    assert_error(result, str(log) + fragment if fragment.startswith(":") else fragment)


def test_plot_drops_a_torn_last_record(tmp_path: Path) -> None:
    from seqcli.readers import read_metrics_log

    log = tmp_path / "m.metrics.jsonl"
    log.write_text('{"step": 1, "loss": 2.5, "elapsed_s": 3}\n{"step": 2, "lo')
    [record] = read_metrics_log(log)
    assert (record.kind, record.step, record.elapsed_s) == ("valid", 1, 3.0)
    assert record.values == {"loss": 2.5}


def test_plot_refuses_to_overwrite_a_log_or_an_unknown_metric(
    logs: list[Path], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(app, ["plot", str(logs[0]), "-o", str(logs[0])])
    assert_error(result, "is RUN 1")
    result = CliRunner().invoke(
        app, ["plot", str(logs[0]), "-o", str(tmp_path / "c.png"), "--metric", "f1"]
    )
    assert_error(result, "--metric f1", "ppl")


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """The scalars of the event files under `folder`, read back by TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    events = EventAccumulator(str(folder))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def test_tensorboard_writer_scalars_read_back(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from seqcli.board import BoardReporter

    board = BoardReporter(tmp_path / "tb", SilentReporter())
    for step, loss in ((5, 2.5), (10, 2.0)):
        info = StepInfo(1, step, 10, loss, 1e-3, 100.0, step * 1.0, global_step=step)
        info.log = {"kind": "train", "loss": loss, "tokens_per_s": 100.0}
        board.on_step(info)
    board.on_step(StepInfo(1, 11, 10, 9.9, 1e-3, 100.0, 11.0, global_step=11))
    board.on_eval({"epoch": 1, "step": 10, "lr": 1e-3, "loss": 2.25, "ppl": 9.5})
    board.close()
    scalars = _scalars(tmp_path / "tb")
    assert scalars["train/loss"] == [(5, 2.5), (10, 2.0)]  # records only, not steps
    assert scalars["valid/loss"] == [(10, 2.25)]
    assert scalars["valid/ppl"] == [(10, 9.5)]
    assert "valid/epoch" not in scalars and "valid/lr" not in scalars


def test_tensorboard_end_to_end(tmp_path: Path, write_lines) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    corpus = write_lines(tmp_path / "c.txt", ["a b a b ."] * 8)
    args = ["train-lm", corpus, "--level", "char", "--epochs", "1", "--emb-size", "8"]
    args += ["--hidden-size", "16", "--num-layers", "1", "--batch-size", "4"]
    args += ["--bptt", "8", "--device", "cpu", "--log-interval", "0.0001", "-q"]
    args += ["--tensorboard", tmp_path / "tb", "-o", tmp_path / "m.pt"]
    assert_ok(CliRunner().invoke(app, [str(a) for a in args]))
    scalars = _scalars(tmp_path / "tb")
    assert scalars["train/loss"] and scalars["valid/loss"] and scalars["valid/ppl"]


def test_tensorboard_missing_is_one_line_before_training(
    tmp_path: Path, write_lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    corpus = write_lines(tmp_path / "c.txt", ["a b a b ."] * 8)
    args = ["train-lm", corpus, "--level", "char", "--tensorboard", tmp_path / "tb"]
    args += ["-o", tmp_path / "m.pt", "--dry-run"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert_error(result, "pip install 'seqcli[tensorboard]'")
    assert not (tmp_path / "m.pt").exists()
