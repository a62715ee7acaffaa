"""Rich rendering of training progress: a live bar and a per-epoch metrics table.

On a terminal a live bar; elsewhere (a log file, a pipe, a scheduler's output) a
plain line every `TrainConfig.log_interval` seconds. Implements the
`seqcli.reporting.Reporter` protocol on stderr. Must not import torch.
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
)
from rich.table import Column, Table

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
        self.progress = progress_bar(epoch, console=err_console.real)
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=steps, completed=done, stats="", clock=""
        )
        self._every = max(1, (steps or 100) // 200)

    def on_step(self, info: StepInfo) -> None:
        if self.quiet:
            return
        if self.progress is None or self.task is None:
            if info.log is not None:  # off a terminal: a line now and then
                print_dim(progress_line(info, nll=self.nll))
            return
        if info.step_in_epoch % self._every:
            return
        self.progress.update(
            self.task,
            completed=info.step_in_epoch,
            stats=bar_stats(info, nll=self.nll),
            clock=bar_clock(info),
        )

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


def progress_bar(epoch: int, *, console: object) -> Progress:
    """The live bar of one epoch, its fields compact enough for 80 columns:
    ``ep 3 ━━━━━━━━━━ 552/1490 loss 4.86 ppl 129 12.3k tok/s lr 3e-3 4:10 eta 5:50``
    (the bar itself shrinks first when the line is short of room)."""
    return Progress(
        TextColumn(f"ep {epoch}", table_column=Column(no_wrap=True)),
        BarColumn(bar_width=None, table_column=Column(ratio=1)),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TextColumn("{task.fields[stats]}", table_column=Column(no_wrap=True)),
        TextColumn("{task.fields[clock]}", table_column=Column(no_wrap=True)),
        console=console,  # type: ignore[arg-type]
        transient=True,
    )


def bar_stats(info: StepInfo, *, nll: bool) -> str:
    """loss (and perplexity), tokens/s and lr, as the bar shows them."""
    stats = f"loss {info.loss:.2f}"
    if nll:
        stats += f" ppl {_compact(math.exp(min(info.loss, 50)))}"
    lr = f"{info.lr:.0e}".replace("e-0", "e-")  # 3e-03 -> 3e-3
    return stats + f" {_compact(info.tokens_per_s)} tok/s lr {lr}"


def bar_clock(info: StepInfo) -> str:
    """Training time so far and the time left to the first limit (epochs or
    --max-time, whichever ends the run first)."""
    left = info.time_left()
    eta = "?" if left is None else clock(left[0], short=True)
    return f"{clock(info.elapsed, short=True)} eta {eta}"


def progress_line(info: StepInfo, *, nll: bool) -> str:
    """The plain line written every log_interval seconds when no bar can be drawn.

    Its loss is the mean since the previous line (`StepInfo.log`).
    """
    record = info.log or {}
    loss = float(record.get("loss", info.loss))
    rate = float(record.get("tokens_per_s", info.tokens_per_s))
    epochs = "" if info.epochs is None else f"/{info.epochs}"
    parts = [
        f"step {info.global_step:,}",
        f"epoch {info.epoch_fraction:.2f}{epochs}",
        f"loss {loss:.4f}"
        + (f" (ppl {_compact(math.exp(min(loss, 50)))})" if nll else ""),
        f"lr {info.lr:.2e}",
        f"{rate:,.0f} tok/s",
        f"elapsed {clock(info.elapsed)}",
    ]
    left = info.time_left()
    if left is not None:
        parts.append(f"left {clock(left[0])} ({left[1]})")
    return "  ".join(parts)


def clock(seconds: float, *, short: bool = False) -> str:
    """h:mm:ss; with `short`, m:ss below an hour."""
    whole = int(max(seconds, 0.0) + 0.5)
    if short and whole < 3600:
        return f"{whole // 60}:{whole % 60:02d}"
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _compact(value: float) -> str:
    """A number in at most 5 characters: 96.3, 1234, 12.3k, 123k, 1.2M."""
    if value < 100:
        return f"{value:.1f}"
    if value < 10_000:
        return f"{value:.0f}"
    if value < 100_000:
        return f"{value / 1000:.1f}k"
    if value < 1_000_000:
        return f"{value / 1000:.0f}k"
    return f"{value / 1e6:.1f}M"


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return ""
    if is_percent(name):
        return format_metric(name, value)
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
