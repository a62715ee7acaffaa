"""`--threads N` on every command that runs torch, and `seqcli.threads`, which sets
the threads for training and inference alike (0: measured)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import assert_error, assert_ok
from typer.testing import CliRunner

from seqcli import threads
from seqcli.checkpoint import save_checkpoint
from seqcli.cli import app
from seqcli.config import LMConfig, RecurrentConfig, TokenizerConfig, to_dict
from seqcli.errors import ConfigError
from seqcli.tasks import lm as task
from seqcli.tokenizers import build_tokenizer
from seqcli.vocab import SPECIALS, Vocab

# Every command that computes with torch, as its words on the command line.
TORCH_COMMANDS = [
    ["train-lm"],
    ["train-sentiment"],
    ["train-classifier"],
    ["train-embeddings"],
    ["train-translate"],
    ["train-ner"],
    ["sample"],
    ["score"],
    ["classify"],
    ["tag"],
    ["translate"],
    ["evaluate"],
    ["embeddings", "neighbors"],
    ["embeddings", "analogy"],
    ["embeddings", "evaluate"],
]


@pytest.fixture
def lm_checkpoint(tmp_path: Path) -> Path:
    """A tiny word LM, built (not trained): enough to sample from."""
    torch.manual_seed(0)
    cfg = LMConfig(
        tokenizer=TokenizerConfig(level="word", word_split="whitespace"),
        model=RecurrentConfig(emb_size=8, hidden_size=16, num_layers=1, dropout=0.0),
    )
    vocab = Vocab([*SPECIALS, "the", "cat", "sat", "."])
    network = task.build_network(cfg, len(vocab))
    payload = {
        "task": "lm",
        "config": to_dict(cfg),
        "vocab": {"tokens": vocab.to_list()},
        "tokenizer": build_tokenizer(cfg.tokenizer, []).to_dict(),
        "state_dict": network.state_dict(),
        "metrics": {},
    }
    return save_checkpoint(tmp_path / "lm.pt", payload)


def test_set_threads_sets_the_count_asked():
    assert threads.set_threads(1) == 1
    assert torch.get_num_threads() == 1
    assert threads.set_threads(2) == 2
    assert torch.get_num_threads() == 2


def test_negative_threads_are_refused():
    with pytest.raises(ConfigError, match="--threads"):
        threads.set_threads(-1)


@pytest.mark.parametrize("rows", [1, 32])
def test_automatic_threads_are_measured_within_the_cores(rows: int):
    count = threads.set_threads(0, rows=rows)
    assert 1 <= count <= threads.available_cores()
    assert torch.get_num_threads() == count


def test_automatic_threads_respect_omp_num_threads_and_torchrun(monkeypatch):
    monkeypatch.setattr(threads, "_probe_time", lambda *a, **k: pytest.fail("probed"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.auto_threads() == 1  # one core allowed: nothing to measure
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1024")  # more processes than cores
    assert threads.available_cores() == 1
    assert threads.auto_threads() == 1


def test_more_threads_are_chosen_only_when_faster(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    # Seconds per probe by thread count: 2 threads help, 4 barely, 8 stall.
    timing = {1: 1.0, 2: 0.6, 4: 0.55, 8: 9.0}
    monkeypatch.setattr(threads, "_probe_time", lambda n, rows, limit: timing[n])
    assert threads.auto_threads() == 2
    timing.update({2: 30.0})  # a busy core: two threads wait on each other
    assert threads.auto_threads() == 1


@pytest.mark.parametrize("command", TORCH_COMMANDS, ids=" ".join)
def test_every_torch_command_has_threads(command: list[str]):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert_ok(result)
    assert "--threads" in result.output


@pytest.mark.parametrize("count", [1, 2])
def test_sample_applies_threads(lm_checkpoint: Path, count: int):
    args = ["sample", "-m", str(lm_checkpoint), "--threads", str(count), "--seed", "1"]
    result = CliRunner().invoke(app, args)
    assert_ok(result)
    assert torch.get_num_threads() == count


def test_sample_chooses_threads_by_itself(lm_checkpoint: Path):
    torch.set_num_threads(1)
    result = CliRunner().invoke(app, ["sample", "-m", str(lm_checkpoint)])
    assert_ok(result)
    assert 1 <= torch.get_num_threads() <= threads.available_cores()


def test_train_command_applies_threads(corpus_file: Path):
    args = ["train-lm", str(corpus_file), "--threads", "2", "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert_ok(result)
    assert "num_threads: 2" in result.stdout
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(
    "command",
    [["sample", "-m", "x.pt"], ["train-lm", "corpus.txt"], ["embeddings", "analogy"]],
    ids=lambda c: c[0],
)
def test_negative_threads_is_a_one_line_error(command: list[str]):
    result = CliRunner().invoke(app, [*command, "--threads", "-1"])
    assert_error(result, "--threads -1", "0 (automatic)")


def test_training_probes_a_whole_batch_of_sequences(monkeypatch):
    from seqcli import runs
    from seqcli.config import TrainConfig

    asked = []
    monkeypatch.setattr(runs, "set_threads", lambda n, rows: asked.append(rows) or 1)
    runs.prepare(TrainConfig(batch_size=40, device="cpu"))
    # 40 rows a time step, but the products a step is made of see 40 x time rows.
    assert asked == [threads.training_rows(40)] and asked[0] > 40
    assert threads.training_rows(40) <= threads.PROBE_MAX_ROWS
