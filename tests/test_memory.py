"""A network too big for the machine is refused from its config, in one line,
before its data are read or its memory is allocated (`seqcli.memory`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok
from typer.testing import CliRunner

import seqcli.memory
from seqcli.cli import app
from seqcli.config import LMConfig, load_config
from seqcli.memory import (
    available_bytes,
    check_fits,
    network_size,
    parameter_count,
)
from seqcli.tasks.lm import build_network

pytestmark = pytest.mark.usefixtures("one_thread")

HUGE = "100000000"  # --hidden-size: ~10^17 parameters


def _lm_config(**overrides: object) -> LMConfig:
    base = {"train_path": "unused.txt", "model.emb_size": 8, "model.hidden_size": 16}
    return load_config(LMConfig, None, {**base, **overrides})


def test_parameter_count_is_the_built_networks_without_allocating_it() -> None:
    cfg = _lm_config(**{"model.num_layers": 2})
    built = build_network(cfg, 50)
    expected = sum(p.numel() for p in built.parameters())
    assert parameter_count(lambda: build_network(cfg, 50)) == expected
    # A network no machine could hold is counted just as well (meta device).
    huge = _lm_config(**{"model.hidden_size": int(HUGE)})
    assert parameter_count(lambda: build_network(huge, 50)) > 10**16


def test_adam_keeps_four_copies_and_sgd_two() -> None:
    cfg = _lm_config()
    count = parameter_count(lambda: build_network(cfg, 20))
    adam = network_size(lambda: build_network(cfg, 20), "adam")
    sgd = network_size(lambda: build_network(cfg, 20), "sgd")
    assert (adam.parameters, sgd.parameters) == (count, count)
    assert adam.training_bytes == 4 * 4 * count
    assert sgd.training_bytes == 2 * 4 * count


def test_available_memory_is_known_on_this_machine() -> None:
    free = available_bytes("cpu")
    assert free is not None and free > 0


def test_without_meminfo_the_free_pages_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    monkeypatch.setattr(seqcli.memory, "_mem_available", lambda: None)
    free = available_bytes("cpu")
    assert free is not None
    assert abs(free - pages) < pages // 2  # the same count, a moment later


def test_check_fits_refuses_above_the_available_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _lm_config()
    size = network_size(lambda: build_network(cfg, 20), "adam")
    monkeypatch.setattr(seqcli.memory, "available_bytes", lambda device: None)
    check_fits(lambda: build_network(cfg, 20), optimizer="adam", device="cpu")
    free = size.training_bytes  # exactly enough
    monkeypatch.setattr(seqcli.memory, "available_bytes", lambda device: free)
    check_fits(lambda: build_network(cfg, 20), optimizer="adam", device="cpu")
    monkeypatch.setattr(seqcli.memory, "available_bytes", lambda device: free - 1)
    with pytest.raises(seqcli.memory.ConfigError, match=f"{size.parameters:,} param"):
        check_fits(lambda: build_network(cfg, 20), optimizer="adam", device="cpu")


@pytest.fixture
def unreadable(tmp_path: Path) -> Path:
    """A file each task refuses once it reads it (too little text, no labels)."""
    path = tmp_path / "bad.txt"
    path.write_text("x\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["train-lm", "{f}", "--hidden-size", HUGE],
        ["train-sentiment", "{f}", "--hidden-size", HUGE],
        ["train-ner", "{f}", "--hidden-size", HUGE],
        ["train-translate", "{f}", "{f}", "--hidden-size", HUGE],
        ["train-embeddings", "{f}", "--emb-size", "10000000000"],
    ],
    ids=lambda c: c[0],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_a_network_too_big_is_refused_before_the_data_are_read(
    command: list[str], dry_run: bool, unreadable: Path, tmp_path: Path
) -> None:
    args = [a.format(f=unreadable) for a in command]
    args += ["--threads", "1", "-o", tmp_path / "m.pt"]
    result = CliRunner().invoke(app, [*map(str, args), *(["--dry-run"] * dry_run)])
    line = assert_error(result, "the network needs at least ~", "GB available")
    assert re.search(r"lower --(hidden|emb)-size", line)
    assert not (tmp_path / "m.pt").exists()


def test_the_exact_check_follows_once_the_vocabulary_is_built(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine with room for the smallest vocabulary's network and not for the
    real one: the refusal comes after the data are read, with the exact count."""
    tiny = ["--emb-size", "8", "--hidden-size", "16", "--num-layers", "1"]
    out = tmp_path / "lm.pt"
    args = ["train-lm", str(corpus_file), *tiny, "--threads", "1", "-o", str(out)]
    ok = CliRunner().invoke(app, [*args, "--dry-run"])
    assert_ok(ok)
    found = re.search(
        r"network: ([\d,]+) parameters; training keeps ([\d,]+) bytes", ok.stderr
    )
    assert found, ok.stderr
    parameters = int(found[1].replace(",", ""))
    assert int(found[2].replace(",", "")) == 16 * parameters  # fp32, Adam
    smallest = parameter_count(
        lambda: build_network(_lm_config(**{"model.num_layers": 1}), 4)
    )
    assert smallest < parameters  # the corpus has more words than the specials
    free = 16 * (smallest + parameters) // 2
    monkeypatch.setattr(seqcli.memory, "available_bytes", lambda device: free)
    line = assert_error(CliRunner().invoke(app, [*args, "--dry-run"]))
    assert "at least" not in line
    assert f"({parameters:,} parameters)" in line
