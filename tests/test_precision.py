"""Precision is probed, not assumed: --precision auto trains in bf16 only where the
hardware lists bfloat16 instructions and a bf16 step of the run's cell runs;
--precision bf16 where that step fails is one line naming the CPU."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import assert_error, assert_ok
from torch.utils._python_dispatch import TorchDispatchMode
from typer.testing import CliRunner

from seqcli import devices, precision
from seqcli.cli import app
from seqcli.config import RecurrentConfig
from seqcli.devices import cpu_bf16_flags, cpu_name
from seqcli.errors import ConfigError
from seqcli.nn.lm import LanguageModel
from seqcli.nn.recurrent import RecurrentEncoder
from seqcli.nn.seq2seq import Seq2Seq
from seqcli.precision import choose_precision, probe, recurrent_cells

CPU = torch.device("cpu")
FAILS = "could not create a primitive descriptor for the LSTM forward propagation"
# What imitates a CPU without AVX-512 on one that has it (oneDNN, MKL and ATen).
AVX2_ONLY = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
}


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\n"
        f"flags\t\t: fpu sse2 {flags}\nbogomips\t: 1\n"
    )
    return path


@pytest.mark.parametrize(
    ("flags", "listed"),
    [
        ("avx2 avx512f avx512_bf16", ["avx512_bf16"]),
        ("avx2 amx_tile amx_bf16 avx512_bf16", ["amx_bf16", "avx512_bf16"]),
        ("avx2 avx512f avx512bw", []),  # AVX-512 without bf16: emulated, slow
        ("avx2", []),
    ],
)
def test_bf16_instructions_and_the_model_are_read_from_cpuinfo(
    tmp_path: Path, flags: str, listed: list[str]
) -> None:
    info = str(_cpuinfo(tmp_path, flags))
    assert cpu_bf16_flags(info) == listed
    assert cpu_name(info) == "Test CPU 9000"


def test_an_unreadable_cpuinfo_lists_no_bf16(tmp_path: Path) -> None:
    assert cpu_bf16_flags(str(tmp_path / "missing")) == []
    assert cpu_name(str(tmp_path / "missing"))  # the platform's name, or "unknown"


def test_the_cells_probed_are_the_networks_own() -> None:
    lm = LanguageModel(20, RecurrentConfig(cell="gru", emb_size=4, hidden_size=4))
    assert recurrent_cells(lm) == ("gru",)
    s2s = Seq2Seq(20, 20, RecurrentConfig(cell="lstm", emb_size=4, hidden_size=4))
    assert recurrent_cells(s2s) == ("lstm",)
    assert recurrent_cells(torch.nn.Linear(2, 2)) == ()


def test_the_probe_leaves_the_random_state_as_it_was() -> None:
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    precision._probe.cache_clear()  # a real step, not a cached answer
    probe(CPU, "gru", "bf16")
    assert torch.equal(torch.rand(4), expected)


def _patch(
    monkeypatch: pytest.MonkeyPatch, *, flags: list[str], fails: set[str | None]
) -> list[str | None]:
    """This CPU lists `flags`; the probe of each cell in `fails` fails. Returns the
    cells probed, in order."""
    asked: list[str | None] = []

    def fake_probe(device: torch.device, cell: str | None, name: str) -> str | None:
        asked.append(cell)
        return FAILS if cell in fails else None

    monkeypatch.setattr(devices, "cpu_bf16_flags", lambda: flags)
    monkeypatch.setattr(devices, "cpu_name", lambda: "Test CPU 9000")
    monkeypatch.setattr(precision, "probe", fake_probe)
    return asked


def test_fp32_is_never_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _patch(monkeypatch, flags=[], fails={"lstm"})
    assert choose_precision("fp32", CPU, ["lstm"]).precision == "fp32"
    assert asked == []


def test_auto_without_bf16_instructions_is_fp32_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = _patch(monkeypatch, flags=[], fails=set())
    choice = choose_precision("auto", CPU, ["lstm"])
    assert choice.precision == "fp32" and asked == []  # emulated bf16: not tried
    assert "Test CPU 9000" in choice.why and "no avx512_bf16 or amx_bf16" in choice.why
    assert choose_precision("auto", torch.device("mps"), ["lstm"]).precision == "fp32"


@pytest.mark.parametrize("fails", [set(), {"lstm"}])
def test_auto_with_bf16_instructions_follows_the_probe(
    monkeypatch: pytest.MonkeyPatch, fails: set[str | None]
) -> None:
    asked = _patch(monkeypatch, flags=["avx512_bf16"], fails=fails)
    choice = choose_precision("auto", CPU, ["gru", "lstm"])
    assert asked == ["gru", "lstm"]
    assert choice.precision == ("fp32" if fails else "bf16")
    assert choice.why.startswith(f"training in {choice.precision}")
    assert (FAILS in choice.why) is bool(fails)
    assert "\n" not in choice.why


def test_bf16_where_the_probe_fails_is_one_line_naming_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _patch(monkeypatch, flags=[], fails={"lstm"})
    assert choose_precision("bf16", CPU, ["gru"]).precision == "bf16"  # emulated
    with pytest.raises(ConfigError) as caught:
        choose_precision("bf16", CPU, ["lstm"])
    message = str(caught.value)
    assert "\n" not in message
    for part in ("--precision bf16", "LSTM", "Test CPU 9000", "no avx512_bf16 or "):
        assert part in message
    assert message.endswith("use --precision auto or fp32")


def _train_lm(tmp_path: Path, *flags: str) -> list[str]:
    corpus = tmp_path / "c.txt"
    corpus.write_text("The cat sees the dog .\n" * 12, encoding="utf-8")
    tiny = "--emb-size 4 --hidden-size 8 --batch-size 4 --bptt 4 --threads 1"
    args = ["train-lm", str(corpus), "--level", "char", "--epochs", "1"]
    return [
        *args,
        *tiny.split(),
        "--device",
        "cpu",
        "-o",
        str(tmp_path / "m.pt"),
        *flags,
    ]


@pytest.mark.parametrize("dry_run", [True, False])
def test_train_lm_refuses_bf16_where_the_probe_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dry_run: bool
) -> None:
    _patch(monkeypatch, flags=["avx512_bf16"], fails={"lstm"})
    args = _train_lm(tmp_path, "--precision", "bf16", *(["--dry-run"] * dry_run))
    result = CliRunner().invoke(app, args)
    assert_error(result, "--precision bf16: a bfloat16 LSTM training step fails", FAILS)
    assert not (tmp_path / "m.pt").exists()


def test_train_lm_auto_says_it_chose_fp32_where_the_probe_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _patch(monkeypatch, flags=["avx512_bf16"], fails={"lstm"})
    result = CliRunner().invoke(app, _train_lm(tmp_path, "--dry-run"))
    assert_ok(result)
    lines = [line for line in result.stderr.splitlines() if "--precision auto" in line]
    assert len(lines) == 1 and lines[0].startswith("training in fp32")


@pytest.mark.slow
@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="an x86-64 ISA cap"
)
def test_a_cpu_capped_to_avx2_refuses_bf16_in_one_line(tmp_path: Path) -> None:
    """The real probe, no patch: with oneDNN capped to AVX2 (what a CPU without
    AVX-512 has) its bf16 LSTM kernel cannot be built, on any x86-64 CPU."""
    args = _train_lm(tmp_path, "--precision", "bf16", "--dry-run")
    env = {**os.environ, **AVX2_ONLY}
    done = subprocess.run(
        [sys.executable, "-m", "seqcli", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: --precision bf16: a bfloat16 LSTM")
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in lines[0]


# --- what each cell computes in under autocast -------------------------------------
# Output dtype of RecurrentEncoder under CPU bf16 autocast, per cell and path: every
# cell's matrix products run in bf16, but only oneDNN's fused LSTM (unpacked rows)
# and the Elman cell keep their state in bf16; torch's own GRU loop, and its LSTM
# loop on packed rows, update the state in fp32 (bf16 gates times an fp32 state).
CPU_OUTPUTS = {
    ("lstm", "windows"): torch.bfloat16,
    ("lstm", "packed"): torch.float32,
    ("gru", "windows"): torch.float32,
    ("gru", "packed"): torch.float32,
    ("rnn", "windows"): torch.bfloat16,
    ("rnn", "packed"): torch.bfloat16,
}
_PRODUCTS = ("mm", "addmm", "mkldnn_rnn_layer")


class _ProductDtypes(TorchDispatchMode):
    """Records the input dtypes of every matrix product dispatched under it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, ...]] = set()

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if func.__name__.split(".")[0] in _PRODUCTS:
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            self.seen.add(tuple(str(t.dtype) for t in tensors))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(
    ("cell", "path"),
    [
        pytest.param(*key, marks=pytest.mark.bf16("lstm"))
        if key == ("lstm", "windows")
        else key
        for key in CPU_OUTPUTS
    ],
)
def test_what_each_cell_computes_in_under_cpu_bf16_autocast(
    cell: str, path: str
) -> None:
    torch.manual_seed(0)
    encoder = RecurrentEncoder(
        20, RecurrentConfig(cell=cell, emb_size=4, hidden_size=8)
    )
    ids = torch.randint(1, 20, (2, 5))  # (batch, time)
    lengths = torch.tensor([5, 3]) if path == "packed" else None
    products = _ProductDtypes()
    with torch.autocast("cpu", dtype=torch.bfloat16), products:
        outputs, _ = encoder(ids, lengths)
    assert outputs.dtype == CPU_OUTPUTS[(cell, path)]
    assert products.seen and all(
        set(dtypes) == {"torch.bfloat16"} for dtypes in products.seen
    )
