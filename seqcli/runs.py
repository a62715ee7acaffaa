"""Plumbing shared by every `train_*` task: output paths, devices, resuming, saving.

Each task builds its data and network; this module turns them into a training run
with the usual files beside each other::

    models/lm-char-20261122-101500.pt            best weights (what inference uses)
    models/lm-char-20261122-101500.last.pt       resume snapshot (weights + optimizer)
    models/lm-char-20261122-101500.metrics.jsonl one JSON record per evaluation
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqcli.checkpoint import (
    DEFAULT_DIR,
    LAST_SUFFIX,
    last_path,
    load_checkpoint,
    peek_task,
    save_checkpoint,
)
from seqcli.config import TrainConfig
from seqcli.errors import CheckpointError
from seqcli.outputs import log_path
from seqcli.training import resolve_device, seed_everything, setup_distributed


@dataclass(frozen=True)
class RunFiles:
    out: Path  # best checkpoint
    last: Path  # resume snapshot
    log: Path  # metrics, JSON Lines


@dataclass
class TrainOutcome:
    """What a `train_*` task returns: where the best model went and its scores."""

    path: Path
    metrics: dict[str, dict[str, float]]
    stopped_by: str
    epochs: int


def run_files(out: str | Path) -> RunFiles:
    out = Path(out)
    return RunFiles(
        out,
        last_path(out),
        log_path(out),
    )


def default_out(task: str, tag: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "-".join(part for part in (task, tag, stamp) if part)
    return DEFAULT_DIR / f"{name}.pt"


def find_resume(task: str, out: str | Path | None) -> tuple[Path, dict[str, Any]]:
    """The snapshot beside `out`, else the newest of `task` in models/."""
    if out is not None:
        path = last_path(out)
        if not path.exists():
            raise CheckpointError(f"nothing to resume: {path} does not exist")
    else:
        candidates = sorted(
            DEFAULT_DIR.glob(f"*{LAST_SUFFIX}"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        path = next((p for p in candidates if peek_task(p) == task), None)
        if path is None:
            raise CheckpointError(f"nothing to resume: no {task} run in {DEFAULT_DIR}/")
    data = load_checkpoint(path, task=task, command="--resume")
    if "train_state" not in data:
        raise CheckpointError(f"{path}: holds no training state to resume from")
    return path, data


def out_of_snapshot(snapshot: Path) -> Path:
    """models/x.last.pt -> models/x.pt"""
    return snapshot.with_name(snapshot.name.removesuffix(LAST_SUFFIX) + ".pt")


def prepare(cfg: TrainConfig) -> torch.device:
    """Seed, set CPU threads, join torchrun's process group and pick the device."""
    rank, _ = setup_distributed()
    seed_everything(cfg.seed + rank)
    torch.set_num_threads(cfg.num_threads if cfg.num_threads > 0 else auto_threads())
    device = resolve_device(cfg.device)
    if device.type == "cuda" and rank > 0:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def auto_threads() -> int:
    """CPU threads for torch: the cores that other work leaves idle, at least one.

    A recurrent step is many small operations, each a parallel region that waits for
    all its threads; when another process holds a core, a thread that is not
    scheduled stalls every one of them. Measured here on 2 cores with one busy: a
    1x256 LSTM step took 40 ms on 1 thread and 1,720 ms on 2.
    """
    cores = torch.get_num_threads() // max(
        1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    )
    try:
        busy = os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on every platform
        return max(1, cores)
    return max(1, min(cores, round(cores - busy)))


def make_saver(
    files: RunFiles, network: nn.Module, payload: Callable[[], dict[str, Any]]
) -> Callable[[str, dict[str, Any] | None, dict[str, float]], Path]:
    """The `save` callback of `fit`: best weights to `out`, snapshots to `last`.

    `payload()` returns the task's checkpoint fields (task, config, vocab,
    tokenizer, data); weights and metrics are added here.
    """
    best_metrics: dict[str, float] = {}

    def save(
        kind: str, train_state: dict[str, Any] | None, metrics: dict[str, float]
    ) -> Path:
        if kind == "best":
            best_metrics.clear()
            best_metrics.update(metrics)
        record = {
            **payload(),
            "state_dict": network.state_dict(),
            "metrics": {"valid": dict(best_metrics)},
        }
        if kind == "best":
            return save_checkpoint(files.out, record)
        return save_checkpoint(files.last, {**record, "train_state": train_state})

    return save


def update_metrics(path: Path, task: str, extra: dict[str, dict[str, float]]) -> None:
    """Add metrics (test scores) to a saved checkpoint, rewriting it atomically."""
    data = load_checkpoint(path, task=task)
    data["metrics"] = {**data.get("metrics", {}), **extra}
    for key in ("format", "format_version", "seqcli_version", "created", "digest"):
        data.pop(key, None)
    save_checkpoint(path, data)
