"""What every `train-*` command does around its task: config, resume, dry run, report.

A command declares its flags (the shared ones from `_shared`, named as in
`SHARED_KEYS`) and calls `run` with ``locals()``, its own overrides and its task's
`setup`/`train_*` functions::

    flags = dict(locals())
    from seqcli.tasks import ner as task

    _training.run(NerConfig, task.TASK, flags, {"train_path": train, ...},
                  setup=task.setup, train=task.train_ner)

Must not import torch at module level (it is imported inside the functions).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml

from seqcli.cli._progress import RichReporter
from seqcli.cli._shared import NetworkOpts, err_console, plain
from seqcli.config import config_changes, load_config, to_dict

C = TypeVar("C")


def resolve(
    cls: type[C],
    task: str,
    *,
    config: Path | None,
    overrides: dict[str, Any],
    resume: bool,
) -> tuple[C, dict[str, Any] | None]:
    """The run's config and, with --resume, the snapshot to continue from.

    A resumed run starts from the config stored in its snapshot; a --config file
    and flags given now still override it (for example more --epochs).
    """
    snapshot = None
    base = None
    if resume:
        from seqcli.runs import find_resume, out_of_snapshot

        path, snapshot = find_resume(task, overrides.get("out"))
        base = dict(snapshot["config"])
        base["out"] = str(out_of_snapshot(path))
        err_console.print(f"[dim]resuming {path}[/]")
    cfg = load_config(cls, config, overrides, base=base)
    if snapshot is not None:
        warn_changes(snapshot["config"], to_dict(cfg))
    return cfg, snapshot


# Settings a resumed run is expected to change: more epochs, another time budget.
_CONTINUING = ("train.epochs", "train.max_time")


def warn_changes(stored: dict[str, Any], resolved: dict[str, Any]) -> None:
    """One stderr line per setting a resumed run changes from its snapshot's."""
    from rich.markup import escape  # values such as [1, 2] are not markup

    for key, old, new in config_changes(stored, resolved):
        if key == "out":
            continue  # the snapshot's own path, filled in by resolve
        was, now = escape(repr(old)), escape(repr(new))
        if key in _CONTINUING:
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
        flags: the command's parameters (``locals()``); the shared flags are read
            by name (`config`, `resume`, `dry_run`, `quiet` and `SHARED_KEYS`).
        own: the command's own overrides, dotted config keys (None = not given).
        setup: the task's `setup` (see `seqcli.runs.train_task`); a dry run goes
            through it, so it checks all a real run checks before training.
        train: the task's `train_*` function.
        nll: the loss is a per-token NLL (the progress bar shows its perplexity).
    """
    overrides = {**NetworkOpts.overrides(flags), **own}
    overrides = {key: plain(value) for key, value in overrides.items()}
    cfg, snapshot = resolve(
        cls, task, config=flags["config"], overrides=overrides, resume=flags["resume"]
    )
    if flags["dry_run"]:
        from seqcli.runs import check_task

        print_config(cfg)
        checked = check_task(setup, cfg, resume=snapshot)
        err_console.print(f"inputs ok: {checked.summary}", soft_wrap=True)
        return
    rep = RichReporter(quiet=flags["quiet"], nll=nll)
    try:
        outcome = train(cfg, resume=snapshot, reporter=rep)
    finally:
        rep.close()
    report_outcome(
        outcome.path, outcome.metrics, outcome.stopped_by, quiet=flags["quiet"]
    )
    if outcome.stopped_by == "interrupted":
        raise typer.Exit(130)


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
            shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
            err_console.print(f"{split}: {shown}")
        err_console.print(f"stopped by: {stopped_by.replace('_', ' ')}")
        err_console.print(f"saved [bold]{path}[/]")
    print(path)
