"""What every `train-*` command does around its task: config, resume, dry run, report.

Must not import torch at module level (it is imported inside the functions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml

from seqcli.cli._progress import RichReporter
from seqcli.cli._shared import err_console
from seqcli.config import load_config, to_dict

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
        if os.environ.get("RANK", "0") == "0":
            err_console.print(f"[dim]resuming {path}[/]")
    cfg = load_config(cls, config, overrides, base=base)
    return cfg, snapshot


def print_config(cfg: Any) -> None:
    """The resolved config as YAML on stdout (what --dry-run shows)."""
    print(yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip())


def reporter(quiet: bool) -> RichReporter:
    # Under torchrun, rank 0 alone reports: the tasks' own messages (the data
    # summary) would otherwise be printed once per process.
    return RichReporter(quiet=quiet or os.environ.get("RANK", "0") != "0")


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
