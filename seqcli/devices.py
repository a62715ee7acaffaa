"""Where training runs: the device, the seeds, and the process group under torchrun.

`fit` and the tasks ask here which device to use, which rank they are, and how
to wrap a network for DistributedDataParallel.
"""

from __future__ import annotations

import os
import platform
import random

import torch
from torch import nn

from seqcli.config import device_error, valid_device
from seqcli.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """auto -> cuda, else mps, else cpu; an unknown or unavailable one is an error."""
    if not valid_device(name.strip().lower()):
        raise device_error(name)
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {name}: CUDA is not available on this machine "
            "(is this a CPU build of torch?)"
        )
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError("--device mps: Apple MPS is not available on this machine")
    return torch.device(name)


# The instructions with which a CPU computes bfloat16 natively.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The bfloat16 instructions the CPU lists (avx512_bf16, amx_bf16), sorted;
    none where unknown (Linux only). A listed one may still be unusable (capped by
    ONEDNN_MAX_CPU_ISA): `seqcli.precision` tries a step before trusting it."""
    flags = _cpuinfo_field("flags", cpuinfo).split()
    return sorted(set(flags) & set(BF16_FLAGS))


def cpu_name(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux), else what the platform module says."""
    return _cpuinfo_field("model name", cpuinfo) or platform.processor() or "unknown"


def _cpuinfo_field(key: str, cpuinfo: str) -> str:
    """The value of the first `key` line of /proc/cpuinfo ("" where unknown)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return ""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def dist_info() -> tuple[int, int]:
    """(rank, world_size) under torchrun, (0, 1) otherwise."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def setup_distributed() -> tuple[int, int]:
    """Join the process group torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist_info()


def data_parallel(network: nn.Module, device: torch.device) -> nn.Module:
    """`network` wrapped in DistributedDataParallel (a process group must exist).

    An adaptive softmax computes a tail cluster only for batches with targets in
    it, so some steps leave parameters without a gradient: DDP must look for them,
    or the next step fails ("Expected to have finished reduction"). The search
    costs a walk over the graph at every step, so it is asked for only then.
    """
    ids = [device.index] if device.type == "cuda" else None
    skips = any(isinstance(m, nn.AdaptiveLogSoftmaxWithLoss) for m in network.modules())
    return nn.parallel.DistributedDataParallel(
        network, device_ids=ids, find_unused_parameters=skips
    )
