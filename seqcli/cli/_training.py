"""What every `train-*` command does around its task: config, resume, dry run, report.

A command is decorated with `training_command`, which gives it the run-control
flags every training command has (--config, --out, --epochs, --max-time, --resume,
--seed, --device, --threads, --precision, --log-interval, --tensorboard, --dry-run,
--quiet; declared once, in
`RUN_FLAGS`). It declares only its own flags (and the network flags of
`_shared.NetworkOpts` it takes), and calls `run` with ``locals()``, its own
overrides and its task's `setup`/`train_*` functions::

    @handle_errors
    @training_command
    def train_ner(train: ..., valid: ..., cell: _net.cell = None, ...,
                  run_flags: RunFlags = None) -> None:
        flags = dict(locals())
        from seqcli.tasks import ner as task

        _training.run(NerConfig, task.TASK, flags, {"train_path": train, ...},
                      setup=task.setup, train=task.train_ner)

Must not import torch at module level (it is imported inside the functions).
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from rich.markup import escape  # paths and values such as [1, 2] are not markup

from seqcli.cli._progress import RichReporter, clock
from seqcli.cli._shared import (
    ConfigOpt,
    DeviceOpt,
    DryRunOpt,
    EpochsOpt,
    LogIntervalOpt,
    MaxTimeOpt,
    NetworkOpts,
    OutOpt,
    PrecisionOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    TensorBoardOpt,
    ThreadsOpt,
    err_console,
    plain,
    print_dim,
)
from seqcli.config import config_changes, load_config, to_dict
from seqcli.metrics.scales import format_metric
from seqcli.outputs import refuse_inputs

C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])

# The flags that control a training run, the same for every train-* command:
# (parameter name, its option alias, its default).
RUN_FLAGS: tuple[tuple[str, Any, Any], ...] = (
    ("config", ConfigOpt, None),
    ("out", OutOpt, None),
    ("epochs", EpochsOpt, None),
    ("max_time", MaxTimeOpt, None),
    ("log_interval", LogIntervalOpt, None),
    ("tensorboard", TensorBoardOpt, None),
    ("resume", ResumeOpt, False),
    ("seed", SeedOpt, None),
    ("device", DeviceOpt, None),
    ("threads", ThreadsOpt, None),
    ("precision", PrecisionOpt, None),
    ("dry_run", DryRunOpt, False),
    ("quiet", QuietOpt, False),
)
RunFlags = dict[str, Any] | None  # what a command receives as `run_flags`


def training_command(func: F) -> F:
    """Give a train-* command the run-control flags of `RUN_FLAGS`.

    Typer reads a command's options from its signature, so the wrapper shows Typer
    the command's own parameters followed by these; the command receives their
    values together as its `run_flags` parameter (a dict), which `run` reads.
    """
    signature = inspect.signature(func, eval_str=True)
    own = [p for name, p in signature.parameters.items() if name != "run_flags"]
    shared = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=alias
        )
        for name, alias, default in RUN_FLAGS
    ]

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        run_flags = {name: kwargs.pop(name) for name, _, _ in RUN_FLAGS}
        return func(*args, **kwargs, run_flags=run_flags)

    command.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    return command  # type: ignore[return-value]


def resolve(
    cls: type[C],
    task: str,
    *,
    config: Path | None,
    overrides: dict[str, Any],
    resume: bool,
    quiet: bool = False,
) -> tuple[C, dict[str, Any] | None]:
    """The run's config and, with --resume, the snapshot to continue from.

    A resumed run starts from the config stored in its snapshot; a --config file
    and flags given now still override it (for example more --epochs). With
    `quiet`, only warnings are said (not which snapshot, nor the settings a resumed
    run is expected to change); under torchrun, rank 0 alone says anything.
    """
    snapshot = None
    base = None
    # Under torchrun every rank resolves the same config; one of them reports it.
    speaks = os.environ.get("RANK", "0") == "0"
    if resume:
        from seqcli.runs import find_resume, out_of_snapshot

        path, snapshot = find_resume(task, overrides.get("out"))
        base = dict(snapshot["config"])
        base["out"] = str(out_of_snapshot(path))
        if speaks and not quiet:
            print_dim(f"resuming {path}")
    cfg = load_config(cls, config, overrides, base=base)
    if config is not None and getattr(cfg, "out", None):
        refuse_inputs(cfg.out, {"--config": config})  # type: ignore[attr-defined]
    if snapshot is not None and speaks:
        warn_changes(snapshot["config"], to_dict(cfg), quiet=quiet)
    return cfg, snapshot


# Settings a resumed run is expected to change: more epochs, another time budget,
# another progress interval.
_CONTINUING = ("train.epochs", "train.max_time", "train.log_interval")


def warn_changes(
    stored: dict[str, Any], resolved: dict[str, Any], *, quiet: bool = False
) -> None:
    """One stderr line per setting a resumed run changes from its snapshot's.

    With `quiet`, only the warnings: an expected change (more epochs) is a note.
    """
    for key, old, new in config_changes(stored, resolved):
        if key == "out":
            continue  # the snapshot's own path, filled in by resolve
        was, now = escape(repr(old)), escape(repr(new))
        if key in _CONTINUING:
            if quiet:
                continue
            line = f"[dim]continuing with {key} {now} (was {was})[/]"
        else:
            line = f"[yellow]warning:[/] --resume: {key} differs from the snapshot's: "
            line += f"{was} -> {now}"
        err_console.print(line, soft_wrap=True)


def run(
    cls: type,
    task: str,
    flags: dict[str, Any],
    own: dict[str, Any],
    *,
    setup: Callable[..., Any],
    train: Callable[..., Any],
    nll: bool = True,
) -> None:
    """Resolve the config, then dry-run or train, report, and exit 130 if interrupted.

    Args:
        flags: the command's parameters (``locals()``, with `run_flags` from
            `training_command`); the shared flags are read by name (`config`,
            `resume`, `dry_run`, `quiet` and `SHARED_KEYS`).
        own: the command's own overrides, dotted config keys (None = not given).
        setup: the task's `setup` (see `seqcli.runs.train_task`); a dry run goes
            through it, so it checks all a real run checks before training.
        train: the task's `train_*` function.
        nll: the loss is a per-token NLL (the progress bar shows its perplexity).
    """
    started = time.monotonic()
    flags = {**flags, **(flags.get("run_flags") or {})}
    overrides = {**NetworkOpts.overrides(flags, cls), **own}
    overrides = {key: plain(value) for key, value in overrides.items()}
    cfg, snapshot = resolve(
        cls,
        task,
        config=flags["config"],
        overrides=overrides,
        resume=flags["resume"],
        quiet=flags["quiet"],
    )
    board = flags.get("tensorboard")
    if board is not None:  # probed before any work, by --dry-run too
        from seqcli.board import check_tensorboard

        check_tensorboard()
    if flags["dry_run"]:
        from seqcli.memory import size_of
        from seqcli.runs import check_task

        print_config(cfg)
        checked = check_task(
            setup, cfg, resume=snapshot, reporter=RichReporter(quiet=flags["quiet"])
        )
        err_console.print(f"inputs ok: {checked.describe}", soft_wrap=True)
        size = size_of(checked.network, checked.cfg.train.optimizer)
        err_console.print(f"network: {size.describe()}", soft_wrap=True)
        return
    # Under torchrun, rank 0 alone reports: the tasks' own messages (the data
    # summary) would otherwise be printed once per process.
    quiet = flags["quiet"] or os.environ.get("RANK", "0") != "0"
    rep: Any = RichReporter(quiet=quiet, nll=nll)
    if board is not None:
        from seqcli.board import BoardReporter

        rep = BoardReporter(board, rep)
    try:
        outcome = train(cfg, resume=snapshot, reporter=rep)
    finally:
        rep.close()
    if not flags["quiet"] and os.environ.get("RANK", "0") == "0":
        wall = time.monotonic() - started
        print_dim(timing_line(outcome.elapsed, wall, cfg.train.max_time))
    report_outcome(
        outcome.path, outcome.metrics, outcome.stopped_by, quiet=flags["quiet"]
    )
    if outcome.stopped_by == "interrupted":
        raise typer.Exit(130)


def timing_line(training_s: float, wall_s: float, max_time: float | None) -> str:
    """Training time (what --max-time counts, across resumes) and this command's
    wall time (with loading, evaluations and test scoring)."""
    budget = "" if max_time is None else f" of --max-time {max_time:g} min"
    return (
        f"training time {clock(training_s)}{budget}; wall time {clock(wall_s)} "
        "(this command, with loading, evaluations and test scoring)"
    )


def print_config(cfg: Any) -> None:
    """The resolved config as YAML on stdout (what --dry-run shows)."""
    print(yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip())


def report_outcome(
    path: Path, metrics: dict[str, dict[str, float]], stopped_by: str, *, quiet: bool
) -> None:
    """Where the model went and its best scores; the path also goes to stdout."""
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, rank 0 alone reports
    if not quiet:
        for split, values in metrics.items():
            shown = "  ".join(f"{k} {format_metric(k, v)}" for k, v in values.items())
            err_console.print(f"{split}: {shown}")
        err_console.print(f"stopped by: {stopped_by.replace('_', ' ')}")
        err_console.print(f"saved [bold]{escape(str(path))}[/]", soft_wrap=True)
    print(path)
