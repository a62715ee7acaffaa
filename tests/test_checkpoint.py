"""The one checkpoint format: round trip, atomic writes, and every file it refuses."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqcli.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    find_latest,
    last_path,
    load_checkpoint,
    peek_task,
    save_checkpoint,
)
from seqcli.errors import CheckpointError


def payload(task: str = "lm", **extra) -> dict:
    return {
        "task": task,
        "config": {"model": {"cell": "gru", "hidden_size": 4}, "lr": 0.5},
        "vocab": {"tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "a"]},
        "tokenizer": {"kind": "subword", "lowercase": False, "model": b"\x00\x01"},
        "state_dict": {
            "w": torch.arange(6, dtype=torch.float32).view(2, 3),
            "b": torch.zeros(3),
        },
        "metrics": {"valid": {"loss": 1.5}},
        **extra,
    }


def test_round_trip(tmp_path: Path):
    path = save_checkpoint(tmp_path / "sub" / "m.pt", payload())
    assert path == tmp_path / "sub" / "m.pt"
    data = load_checkpoint(path, task="lm")
    original = payload()
    assert data["format"] == FORMAT
    assert data["format_version"] == FORMAT_VERSION
    for key in ("task", "config", "vocab", "tokenizer", "metrics"):
        assert data[key] == original[key]
    for name, tensor in original["state_dict"].items():
        assert torch.equal(data["state_dict"][name], tensor)
    # Plain values only: loadable by anyone with weights_only=True.
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["digest"] == data["digest"]


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path):
    save_checkpoint(tmp_path / "m.pt", payload())
    save_checkpoint(tmp_path / "m.pt", payload(metrics={"valid": {"loss": 1.0}}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    assert load_checkpoint(tmp_path / "m.pt")["metrics"] == {"valid": {"loss": 1.0}}


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.pt", payload())
    before = path.read_bytes()
    bad = payload()
    bad["config"] = {"unpicklable": lambda: None}
    with pytest.raises(Exception):  # noqa: B017 - whatever pickle raises
        save_checkpoint(path, bad)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_saved_file_is_not_private(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.pt", payload())
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_wrong_task_names_both_tasks(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.pt", payload(task="sentiment"))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, task="lm", command="`seqcli sample`")
    message = str(info.value)
    assert "sentiment" in message
    assert "lm" in message
    assert "`seqcli sample`" in message
    assert str(path) in message
    assert load_checkpoint(path, task=("lm", "sentiment"))["task"] == "sentiment"


def test_truncated_file(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.pt", payload())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_tampered_file_is_refused(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.pt", payload())
    data = torch.load(path, map_location="cpu", weights_only=True)
    data["state_dict"]["w"][0, 0] = 42.0
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="modified"):
        load_checkpoint(path)


def test_tampered_config_is_refused(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.pt", payload())
    data = torch.load(path, map_location="cpu", weights_only=True)
    data["config"]["lr"] = 0.25
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="modified"):
        load_checkpoint(path)


class _Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


def test_malicious_pickle_is_refused_without_running_code(tmp_path: Path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({**payload(), "format": FORMAT, "x": _Exploit(marker)}, path)
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(path)
    assert not marker.exists()
    assert "system" in str(info.value)  # says what it refused
    assert peek_task(path) is None
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [os.urandom(2000), b"just some text\nin a file\n", b""],
    ids=["random", "text", "empty"],
)
def test_not_a_checkpoint(tmp_path: Path, content: bytes):
    path = tmp_path / "m.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    assert "weights_only" not in message  # no advice to load it unsafely


def test_other_torch_files_are_not_checkpoints(tmp_path: Path):
    path = tmp_path / "m.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="not a seqcli checkpoint"):
        load_checkpoint(path)
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION + 1}, path)
    with pytest.raises(CheckpointError, match="format version"):
        load_checkpoint(path)


def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


def test_find_latest_picks_the_newest_of_the_task(tmp_path: Path):
    def save_at(name: str, task: str, mtime: int) -> Path:
        path = save_checkpoint(tmp_path / name, payload(task=task))
        os.utime(path, (mtime, mtime))
        return path

    old = save_at("old.pt", "lm", 1_000)
    new = save_at("new.pt", "lm", 2_000)
    save_at("newer-sentiment.pt", "sentiment", 3_000)
    snapshot = save_at("new.last.pt", "lm", 4_000)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    os.utime(tmp_path / "junk.pt", (5_000, 5_000))
    assert last_path(new) == snapshot
    assert find_latest("lm", tmp_path) == new
    assert find_latest("sentiment", tmp_path) == tmp_path / "newer-sentiment.pt"
    assert find_latest(("lm", "sentiment"), tmp_path).name == "newer-sentiment.pt"
    os.utime(old, (6_000, 6_000))
    assert find_latest("lm", tmp_path) == old
    with pytest.raises(CheckpointError, match="no ner checkpoint"):
        find_latest("ner", tmp_path)


def test_last_path():
    assert last_path("models/x.pt") == Path("models/x.last.pt")
    assert last_path(Path("a/b")) == Path("a/b.last.pt")


def test_weights_that_do_not_fit_the_network_are_an_error():
    from seqcli.checkpoint import load_weights

    network = torch.nn.Linear(3, 2)
    load_weights(network, torch.nn.Linear(3, 2).state_dict(), source="ok.pt")
    with pytest.raises(CheckpointError, match=r"bad\.pt: stored weights do not fit"):
        load_weights(network, torch.nn.Linear(4, 2).state_dict(), source="bad.pt")


# --- a write that fails: full disk, file size limit, other system errors ------------
class _FullDisk:
    """A file that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, fh, room: int):
        self.fh, self.room = fh, room

    def write(self, data) -> int:
        if len(data) > self.room:
            self.fh.write(bytes(data[: self.room]))
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = save_checkpoint(tmp_path / "m.pt", payload())
    before = path.read_bytes()
    real_save = torch.save
    monkeypatch.setattr(
        torch, "save", lambda obj, fh: real_save(obj, _FullDisk(fh, 300))
    )
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(path, payload(metrics={"valid": {"loss": 0.5}}))
    message = str(caught.value)
    assert message == f"no space left writing {path}; the previous checkpoint is kept"
    assert caught.value.__suppress_context__  # no chained traceback behind it
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # partial removed


def test_any_other_write_error_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(CheckpointError, match=r"^permission denied writing .*m\.pt; "):
        save_checkpoint(tmp_path / "m.pt", payload())
    assert list(tmp_path.iterdir()) == []


SAVE_UNDER_LIMIT = """
import resource, signal, sys, torch
from seqcli.checkpoint import save_checkpoint
from seqcli.errors import CheckpointError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # as `ulimit -f` with the signal ignored
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
try:
    save_checkpoint(sys.argv[1], {"state_dict": {"w": torch.ones(50_000)}})
except CheckpointError as exc:
    print(exc)
"""


def test_a_file_size_limit_while_writing_is_one_line(tmp_path: Path):
    path = save_checkpoint(tmp_path / "m.pt", payload())
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", SAVE_UNDER_LIMIT, str(path)],
        capture_output=True,
        text=True,
        env={**env, "OMP_NUM_THREADS": "1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"file too large writing {path}; the previous checkpoint is kept"
    )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
