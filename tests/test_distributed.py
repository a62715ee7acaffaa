"""Data-parallel training under `torchrun`: sharding, rank 0's files, resuming.

The unit tests check how an epoch's data is shared among ranks and how a snapshot
resumes under another number of processes. The end-to-end tests launch the real
command line, ``python -m torch.distributed.run --nproc-per-node 2 -m seqcli
train-lm ...`` (gloo, CPU, one thread per process) on a tiny corpus. Each launch
costs ~10 s of process start-up (three torch imports), so there are two of them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner, Result

from seqcli.batching import Batch, lm_rows, lm_shard, shard
from seqcli.checkpoint import load_checkpoint
from seqcli.cli import app
from seqcli.config import RecurrentConfig, SentimentConfig
from seqcli.devices import data_parallel
from seqcli.nn.lm import LanguageModel
from seqcli.reporting import StepInfo
from seqcli.runs import find_resume, run_files
from seqcli.tasks import lm as lm_task
from seqcli.tasks import sentiment as sentiment_task
from seqcli.tasks.lm_inference import load_lm, sample

ROOT = Path(__file__).resolve().parents[1]
# One network for every run here, one layer of 16 units: a step takes a millisecond.
NETWORK = ["--emb-size", "8", "--hidden-size", "16", "--dropout", "0", "--seed", "1"]
LM = [*NETWORK, "--num-layers", "1", "--bptt", "8", "--lr", "0.01", "--device", "cpu"]
POSITIVE = ("good", "great", "fine")
NEGATIVE = ("bad", "awful", "poor")


def _gloo_missing() -> str | None:
    if not torch.distributed.is_available():
        return "this torch build has no torch.distributed"
    if not torch.distributed.is_gloo_available():
        return "this torch build has no gloo backend"
    return None


needs_gloo = pytest.mark.skipif(
    _gloo_missing() is not None, reason=str(_gloo_missing())
)


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    """In-process runs set torch's thread count; give the next test its own back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def threads_config(tmp_path: Path) -> Path:
    """One CPU thread per process, no early stop (the tests count epochs), and the
    lr decaying on plateaus alone: a run given --max-time would otherwise pace its
    lr by the clock (the budget schedule), and clocks differ from run to run."""
    path = tmp_path / "run.yaml"
    path.write_text(
        "train:\n  num_threads: 1\n  early_stop: 0\n  lr_schedule: plateau\n",
        encoding="utf-8",
    )
    return path


def torchrun(*args: object, cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run ... -m seqcli ARGS`` with this checkout.

    `--standalone` lets torchrun pick a free port, so runs in parallel do not meet.
    A run that hangs (a rank waiting in a collective) is killed, whole process
    group, and fails the test instead of the suite.
    """
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "200",  # whole lines on a non-terminal stderr
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={nproc}", "-m", "seqcli", *map(str, args)]
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun hung: {' '.join(command)}\n{err}")
    result = subprocess.CompletedProcess(command, proc.returncode, out, err)
    assert result.returncode == 0, result.stderr
    return result


def invoke(*args: object, input: str | None = None) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def read_log(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def flat(text: str) -> str:
    """Messages with their line wrapping undone."""
    return " ".join(text.split())


def assert_rank0_files_only(folder: Path, name: str) -> None:
    """The best model, its snapshot and one log: no second copy, no temporaries."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{name}.pt", f"{name}.last.pt", f"{name}.metrics.jsonl"]
    )


# --- sharding ----------------------------------------------------------------------
def test_shard_gives_each_rank_other_batches_and_as_many_steps():
    batches = [[i] for i in range(7)]
    shares = [shard(batches, rank, 2) for rank in range(2)]
    assert shares[0] == [[0], [2], [4], [6]]
    assert shares[1] == [[1], [3], [5], [0]]  # wrapped round: 4 steps on each
    assert shard(batches, 0, 1) == batches
    assert [len(shard(batches[:1], r, 3)) for r in range(3)] == [1, 1, 1]


