"""The state of one `fit` call: network, optimiser, lr, clock, rank and `Progress`.

`Progress` and the optimiser's and random generators' states are what a resume
snapshot keeps (`RunState.train_state`); `fit` steps through the rest.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqcli.config import TrainConfig
from seqcli.devices import data_parallel, dist_info, resolve_precision
from seqcli.reporting import LossWindow
from seqcli.schedules import resolve_schedule


@dataclass
class Progress:
    """Where a run stands; saved in every resume snapshot."""

    epoch: int = 1
    step_in_epoch: int = 0  # batches of `epoch` already trained, on each rank
    world: int = 1  # processes that trained them (a rank's batches depend on it)
    global_step: int = 0
    tokens: int = 0
    elapsed: float = 0.0  # seconds of training across resumes
    best: float | None = None
    best_epoch: int = 0
    bad_evals: int = 0  # evaluations since the last improvement
    history: list[dict[str, float]] = field(default_factory=list)


def make_optimizer(
    params: Iterable[nn.Parameter], cfg: TrainConfig
) -> torch.optim.Optimizer:
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    try:
        # The fused kernel updates all parameters in one pass: on a CPU it makes the
        # Adam step of a 33k-word embedding ~6x cheaper than the per-tensor loop.
        return torch.optim.Adam(
            params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True
        )
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class RunState:
    """The mutable pieces of one fit() call, so that its steps stay small functions."""

    def __init__(self, network: nn.Module, cfg: TrainConfig, device: torch.device):
        self.network = network
        self.cfg = cfg
        self.device = device
        self.rank, self.world = dist_info()
        self.saved: dict[str, Path] = {}  # kind -> file the last save wrote
        self.model: nn.Module = network
        if self.world > 1:
            self.model = data_parallel(network, device)
        self.optimizer = make_optimizer(network.parameters(), cfg)
        self.progress = Progress()
        self.schedule = resolve_schedule(cfg)
        self.precision = resolve_precision(cfg.precision, device)  # fp32 | bf16
        self.started = time.monotonic()
        self.last_save = time.monotonic()
        self.elapsed_before = 0.0
        # The training loss since the last progress record (cfg.log_interval).
        self.loss_window = LossWindow(cfg.log_interval, time.monotonic())

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def out_of_time(self) -> bool:
        return self.cfg.max_time is not None and self.elapsed >= self.cfg.max_time * 60

    def train_state(self) -> dict[str, Any]:
        self.progress.elapsed = self.elapsed
        self.progress.world = self.world
        return {
            "optimizer": self.optimizer.state_dict(),
            "progress": asdict(self.progress),
            "torch_rng": torch.get_rng_state(),
            "python_rng": list(random.getstate()[1]),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress = Progress(**state["progress"])
        self.elapsed_before = self.progress.elapsed
        self.started = time.monotonic()
        torch.set_rng_state(state["torch_rng"])
        random.setstate((3, tuple(state["python_rng"]), None))

    def agree(self, flag: bool) -> bool:
        """True on every rank if `flag` is true on any: ranks that decide alone to
        stop (a time budget read off each rank's clock) would leave the others
        waiting in a gradient all-reduce that never completes."""
        if self.world == 1:
            return flag
        vote = torch.tensor([float(flag)], device=self.device)  # NCCL: on the GPU
        torch.distributed.all_reduce(vote, op=torch.distributed.ReduceOp.MAX)
        return bool(vote.item())
