"""Rich rendering of training progress: a live bar and a per-epoch metrics table.

Implements the `seqcli.reporting.Reporter` protocol on stderr. Must not import torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from seqcli.cli._shared import err_console, print_dim
from seqcli.metrics.scales import format_metric, is_percent

if TYPE_CHECKING:
    from seqcli.reporting import StepInfo


class RichReporter:
    """Progress bar (loss, perplexity, tokens/s, ETA) and an evaluation table."""

    def __init__(self, *, quiet: bool = False, nll: bool = True):
        self.quiet = quiet
        self.nll = nll  # the loss is a per-token NLL: also show its perplexity
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.table = Table(title="evaluations", title_justify="left")
        self._columns: list[str] = []
        self._every = 1

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        # Off a terminal a live bar cannot redraw: it would leave only blank lines
        # between the records of the log.
        if self.quiet or not err_console.is_terminal:
            return
        self._stop_bar()
        self.progress = Progress(
            TextColumn(f"epoch {epoch}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err_console.real,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=steps, completed=done, stats=""
        )
        self._every = max(1, (steps or 100) // 200)

    def on_step(self, info: StepInfo) -> None:
        if self.quiet or self.progress is None or self.task is None:
            return
        if info.step_in_epoch % self._every:
            return
        stats = f"loss {info.loss:.3f}"
        if self.nll:
            stats += f" ppl {math.exp(min(info.loss, 50)):.1f}"
        stats += f" | {info.tokens_per_s:,.0f} tok/s | lr {info.lr:.2g}"
        self.progress.update(self.task, completed=info.step_in_epoch, stats=stats)

    def on_eval(self, record: dict[str, float]) -> None:
        if self.quiet:
            return
        if not self._columns:
            self._columns = [k for k in record if k != "best"]
            for key in self._columns:
                self.table.add_column(key, justify="right")
        row = [_fmt(k, record.get(k)) for k in self._columns]
        self.table.add_row(*row, style="bold green" if record.get("best") else None)
        self._stop_bar()
        err_console.print(
            "  ".join(f"{k} {_fmt(k, record[k])}" for k in self._columns if k in record)
            + ("  [green]best[/]" if record.get("best") else "")
        )

    def on_message(self, text: str) -> None:
        if not self.quiet:
            print_dim(text)

    def close(self) -> None:
        self._stop_bar()
        if not self.quiet and self.table.row_count:
            err_console.print(self.table)

    def _stop_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return ""
    if is_percent(name):
        return format_metric(name, value)
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