def test_lm_shard_is_the_one_process_layout_of_a_larger_batch():
    stream = torch.arange(100)
    rows = [lm_shard(stream, 3, rank, 2) for rank in range(2)]
    assert [r.shape for r in rows] == [(3, 16), (3, 16)]  # same windows on each
    assert not set(rows[0].flatten().tolist()) & set(rows[1].flatten().tolist())
    together = torch.stack(rows, dim=1).reshape(6, 16)  # interleave ranks' rows
    assert torch.equal(together, lm_rows(stream, 6))
    assert torch.equal(lm_shard(stream, 3, 0, 1), lm_rows(stream, 3))


def test_sentiment_ranks_train_on_disjoint_examples(tmp_path: Path):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(40)]
    train = tmp_path / "train.tsv"
    body = "".join(f"{text}\t{label}\n" for text, label in rows)
    train.write_text(f"text\tlabel\n{body}", encoding="utf-8")
    cfg = SentimentConfig(train_path=str(train), valid_path=str(train))
    cfg.train.batch_size = 4
    data = sentiment_task.prepare_data(cfg)
    batches = sentiment_task._batch_factory(data.train, cfg)
    seen = [
        [tuple(row) for b in batches(1, rank, 2) for row in b.ids.tolist()]
        for rank in range(2)
    ]
    assert len(seen[0]) == len(seen[1]) == 20
    assert len(set(seen[0]) | set(seen[1])) == 40  # every example once, on one rank


# --- the DDP wrapper ----------------------------------------------------------------
@pytest.fixture
def process_group(tmp_path: Path) -> Iterator[None]:
    """A gloo group of this one process, enough to build DDP in-process."""
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


@needs_gloo
def test_ddp_steps_that_skip_an_adaptive_softmax_cluster(process_group):
    """A batch without targets in a tail cluster leaves its weights without a
    gradient; the next step under DDP used to fail on it."""
    network = LanguageModel(
        12, RecurrentConfig(emb_size=8, hidden_size=8, num_layers=1, dropout=0.0),
        softmax="adaptive", cutoffs=[6], tie_weights=False,
    )  # fmt: skip
    model = data_parallel(network, torch.device("cpu"))
    head_only = torch.randint(0, 6, (2, 5))  # no id of the tail cluster 6..11
    for _ in range(2):
        batch = Batch(ids=head_only, targets=head_only, carry=False)
        loss, _ = model(batch)
        loss.backward()
    assert network.adaptive.tail[0][0].weight.grad is None


# --- resuming under another number of processes -----------------------------------
class Recorder:
    """A `Reporter` that keeps steps and messages, and stops the run after `stop_at`
    steps as Ctrl-C would."""

    def __init__(self, stop_at: int = 0):
        self.steps: list[StepInfo] = []
        self.messages: list[str] = []
        self.stop_at = stop_at

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        pass

    def on_step(self, info: StepInfo) -> None:
        self.steps.append(info)
        if len(self.steps) == self.stop_at:
            raise KeyboardInterrupt

    def on_eval(self, record: dict[str, float]) -> None:
        pass

    def on_message(self, text: str) -> None:
        self.messages.append(text)


@pytest.mark.parametrize("world", [1, 2])
def test_a_half_done_epoch_restarts_when_the_world_size_changed(lm_config, world):
    """Snapshot step k of N ranks is no position among the batches of M ranks."""
    cfg = lm_config(epochs=1, save_every=0.0)
    lm_task.train_lm(cfg, reporter=Recorder(stop_at=3))
    _, snapshot = find_resume("lm", cfg.out)
    progress = snapshot["train_state"]["progress"]
    assert (progress["step_in_epoch"], progress["world"]) == (3, 1)
    progress["world"] = 2 if world == 1 else 4  # as if taken under torchrun
    rest = Recorder()
    lm_task.train_lm(cfg, resume=snapshot, reporter=rest)
    assert rest.steps[0].step_in_epoch == 1  # the whole epoch again
    assert any("restarts from its first batch" in m for m in rest.messages)
    final = load_checkpoint(run_files(cfg.out).last)["train_state"]["progress"]
    assert (final["epoch"], final["step_in_epoch"], final["world"]) == (2, 0, 1)


def test_a_half_done_epoch_continues_under_the_same_world_size(lm_config):
    cfg = lm_config(epochs=1, save_every=0.0)
    lm_task.train_lm(cfg, reporter=Recorder(stop_at=3))
    _, snapshot = find_resume("lm", cfg.out)
    rest = Recorder()
    lm_task.train_lm(cfg, resume=snapshot, reporter=rest)
    assert rest.steps[0].step_in_epoch == 4
    assert not any("restarts" in m for m in rest.messages)


