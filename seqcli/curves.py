"""Learning curves of training runs (`seqcli plot`): the training and validation
loss, and the task's metric, against steps and against training time, from each
run's metrics log, several runs overlaid under their names.

matplotlib is an optional extra (``pip install 'seqcli[plot]'``), imported only when
a figure is drawn; the figure is built without pyplot (no global state). Must not
import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcli.errors import ConfigError, SeqcliError
from seqcli.outputs import LOG_SUFFIX
from seqcli.readers import MetricsRecord, read_metrics_log
from seqcli.reporting import BOOKKEEPING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING = "seqcli plot needs matplotlib, an optional extra: pip install 'seqcli[plot]'"


def require_matplotlib() -> None:
    """Raise the one-line error naming the extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SeqcliError(MISSING) from None


@dataclass
class RunCurves:
    """One run's records, split into training-loss and evaluation records."""

    name: str
    train: list[MetricsRecord]
    valid: list[MetricsRecord]

    def metrics(self) -> list[str]:
        """The validation metrics besides the loss, in the log's order."""
        seen: dict[str, None] = {}
        for record in self.valid:
            for key in record.values:
                if key != "loss" and key not in BOOKKEEPING:
                    seen[key] = None
        return list(seen)


def run_name(path: str | Path) -> str:
    """models/lm-char.metrics.jsonl -> lm-char"""
    name = Path(path).name
    return (
        name.removesuffix(LOG_SUFFIX) if name.endswith(LOG_SUFFIX) else Path(path).stem
    )


def load_runs(paths: list[str | Path]) -> list[RunCurves]:
    """Each log's curves, named after its file (a parent folder is added where
    two runs would share a name)."""
    names = [run_name(p) for p in paths]
    if len(set(names)) < len(names):
        names = [
            f"{Path(p).parent.name}/{n}" for p, n in zip(paths, names, strict=True)
        ]
    runs = []
    for path, name in zip(paths, names, strict=True):
        records = read_metrics_log(path)
        train = [r for r in records if r.kind == "train" and "loss" in r.values]
        valid = [r for r in records if r.kind == "valid"]
        runs.append(RunCurves(name, train, valid))
    return runs


def pick_metric(runs: list[RunCurves], metric: str | None) -> str | None:
    """The metric of the lower panels: `metric`, else the first run's first one
    besides the loss (None when the runs have none)."""
    known = [m for run in runs for m in run.metrics()]
    if metric is None:
        return known[0] if known else None
    if metric not in known and metric != "loss":
        choices = ", ".join(dict.fromkeys(known)) or "none besides loss"
        raise ConfigError(
            f"--metric {metric}: not in these logs (they have: {choices})"
        )
    return metric


def draw_curves(runs: list[RunCurves], *, metric: str | None = None) -> Figure:
    """A figure of loss (top) and `metric` (bottom, when there is one) against
    steps (left) and training minutes (right); each run has one colour, its
    training loss a solid line and its validation curves dashed with markers."""
    require_matplotlib()
    from matplotlib.figure import Figure

    metric = pick_metric(runs, metric)
    rows = ["loss"] + ([metric] if metric and metric != "loss" else [])
    figure = Figure(figsize=(11, 4 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), 2, squeeze=False)
    for index, run in enumerate(runs):
        _plot_run(axes, run, rows, colour=f"C{index % 10}")
    for row, key in enumerate(rows):
        for col, label in enumerate(("step", "training time (min)")):
            ax = axes[row][col]
            ax.set_xlabel(label)
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize="small")
    return figure


def _plot_run(axes: Any, run: RunCurves, rows: list[str], *, colour: str) -> None:
    """One run's lines on every panel: its training loss solid, its validation
    curves dashed with a marker at each evaluation."""
    for row, key in enumerate(rows):
        valid = [r for r in run.valid if key in r.values]
        for col, x_of in enumerate((_steps, _minutes)):
            ax = axes[row][col]
            if key == "loss" and run.train:
                xs, ys = _xy(run.train, key, x_of)
                ax.plot(xs, ys, color=colour, label=f"{run.name} train")
            if valid:
                xs, ys = _xy(valid, key, x_of)
                ax.plot(
                    xs,
                    ys,
                    color=colour,
                    linestyle="--",
                    marker="o",
                    markersize=3,
                    label=f"{run.name} valid",
                )


def _steps(record: MetricsRecord) -> float:
    return float(record.step)


def _minutes(record: MetricsRecord) -> float:
    return record.elapsed_s / 60


def _xy(
    records: list[MetricsRecord], key: str, x_of: Callable[[MetricsRecord], float]
) -> tuple[list[float], list[float]]:
    return [x_of(r) for r in records], [r.values[key] for r in records]
