"""Where training runs: the device, the seeds, and the process group under torchrun.

`fit` and the tasks ask here which device to use, which rank they are, and how
to wrap a network for DistributedDataParallel.
"""

from __future__ import annotations

import os
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


def resolve_precision(name: str, device: torch.device) -> str:
    """The precision a run trains in: "auto" is bf16 where the hardware computes
    bfloat16 natively (a CPU with AVX-512 BF16 or AMX, a CUDA GPU that supports
    it) and fp32 elsewhere, where emulated bf16 would be slower than fp32."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_bf16() else "fp32"


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU lists bfloat16 instructions (Linux; False where unknown)."""
    return bool(cpu_bf16_flags(cpuinfo))


def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The bfloat16 instructions the CPU lists (avx512_bf16, amx_bf16), sorted."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[-1].split())
                    return sorted(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return []


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
