"""What a training run may write: inputs never overwritten, one run per output, an
unwritable place found before training, leftovers of killed runs removed.

`seqcli.outputs` is torch-free, so the lock holder in another process starts in
a tenth of a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from seqcli.cli import app
from seqcli.errors import OutputError
from seqcli.outputs import guard_run, inputs_of, last_path, log_path, refuse_inputs

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--emb-size", "8", "--hidden-size", "8", "--batch-size", "4", "--bptt", "8"]
TINY += ["--epochs", "1", "--seed", "1", "--device", "cpu", "-q"]


def invoke(runner: CliRunner, *args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def enter(out: Path) -> None:
    """Take and release the guard of `out`."""
    with guard_run(out, {}):
        pass


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output + repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# --- an output that is an input ------------------------------------------------------
def test_train_lm_refuses_to_overwrite_its_corpus(runner: CliRunner, corpus_file):
    before = corpus_file.read_bytes()
    result = invoke(runner, "train-lm", corpus_file, "-o", corpus_file, *TINY)
    assert_one_line_error(result, "training data", "-o/--out")
    assert corpus_file.read_bytes() == before


def test_an_input_given_by_another_spelling_is_still_refused(
    runner: CliRunner, corpus_file, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "link.txt"
    link.symlink_to(corpus_file)
    result = invoke(runner, "train-lm", "./corpus.txt", "-o", link, *TINY)
    assert_one_line_error(result, "corpus.txt")


def test_a_config_file_is_not_an_output(runner: CliRunner, corpus_file, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("bptt: 8\n")
    result = invoke(runner, "train-lm", corpus_file, "-c", cfg, "-o", cfg, *TINY)
    assert_one_line_error(result, "--config", "run.yaml")
    assert cfg.read_text() == "bptt: 8\n"


def test_train_sentiment_refuses_to_overwrite_its_validation_data(
    runner: CliRunner, write_lines, tmp_path: Path
):
    rows = ["text\tlabel"] + ["a good film\tpos", "a bad film\tneg"] * 6
    train = write_lines(tmp_path / "train.tsv", rows)
    valid = write_lines(tmp_path / "valid.tsv", rows)
    before = valid.read_bytes()
    result = invoke(
        runner, "train-sentiment", train, "--valid", valid, "-o", valid, *TINY[:6]
    )
    assert_one_line_error(result, "--valid", "valid.tsv")
    assert valid.read_bytes() == before


@pytest.mark.parametrize("sibling", [last_path, log_path, Path])
def test_every_file_of_the_run_is_checked(tmp_path: Path, sibling):
    out = tmp_path / "m.pt"
    for flag in ("--valid", "--test", "--init-from", "--embeddings"):
        with pytest.raises(OutputError, match=flag):
            refuse_inputs(out, {flag: str(sibling(out))})
    refuse_inputs(out, {"--valid": str(tmp_path / "valid.txt"), "--test": None})


def test_inputs_of_a_config_name_each_flag(lm_config):
    cfg = lm_config(init_from="a.pt", valid_path="v.txt")
    inputs = inputs_of(cfg)
    assert inputs["--init-from"] == "a.pt" and inputs["--valid"] == "v.txt"
    assert inputs["the training data"] == cfg.train_path


# --- one run per output ---------------------------------------------------------
HOLD = """
import sys, time
from seqcli.outputs import guard_run
with guard_run(sys.argv[1], {}):
    print("holding", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path):
    """Start a process that holds the lock of tmp_path/models/m.pt; yield it."""
    out = tmp_path / "models" / "m.pt"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout.readline().strip() == "holding"
        yield proc, out
    finally:
        proc.kill()
        proc.wait()


def test_a_second_run_on_the_same_output_is_refused(
    runner: CliRunner, corpus_file, holder
):
    proc, out = holder
    result = invoke(runner, "train-lm", corpus_file, "-o", out, *TINY)
    assert_one_line_error(result, f"process {proc.pid}", "another training run")
    assert not out.exists()  # the other run's file was not replaced


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path: Path, holder):
    proc, out = holder
    tmp = out.with_name("m.pt.abcd1234.tmp")
    tmp.write_bytes(b"x" * 100)  # what a write cut by the kill leaves
    with pytest.raises(OutputError, match=str(proc.pid)):
        enter(out)
    assert tmp.exists()  # a live run's temporaries are its own
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    notes: list[str] = []
    with guard_run(out, {}, note=notes.append):
        assert Path(f"{out}.lock").read_text().split()[0] == str(os.getpid())
    assert any(f"process {proc.pid}" in n and "taking over" in n for n in notes)
    assert not tmp.exists()
    assert not Path(f"{out}.lock").exists()


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_the_lock_is_released_on_errors_and_ctrl_c(tmp_path: Path, exc):
    out = tmp_path / "m.pt"
    with pytest.raises(exc), guard_run(out, {}):
        assert Path(f"{out}.lock").exists()
        raise exc()
    assert not Path(f"{out}.lock").exists()
    enter(out)  # free again


def test_under_torchrun_only_rank_0_locks(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    out = tmp_path / "m.pt"
    with guard_run(out, {}):
        assert not Path(f"{out}.lock").exists()
        with guard_run(out, {}):  # rank 1 of another node: no lock to contend
            pass


# --- an unwritable output -----------------------------------------------------------
def test_an_output_under_a_file_is_refused_before_training(
    runner: CliRunner, corpus_file, tmp_path
):
    blocker = tmp_path / "notadir"
    blocker.write_text("")
    result = invoke(runner, "train-lm", corpus_file, "-o", blocker / "m.pt", *TINY)
    assert_one_line_error(result, "notadir", "is a file")
    assert "epoch" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_in_a_read_only_folder_is_refused(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write in"):
            enter(folder / "m.pt")
        with pytest.raises(OutputError, match="cannot create folder"):
            enter(folder / "sub" / "m.pt")
    finally:
        folder.chmod(0o755)


def test_the_writability_probe_leaves_nothing_behind(tmp_path: Path):
    out = tmp_path / "new" / "deeper" / "m.pt"
    with guard_run(out, {}):
        assert sorted(p.name for p in out.parent.iterdir()) == ["m.pt.lock"]
    assert list(out.parent.iterdir()) == []


# --- leftovers of killed runs --------------------------------------------------------
def test_only_this_outputs_temporaries_are_removed(tmp_path: Path):
    out = tmp_path / "m.pt"
    ours = [
        "m.pt.abcd1234.tmp",
        "m.last.pt.zz_99xy1.tmp",
        "m.metrics.jsonl.a1b2c3d4.tmp",
    ]
    others = ["other.pt.abcd1234.tmp", "m.pt.backup.tmp", "m.pt.abcd1234.tmp.keep"]
    for name in ours + others:
        (tmp_path / name).write_bytes(b"x" * 1000)
    notes: list[str] = []
    with guard_run(out, {}, note=notes.append):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)
    assert notes == [
        "removed 3 unfinished temporary file(s) of an interrupted run (0.0 MB)"
    ]


def test_inputs_of_a_tagger_config_name_its_backward_lm() -> None:
    from seqcli.config import NerConfig

    inputs = inputs_of(NerConfig(init_from="f.pt", init_from_backward="b.pt"))
    assert inputs["--init-from"] == "f.pt" and inputs["--init-from-backward"] == "b.pt"
