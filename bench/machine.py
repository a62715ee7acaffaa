"""What a figure was measured on: the CPU, the instructions that change its speed,
threads, a GPU if any, and a machine-class label that tells the classes apart.

Must not import torch at module level (the report and its tests read records only).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# The instruction sets that change seqcli's speed and precision choice: AVX2 is
# every x86-64 CPU of the last decade, AVX-512 widens fp32 products, AVX-512 BF16
# and AMX compute bfloat16 natively (`--precision auto` picks bf16 on them).
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
# Environment switches that make oneDNN, MKL and ATen run their AVX2 code paths
# on a newer CPU, so that one machine can stand in for an AVX2-only one.
AVX2_SWITCHES = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
}


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, set[str]]:
    """(the CPU's model name, its flags) from /proc/cpuinfo; the platform's name
    and no flags where that file is missing (not Linux)."""
    name, flags = "", set()
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not name:
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return name or platform.machine() or "unknown", flags


def forced_avx2(env: dict[str, str] | None = None) -> bool:
    """Whether every AVX2 switch is set (the run stands for an AVX2-only CPU)."""
    env = dict(os.environ) if env is None else env
    return all(env.get(k, "").lower() == v.lower() for k, v in AVX2_SWITCHES.items())


def machine_class(
    isa: dict[str, bool], *, forced: bool = False, aten: str | None = None
) -> str:
    """A label that groups machines whose figures compare: "AMX", "AVX-512 BF16",
    "AVX-512", "x86-64 AVX2", or the architecture's name. With the AVX2 switches
    set, "x86-64 AVX2 (forced)", unless ATen's kernels say they took no effect."""
    if forced:
        return "x86-64 AVX2 (forced)" + (
            "" if aten in (None, "AVX2") else f" but ATen ran {aten}"
        )
    if isa.get("amx_bf16"):
        return "AMX"
    if isa.get("avx512_bf16"):
        return "AVX-512 BF16"
    if isa.get("avx512f"):
        return "AVX-512"
    if isa.get("avx2"):
        return "x86-64 AVX2"
    return platform.machine() or "unknown"


def describe(
    threads: int, *, gpu: str | None = None, aten: str | None = None
) -> dict[str, Any]:
    """The machine part of a results record (`aten`: the CPU capability whose
    kernels torch ran, as the figure's process saw it)."""
    name, flags = cpu_flags()
    isa = {flag: flag in flags for flag in ISA_FLAGS}
    forced = forced_avx2()
    return {
        "cpu": name,
        "isa": isa,
        "isa_switches": {k: os.environ[k] for k in AVX2_SWITCHES if k in os.environ},
        "aten_capability": aten,
        "cpus": os.cpu_count(),
        "threads": threads,
        "gpu": gpu,
        "class": machine_class(isa, forced=forced, aten=aten)
        + (" + GPU" if gpu else ""),
    }


def gpu_name() -> str | None:
    """The first CUDA device's name, None without one (imports torch)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return None
