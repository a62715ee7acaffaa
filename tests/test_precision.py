"""--precision auto: bf16 only where the hardware computes bfloat16 natively."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqcli import devices
from seqcli.devices import cpu_has_bf16, resolve_precision

CPU = torch.device("cpu")


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\nbogomips\t: 1\n")
    return path


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("avx2 avx512f avx512_bf16", True),
        ("avx2 amx_tile amx_bf16", True),
        ("avx2 avx512f avx512bw", False),  # AVX-512 without bf16: emulated, slow
        ("avx2", False),
    ],
)
def test_cpu_bf16_is_read_from_the_cpu_flags(
    tmp_path: Path, flags: str, native: bool
) -> None:
    assert cpu_has_bf16(str(_cpuinfo(tmp_path, flags))) is native


def test_an_unreadable_cpuinfo_means_no_bf16(tmp_path: Path) -> None:
    assert cpu_has_bf16(str(tmp_path / "missing")) is False


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_hardware_and_explicit_choices_stand(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: native)
    assert resolve_precision("auto", CPU) == ("bf16" if native else "fp32")
    assert resolve_precision("fp32", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"  # the user's choice, even if slow
    assert resolve_precision("auto", torch.device("mps")) == "fp32"
