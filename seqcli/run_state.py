"""The state of one `fit` call: network, optimiser, lr, clock, rank and `Progress`.

`Progress`, the optimiser's and random generators' states and the carried state
are what a resume snapshot keeps (`RunState.train_state`); `fit` steps through
the rest.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqcli.config import TrainConfig
from seqcli.devices import data_parallel, dist_info
from seqcli.precision import choose_precision, recurrent_cells
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
        # fp32 | bf16, probed on this device with the network's own cells (the
        # probe is cached: a run's set-up has asked already and refused a failure).
        self.precision_choice = choose_precision(
            cfg.precision, device, recurrent_cells(network)
        )
        self.precision = self.precision_choice.precision
        self.started = time.monotonic()
        self.last_save = time.monotonic()
        self.elapsed_before = 0.0
        # The state the network returned for the last batch (None if it returns a
        # loss alone), which the next batch starts from if it continues that one
        # (`Batch.carry`: a language model's next window). Kept here, not on the
        # network, so that evaluations cannot touch it and snapshots keep it.
        self.carry: Any = None
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
            "carry": self._carry_to_save(),
        }

    def _carry_to_save(self) -> Any:
        """The carried state, on the CPU, for a snapshot; None under torchrun,
        where rank 0 (which alone saves) holds its own rows' state only, so
        every rank resumes from zeros at the next batch."""
        if self.world > 1 or self.carry is None:
            return None
        return _map_tensors(self.carry, lambda t: t.detach().cpu())

    def restore(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress = Progress(**state["progress"])
        self.elapsed_before = self.progress.elapsed
        self.started = time.monotonic()
        torch.set_rng_state(state["torch_rng"])
        random.setstate((3, tuple(state["python_rng"]), None))
        # Snapshots older than the carried state lack the key: zeros, as they did.
        carry = state.get("carry")
        if carry is not None and self.progress.world == self.world:
            self.carry = _map_tensors(carry, lambda t: t.to(self.device))

    def agree(self, flag: bool) -> bool:
        """True on every rank if `flag` is true on any: ranks that decide alone to
        stop (a time budget read off each rank's clock) would leave the others
        waiting in a gradient all-reduce that never completes."""
        if self.world == 1:
            return flag
        vote = torch.tensor([float(flag)], device=self.device)  # NCCL: on the GPU
        torch.distributed.all_reduce(vote, op=torch.distributed.ReduceOp.MAX)
        return bool(vote.item())


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """`fn` applied to a tensor, or to each tensor of a tuple (an LSTM's (h, c))."""
    if isinstance(value, tuple):
        return tuple(_map_tensors(v, fn) for v in value)
    return fn(value)
