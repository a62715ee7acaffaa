"""Runs that end early lose nothing: SIGTERM saves as Ctrl-C does, Ctrl-C at start-up
is quiet, a diverged run says what is kept, and a resumed run's log has no repeats.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from seqcli.batching import Batch
from seqcli.checkpoint import load_checkpoint
from seqcli.cli import app
from seqcli.config import TrainConfig
from seqcli.errors import TrainingDiverged
from seqcli.runs import find_resume, run_files
from seqcli.tasks import lm as task
from seqcli.training import Objective, StepInfo, fit

ROOT = Path(__file__).resolve().parents[1]


class OnStep:
    """A reporter that calls `action(step)` at every training step."""

    def __init__(self, action):
        self.action = action

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        pass

    def on_step(self, info: StepInfo) -> None:
        self.action(info)

    def on_eval(self, record: dict[str, float]) -> None:
        pass

    def on_message(self, text: str) -> None:
        self.messages = [*getattr(self, "messages", []), text]


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


# --- SIGTERM --------------------------------------------------------------------------
def test_sigterm_saves_a_snapshot_as_ctrl_c_does(lm_config):
    cfg = lm_config(epochs=2)
    before = signal.getsignal(signal.SIGTERM)

    def terminate(info: StepInfo) -> None:
        if info.step_in_epoch == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    reporter = OnStep(terminate)
    outcome = task.train_lm(cfg, reporter=reporter)
    assert outcome.stopped_by == "interrupted"
    files = run_files(cfg.out)
    progress = load_checkpoint(files.last)["train_state"]["progress"]
    assert (progress["epoch"], progress["step_in_epoch"]) == (1, 3)
    assert f"terminated: progress saved in {files.last}" in reporter.messages[-1]
    assert signal.getsignal(signal.SIGTERM) == before  # restored when fit returns


TINY = ["--emb-size", "8", "--hidden-size", "8", "--batch-size", "4", "--bptt", "8"]
TINY += ["--seed", "1", "--device", "cpu"]


@pytest.mark.slow
def test_sigterm_to_a_training_command_then_resume(corpus_file: Path, tmp_path: Path):
    out = tmp_path / "m.pt"
    settings = tmp_path / "run.yaml"
    settings.write_text("train: {early_stop: 0}\n")  # nothing ends it but SIGTERM
    command = [sys.executable, "-m", "seqcli", "train-lm", str(corpus_file)]
    command += ["-o", str(out), "-c", str(settings), *TINY]
    run = subprocess.Popen(
        [*command, "--epochs", "100000"],
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        deadline = time.monotonic() + 120
        while not run_files(out).last.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr
    said = " ".join(stderr.split())  # lines may wrap at 80 columns
    assert f"terminated: progress saved in {run_files(out).last}" in said
    assert not Path(f"{out}.lock").exists()
    saved = load_checkpoint(run_files(out).last)["train_state"]["progress"]

    # --max-time is the total of all runs: a budget a moment beyond the time
    # already trained lets a few more steps through.
    budget = saved["elapsed"] / 60 + 0.002
    resumed = subprocess.run(
        [*command, "--resume", "--max-time", repr(budget)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at epoch {saved['epoch']}" in " ".join(resumed.stderr.split())
    after = load_checkpoint(run_files(out).last)["train_state"]["progress"]
    assert after["global_step"] > saved["global_step"]
    assert after["elapsed"] >= saved["elapsed"] + 0.1


# --- Ctrl-C before the command runs ------------------------------------------------
@pytest.mark.parametrize(
    ("module", "args"),
    # (`seqcli --help` alone imports no typer: it lists the commands from a table.)
    [("typer", ["bleu", "--help"]), ("yaml", ["train-lm", "c.txt"])],
)
def test_ctrl_c_while_importing_exits_quietly(tmp_path: Path, module, args):
    # A module whose import is interrupted stands for Ctrl-C pressed at that moment.
    (tmp_path / f"{module}.py").write_text("raise KeyboardInterrupt\n")
    done = subprocess.run(
        [sys.executable, "-m", "seqcli", *args],
        capture_output=True,
        text=True,
        env={**env(), "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
        timeout=60,
    )
    assert done.returncode == 130
    assert done.stderr == ""


# --- divergence -----------------------------------------------------------------------
class NaNAt(nn.Module):
    """A network whose loss is finite until call `at`, then NaN."""

    def __init__(self, at: int):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.calls, self.at = 0, at

    def forward(self, batch: Batch) -> torch.Tensor:
        self.calls += 1
        loss = (self.w * batch.ids.float()).mean()
        return loss * float("nan") if self.calls >= self.at else loss


def test_a_diverged_run_says_where_what_is_kept_and_what_to_try(tmp_path: Path):
    saved = {"best": tmp_path / "m.pt", "last": tmp_path / "m.last.pt"}
    cfg = TrainConfig(epochs=1, lr=0.5, lr_decay=1.0, eval_every=1, save_every=0.0)
    with pytest.raises(TrainingDiverged) as caught:
        fit(
            NaNAt(3),
            batches=lambda epoch, rank, world: (
                Batch(torch.ones(2, 3)) for _ in "abcde"
            ),
            steps_per_epoch=5,
            evaluate=lambda net: {"loss": 1.0},
            objective=Objective("loss"),
            cfg=cfg,
            save=lambda kind, state, metrics: saved[kind],
        )
    message = str(caught.value)
    assert caught.value.step == 3
    assert "\n" not in message
    assert message.startswith("training diverged: the loss is nan at step 3 (epoch 1)")
    assert f"kept: {saved['best']} (best weights) and {saved['last']}" in message
    assert "--lr (now 0.5)" in message and "--clip (now 0.25)" in message


def test_a_diverged_train_lm_is_one_line_and_keeps_the_snapshot(
    runner: CliRunner, corpus_file: Path, tmp_path: Path, monkeypatch
):
    calls = []
    forward = task.LanguageModel.forward

    def diverging(self, batch):
        calls.append(1)
        loss, state = forward(self, batch)
        return (loss * float("nan") if len(calls) >= 3 else loss), state

    monkeypatch.setattr(task.LanguageModel, "forward", diverging)
    out = tmp_path / "m.pt"
    result = runner.invoke(
        app,
        ["train-lm", str(corpus_file), "-o", str(out), *TINY, "--epochs", "1", "-q"],
    )
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: training diverged: the loss is nan at step 3")
    assert "no checkpoint was saved in this run before it" in line
    assert not Path(f"{out}.lock").exists()


# --- the metrics log -----------------------------------------------------------------
def test_resuming_a_mid_epoch_snapshot_logs_no_evaluation_twice(lm_config):
    # A snapshot and an evaluation after every step; keep the snapshot of step 4,
    # run on to the end, then put it back: as if the run was killed after step 4
    # with its log written on to the end.
    cfg = lm_config(epochs=1, save_every=0.0, eval_every=2)
    files = run_files(cfg.out)
    kept = files.last.with_name("step4.pt")

    def keep(info: StepInfo) -> None:
        if info.step_in_epoch == 5:  # the snapshot of step 4 is on disk
            shutil.copy(files.last, kept)

    task.train_lm(cfg, reporter=OnStep(keep))
    uninterrupted = read_log(files.log)
    shutil.copy(kept, files.last)
    _, snapshot = find_resume("lm", cfg.out)
    assert snapshot["train_state"]["progress"]["global_step"] == 4

    task.train_lm(cfg, resume=snapshot)
    steps = [r["step"] for r in read_log(files.log)]
    assert steps == [r["step"] for r in uninterrupted]
    assert steps == sorted(set(steps))


def test_a_fresh_run_starts_a_fresh_log(lm_config):
    cfg = lm_config(epochs=1)
    task.train_lm(cfg)
    task.train_lm(cfg)  # the same -o again: the first model is replaced
    assert [r["epoch"] for r in read_log(run_files(cfg.out).log)] == [1]