# --- end to end under torchrun -------------------------------------------------------
@needs_gloo
@pytest.mark.slow
def test_train_lm_under_torchrun_resumed_across_world_sizes(
    tmp_path: Path, corpus_file: Path, threads_config: Path
):
    """One process for epoch 1, two for epoch 2, one again for epoch 3.

    Two ranks of batch 4 train exactly as one process of batch 8 does: with dropout
    off, DDP's average of the two ranks' gradients is the gradient of the batch
    that holds both ranks' rows. So epoch 2's validation loss equals that of a
    one-process run to rounding only if each rank trained on its own half.
    """
    flags = [corpus_file, *LM, "-c", threads_config]
    reference = tmp_path / "one" / "lm.pt"
    invoke("train-lm", *flags, "-o", reference, "--batch-size", 8, "--epochs", 2, "-q")
    out = tmp_path / "ddp" / "lm.pt"
    invoke("train-lm", *flags, "-o", out, "--batch-size", 8, "--epochs", 1, "-q")

    # --max-time makes the ranks agree on stopping at every step; --test has rank
    # 0 alone score the best model and add the scores to its checkpoint.
    ddp = torchrun("train-lm", corpus_file, "-o", "ddp/lm.pt", "--resume",
                   "--epochs", 2, "--batch-size", 4, "--max-time", 60,
                   "--test", corpus_file, cwd=tmp_path)  # fmt: skip
    assert ddp.stdout.strip() == "ddp/lm.pt"  # rank 0 alone prints the outcome
    stderr = flat(ddp.stderr)
    assert "resuming at epoch 2, step 0" in stderr
    assert "2 processes x batch size 4 = effective batch size 8" in stderr
    assert "learning rate 0.01" in stderr
    assert stderr.count("training tokens") == 1  # the data summary, once
    assert_rank0_files_only(out.parent, "lm")
    log = read_log(out.with_name("lm.metrics.jsonl"))
    assert [r["epoch"] for r in log] == [1, 2]  # no line twice
    one = read_log(reference.with_name("lm.metrics.jsonl"))
    assert [r["step"] for r in log] == [r["step"] for r in one]
    assert log[1]["loss"] == pytest.approx(one[1]["loss"], rel=1e-4)
    assert log[1]["loss"] < log[0]["loss"]
    snapshot = out.with_name("lm.last.pt")
    progress = load_checkpoint(snapshot)["train_state"]["progress"]
    assert (progress["epoch"], progress["world"]) == (3, 2)

    assert load_checkpoint(out)["metrics"]["test"]["loss"] > 0
    lm = load_lm(out)  # one process reads what two wrote
    assert len(sample(lm, num=2, max_length=5, seed=1)) == 2
    resumed = invoke("train-lm", corpus_file, "-o", out, "--resume", "--epochs", 3)
    assert "resuming at epoch 3, step 0" in flat(resumed.stderr)
    assert [r["epoch"] for r in read_log(out.with_name("lm.metrics.jsonl"))] == [
        1,
        2,
        3,
    ]
    progress = load_checkpoint(snapshot)["train_state"]["progress"]
    assert (progress["epoch"], progress["world"]) == (4, 1)


def _sentiment_rows(n: int, seed: int) -> str:
    """A header and `n` short texts whose label is given by one sentiment word."""
    rng = random.Random(seed)
    lines = ["text\tlabel"]
    for i in range(n):
        label = ("neg", "pos")[i % 2]
        word = rng.choice(POSITIVE if label == "pos" else NEGATIVE)
        filler = rng.choices(("the", "film", "plot", "was", "a"), k=rng.randint(0, 3))
        filler.insert(rng.randint(0, len(filler)), word)
        lines.append(f"{' '.join(filler)}\t{label}")
    return "\n".join(lines) + "\n"


