"""Memory a run will spend, estimated from its config before it is spent, and the
memory the machine has: a network too big to train is refused in one line
instead of dying in the allocator.

A network's parameter count comes from building it on the meta device (shapes,
no memory), so the count is exact for every task without a formula per network.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from seqcli.errors import ConfigError

GB = 1e9
FP32_BYTES = 4
# What training keeps per parameter, in fp32: the weight and its gradient, plus
# the optimizer's state (Adam: two moment estimates; SGD without momentum: none).
OPTIMIZER_COPIES = {"adam": 2, "sgd": 0}
# What a user of the recurrent tasks can lower; it ends the refusal.
NETWORK_HINT = "lower --hidden-size, --emb-size, --num-layers or --max-vocab"


@dataclass(frozen=True)
class NetworkSize:
    """A network's parameter count and the bytes training it keeps."""

    parameters: int
    training_bytes: int

    def describe(self) -> str:
        """``1,234 parameters; training keeps ~0.0 GB (...)``, for --dry-run."""
        return (
            f"{self.parameters:,} parameters; training keeps {self.training_bytes:,} "
            f"bytes (~{_gb(self.training_bytes)} GB) for parameters, gradients and "
            "optimizer state"
        )


def parameter_count(build: Callable[[], torch.nn.Module]) -> int:
    """The parameters of the network `build()` makes, allocating none of them."""
    with torch.device("meta"):
        network = build()
    return sum(p.numel() for p in network.parameters())


def size_of(network: torch.nn.Module, optimizer: str) -> NetworkSize:
    """What training a built network with `optimizer` keeps in memory."""
    return training_size(sum(p.numel() for p in network.parameters()), optimizer)


def network_size(build: Callable[[], torch.nn.Module], optimizer: str) -> NetworkSize:
    """What training the network `build()` makes with `optimizer` keeps in memory."""
    return training_size(parameter_count(build), optimizer)


def training_size(parameters: int, optimizer: str) -> NetworkSize:
    """What training `parameters` fp32 parameters with `optimizer` keeps."""
    copies = 2 + OPTIMIZER_COPIES.get(optimizer, 2)
    return NetworkSize(parameters, parameters * copies * FP32_BYTES)


def available_bytes(device: torch.device | str = "cpu") -> int | None:
    """Memory free for a new allocation on `device`, or None if unknown.

    CPU: the kernel's MemAvailable (free memory plus what caches would give
    back), else the free physical pages; CUDA: the driver's free memory.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None  # mps and others: no portable way to ask
    return _mem_available() or _free_pages()


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _free_pages() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(
    build: Callable[[], torch.nn.Module],
    *,
    optimizer: str,
    device: torch.device | str,
    hint: str = NETWORK_HINT,
    lower_bound: bool = False,
) -> NetworkSize:
    """Refuse a network whose training state cannot fit in `device`'s free memory.

    Args:
        build: makes the network (called on the meta device only).
        optimizer: the training config's optimizer ("adam" or "sgd").
        hint: the flags that make the network smaller, for the message.
        lower_bound: `build` makes the network with the smallest vocabularies it
            could have, so that a run is refused before its data are read (the
            message says "at least"); the exact check follows once they are.

    Raises:
        ConfigError: one line with the estimate and the memory available.
    """
    size = network_size(build, optimizer)
    free = available_bytes(device)
    if free is not None and size.training_bytes > free:
        needs = "at least ~" if lower_bound else "~"
        raise ConfigError(
            f"the network needs {needs}{_gb(size.training_bytes)} GB for its "
            f"parameters, gradients and optimizer state ({size.parameters:,} "
            f"parameters); this machine has {_gb(free)} GB available on "
            f"{torch.device(device).type}; {hint}"
        )
    return size


def check_search_fits(
    need: float, device: torch.device | str, *, search: str, inputs: str, lower: str
) -> None:
    """Refuse a search (a beam, an n-best list) whose estimated `need` in bytes
    exceeds the device's available memory, before it starts.

    Args:
        search: the flags that size it, as the user gave them.
        inputs: what it runs on ("sources of 40 tokens").
        lower: the flags to lower.
    """
    free = available_bytes(device)
    if free is not None and need > free:
        raise ConfigError(
            f"{search}: the search needs ~{need / GB:,.1f} GB for {inputs}; this "
            f"machine has {free / GB:,.1f} GB available; lower {lower}"
        )


def _gb(size: int) -> str:
    gb = size / GB
    return f"{gb:,.0f}" if gb >= 10 else f"{gb:.1f}" if gb >= 0.1 else f"{gb:.3f}"
