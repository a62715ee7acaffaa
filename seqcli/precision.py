"""Which precision a training run computes in, decided by trying it on the device.

A CPU that lists bfloat16 instructions may still not run a bf16 LSTM: oneDNN,
which computes it, can be capped below them (ONEDNN_MAX_CPU_ISA) or lack a kernel
for the cell. So a precision is probed, not assumed: `probe` runs one tiny
training step of the run's own recurrent cell and a linear layer in that
precision on the run's device, once per (device, cell, precision) in a process,
and `choose_precision` turns the result into the run's precision, its reason, or
a one-line refusal. `fit` and `runs.check_task` (what --dry-run does) both ask.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqcli import devices
from seqcli.errors import ConfigError

# The recurrent layers a network may hold, by their config name (RecurrentConfig.cell).
_CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run trains in and, for --precision auto, why (one line)."""

    precision: str  # fp32 | bf16
    why: str = ""


def recurrent_cells(network: nn.Module) -> tuple[str, ...]:
    """The kinds of recurrent layer in `network` ("gru", "lstm", "rnn"), sorted."""
    return tuple(
        sorted(
            name
            for name, cls in _CELLS.items()
            if any(type(m) is cls for m in network.modules())
        )
    )


def probe(device: torch.device, cell: str | None, precision: str) -> str | None:
    """None if a training step of a tiny `cell` layer (None: a linear layer alone)
    runs in `precision` on `device`; else what went wrong, in one line.

    Cached per (device, cell, precision): a run asks at set-up and `fit` again.
    """
    if precision == "fp32":
        return None
    return _probe(str(device), cell, precision)


@functools.cache
def _probe(device: str, cell: str | None, precision: str) -> str | None:
    dtype = {"bf16": torch.bfloat16}[precision]
    try:
        _tiny_step(torch.device(device), cell, dtype)
    except RuntimeError as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return text.split(". ")[0]  # oneDNN adds a paragraph of hints
    return None


def _tiny_step(device: torch.device, cell: str | None, dtype: torch.dtype) -> None:
    """Forward and backward of [cell ->] linear -> cross-entropy under autocast.

    The layer runs on unpacked rows: a packed sequence takes torch's own loop,
    while an unpacked LSTM on a CPU goes to oneDNN's fused kernel, the one that can
    refuse bf16. The random state is restored after, so a run's seed is untouched.
    """
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        rnn = _CELLS[cell](4, 8, batch_first=True).to(device) if cell else None
        head = nn.Linear(8 if rnn else 4, 5).to(device)
        x = torch.randn(2, 3, 4, device=device)  # (batch, time, features)
        targets = torch.zeros(6, dtype=torch.long, device=device)
        with torch.autocast(device.type, dtype=dtype):
            h = rnn(x)[0] if rnn is not None else x  # (batch, time, 8 | 4)
            loss = F.cross_entropy(head(h).flatten(0, 1).float(), targets)
        loss.backward()


def choose_precision(
    asked: str, device: torch.device, cells: Iterable[str]
) -> PrecisionChoice:
    """The precision of a run that asked for `asked` (fp32 | bf16 | auto).

    auto is bf16 where the hardware computes bfloat16 natively (a CPU listing
    avx512_bf16 or amx_bf16, a CUDA GPU torch says supports it) and a probe step of
    each of the network's `cells` runs in it; fp32 elsewhere, where emulated bf16
    would be slower than fp32. An explicit bf16 is kept where the probe runs (even
    if emulated) and refused where it fails.

    Raises:
        ConfigError: --precision bf16 where a bf16 step fails on this device.
    """
    if asked == "fp32":
        return PrecisionChoice("fp32")
    if asked == "auto" and (missing := _no_native_bf16(device)):
        return PrecisionChoice(
            "fp32", f"training in fp32 (--precision auto: {missing})"
        )
    failed = _first_failure(device, tuple(cells) or (None,))
    if failed is None:
        why = (
            "training in bf16 mixed precision (--precision auto: a bfloat16 training "
            f"step ran on {_hardware(device)}; --precision fp32 turns it off)"
        )
        return PrecisionChoice("bf16", why if asked == "auto" else "")
    cell, reason = failed
    problem = f"a bfloat16 {_step_name(cell)} fails on {_hardware(device)}: {reason}"
    if asked == "bf16":
        raise ConfigError(f"--precision bf16: {problem}; use --precision auto or fp32")
    return PrecisionChoice("fp32", f"training in fp32 (--precision auto: {problem})")


def _first_failure(
    device: torch.device, cells: tuple[str | None, ...]
) -> tuple[str | None, str] | None:
    for cell in cells:
        reason = probe(device, cell, "bf16")
        if reason is not None:
            return cell, reason
    return None


def _no_native_bf16(device: torch.device) -> str:
    """Why `device` does not compute bfloat16 natively ("" if it does)."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return ""
        return f"{torch.cuda.get_device_name(device)} does not support bfloat16"
    if device.type == "cpu":
        if devices.cpu_bf16_flags():
            return ""
        return f"{_hardware(device)}: bf16 would be emulated, slower than fp32"
    return f"bf16 is not tried on {device.type}"


def _step_name(cell: str | None) -> str:
    return f"{cell.upper()} training step" if cell else "training step"


def _hardware(device: torch.device) -> str:
    """The device as messages name it: the CPU's model and its bf16 instructions."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type != "cpu":
        return device.type
    flags = devices.cpu_bf16_flags()
    missing = [f for f in devices.BF16_FLAGS if f not in flags]
    facts = [f"has {', '.join(flags)}"] if flags else []
    if missing:
        facts.append(f"no {' or '.join(missing)}")
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    if cap:
        facts.append(f"ONEDNN_MAX_CPU_ISA={cap} caps what oneDNN uses")
    return f"this CPU ({devices.cpu_name()}; {'; '.join(facts)})"