@needs_gloo
@pytest.mark.slow
def test_train_sentiment_under_torchrun(tmp_path: Path, threads_config: Path):
    """A fresh run on two ranks learns as one process does; one process resumes it."""
    train, valid = tmp_path / "train.tsv", tmp_path / "valid.tsv"
    train.write_text(_sentiment_rows(48, 1), encoding="utf-8")
    valid.write_text(_sentiment_rows(16, 2), encoding="utf-8")
    flags = [train, "--valid", valid, *NETWORK, "--lr", "0.05", "--epochs", 6]
    flags += ["-c", threads_config, "--device", "cpu"]
    ddp = torchrun("train-sentiment", *flags, "-o", "ddp/clf.pt", "--batch-size", 4,
                   cwd=tmp_path)  # fmt: skip
    assert ddp.stdout.strip() == "ddp/clf.pt"
    assert "effective batch size 8" in flat(ddp.stderr)
    out = tmp_path / "ddp" / "clf.pt"
    assert_rank0_files_only(out.parent, "clf")
    log = read_log(out.with_name("clf.metrics.jsonl"))
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5, 6]

    reference = tmp_path / "one" / "clf.pt"
    invoke("train-sentiment", *flags, "-o", reference, "--batch-size", 8, "-q")
    one = read_log(reference.with_name("clf.metrics.jsonl"))
    # As many steps of the same effective batch; the batches differ (length
    # buckets of 4 rows, not 8), so the two learn alike but not identically.
    assert [r["step"] for r in log] == [r["step"] for r in one]
    best, best_one = max(r["accuracy"] for r in log), max(r["accuracy"] for r in one)
    assert best >= 0.8 and best >= best_one - 0.15

    classified = invoke("classify", "-", "-m", out, input="a good film\n")
    assert classified.stdout.split() == ["pos"]  # one process uses what two wrote
    resumed = invoke(
        "train-sentiment", *flags[:3], "-o", out, "--resume", "--epochs", 7
    )
    assert "resuming at epoch 7, step 0" in flat(resumed.stderr)
    assert [r["epoch"] for r in read_log(out.with_name("clf.metrics.jsonl"))] == list(
        range(1, 8)
    )


# --- a loss that diverges on one rank ------------------------------------------------
# One rank of a two-process group: the real command line, with rank 1's training
# loss turned NaN at its third step.
_ONE_RANK_DIVERGES = """
import os, sys
from seqcli.nn.lm import LanguageModel
from seqcli.__main__ import run

forward = LanguageModel.forward
steps = []

def poisoned(self, batch):
    loss, state = forward(self, batch)
    if self.training:
        steps.append(1)
        if os.environ["RANK"] == "1" and len(steps) == 3:
            return loss * float("nan"), state
    return loss, state

LanguageModel.forward = poisoned
sys.argv[0] = "seqcli"
run()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@needs_gloo
@pytest.mark.slow
def test_a_loss_diverging_on_one_rank_stops_every_rank_with_one_line(
    tmp_path: Path, corpus_file: Path, threads_config: Path
):
    """The ranks used to part: rank 1 gave the one-line error while rank 0 waited
    in backward's all-reduce for it, and ended in a traceback or a timeout.

    The ranks are started as torchrun starts them, without torchrun, which on a
    failed rank stops the others and prints a report of its own.
    """
    script = tmp_path / "one_rank_diverges.py"
    script.write_text(_ONE_RANK_DIVERGES, encoding="utf-8")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "400",  # the error on one line of a non-terminal stderr
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }
    args = ["train-lm", corpus_file, *LM, "--batch-size", 4, "-c", threads_config]
    args += ["--epochs", 1, "-o", "m.pt", "-q"]
    ranks = [
        subprocess.Popen(
            [sys.executable, str(script), *map(str, args)],
            cwd=tmp_path,
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for rank in range(2)
    ]
    done = []
    for proc in ranks:
        try:
            done.append(proc.communicate(timeout=180))
        except subprocess.TimeoutExpired:
            for other in ranks:
                os.killpg(other.pid, signal.SIGKILL)
            pytest.fail(f"a rank hung:\n{proc.communicate()[1]}")
    lines = []
    for proc, (out, err) in zip(ranks, done, strict=True):
        assert "Traceback" not in err, err
        assert proc.returncode == 2, err
        assert out == ""
        (line,) = err.strip().splitlines()
        lines.append(line)
    assert lines[0] == lines[1]  # the same message on every rank
    assert lines[0].startswith("error: training diverged: the loss is nan on rank 1 ")
    assert "at step 3 (epoch 1)" in lines[0]
