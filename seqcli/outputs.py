"""The one write path: every file any command writes, and who holds it.

Must not import torch. Two layers:

- `OutputFile` is how any command writes any file (a checkpoint's bytes, a
  vocabulary, exported vectors, a plot, hypotheses written with ``-o``, a report):
  claimed before the work starts (the file is none of the command's inputs, by
  path, symlink or hard link, and its folder can be written), then written
  atomically (temporary file, fsync, rename), so that a full disk or a read-only
  file system is one line naming the path and the previous file survives.
  `append_line` adds one record to a log. tests/test_write_path.py fails when
  another module opens a file for writing.
- `guard_run` holds the files of a training run for its life (below).

A run writing ``models/x.pt`` owns three files beside it (``x.pt``, ``x.last.pt``,
``x.metrics.jsonl``) and, while it runs, a lock file ``x.pt.lock``. Before any data
is read, `guard_run` makes sure that nothing is lost:

- none of those files is one of the run's inputs (a corpus, a config, a model to
  start from), which the first save would overwrite;
- no other live run writes the same files (the lock holds the pid and host of its
  owner; a lock left by a killed run is taken over);
- the folder exists or can be created, and a file can be created in it, so that an
  unwritable place is found before training rather than at the first save;
- temporary files that a killed run left while writing (``x.pt.abcd1234.tmp``, as
  large as a checkpoint) are removed.

Under torchrun only rank 0 writes, so only rank 0 locks, probes and cleans.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from seqcli.errors import OutputError

try:  # POSIX; elsewhere the lock falls back to the pid it records
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LAST_SUFFIX = ".last.pt"
LOG_SUFFIX = ".metrics.jsonl"
LOCK_SUFFIX = ".lock"

Note = Callable[[str], None]
InputPath = str | os.PathLike[str] | None


def last_path(out: str | Path) -> Path:
    """Where the resume snapshot of a run writing `out` lives (x.pt -> x.last.pt)."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".pt") + LAST_SUFFIX)


def log_path(out: str | Path) -> Path:
    """Where the metrics log of a run writing `out` lives (x.pt -> x.metrics.jsonl)."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".pt") + LOG_SUFFIX)


def owned_files(out: str | Path) -> tuple[Path, Path, Path]:
    """Every file a run writing `out` replaces: best model, snapshot, log."""
    return Path(out), last_path(out), log_path(out)


@contextmanager
def guard_run(
    out: str | Path,
    inputs: Mapping[str, InputPath],
    *,
    note: Note | None = None,
) -> Iterator[None]:
    """Hold the output of a training run for the body's life; see the module doc.

    Args:
        out: the best-model checkpoint the run writes.
        inputs: the run's input files by the flag that named them
            (``{"CORPUS": ..., "--valid": ..., "--init-from": ...}``); None is skipped.
        note: where to say what was cleaned up or taken over (a reporter's
            ``on_message``); the module's logger by default.

    Raises:
        OutputError: an output is an input, another run holds the output, or the
            output's folder cannot be written.
    """
    note = note or log.warning
    refuse_inputs(out, inputs)
    if os.environ.get("RANK", "0") != "0":
        yield  # under torchrun rank 0 alone writes, so it alone holds the lock
        return
    check_writable(out)
    refuse_directories(out)
    lock = RunLock(out)
    lock.acquire(note)
    try:
        removed = remove_temporaries(out)
        if removed:
            note(
                f"removed {len(removed)} unfinished temporary file(s) of an "
                f"interrupted run ({sum(removed) / 1e6:.1f} MB)"
            )
        yield
    finally:
        lock.release()


def check_output(out: str | Path, inputs: Mapping[str, InputPath]) -> None:
    """What `guard_run` checks, for a dry run: it creates, takes and writes nothing.

    Raises:
        OutputError: an output is an input, another run holds the output, or the
            output's folder cannot be created or written.
    """
    refuse_inputs(out, inputs)
    if os.environ.get("RANK", "0") != "0":
        return
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"-o/--out {out}: is a directory; give a file name")
    folder = next(p for p in [out.parent, *out.parent.parents] if p.exists())
    if not folder.is_dir():
        raise OutputError(
            f"-o/--out {out}: cannot create folder {out.parent}: "
            f"{_first_file(out.parent)} is a file"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            f"-o/--out {out}: cannot write in {folder} (permission denied)"
        )
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputError(f"-o/--out {out}: the existing file is read-only")
    refuse_directories(out)
    RunLock(out).check()


# --- the write path ------------------------------------------------------------------
class OutputFile:
    """One file that a command will write, checked when it is claimed.

    Claim it before any work starts, so that a clash or an unwritable place is
    found at once, not after an hour of training or decoding::

        out = OutputFile(path, inputs={"CORPUS": corpus}, flag="-o/--out")
        ...                       # the work
        out.write_text(result)    # atomic; OutputError (one line) on failure

    Args:
        path: the file to write.
        inputs: every file the command reads, by the flag or argument that named it
            (None is skipped). The output may be none of them: not the same path,
            not a symlink to one, not a hard link of one.
        flag: how the user named the output, for messages.
        kind: what the file is, for the message of a failed write ("the previous
            checkpoint is kept").

    Raises:
        OutputError: the output is an input, is a directory, or its folder cannot
            be created or written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        inputs: Mapping[str, InputPath],
        flag: str = "-o/--out",
        kind: str = "file",
    ) -> None:
        self.path = Path(path)
        self.flag = flag
        self.kind = kind
        refuse_same_file(self.path, inputs, flag=flag)
        check_writable(self.path, flag=flag)

    def __repr__(self) -> str:
        return f"OutputFile({str(self.path)!r}, flag={self.flag!r})"

    @contextmanager
    def open(self, mode: str = "w") -> Iterator[IO[Any]]:
        """A file object whose content replaces `path` when the block ends.

        `mode` is ``"w"`` (UTF-8 text, ``\\n`` line ends) or ``"wb"``. If the block
        raises, `path` is left as it was and the temporary file is removed.
        """
        if mode not in ("w", "wb"):
            raise ValueError(f"mode must be 'w' or 'wb', not {mode!r}")
        with _atomic(self.path, binary=mode == "wb", kind=self.kind) as fh:
            yield fh

    def write_text(self, text: str) -> Path:
        with self.open("w") as fh:
            fh.write(text)
        return self.path

    def write_bytes(self, data: bytes) -> Path:
        with self.open("wb") as fh:
            fh.write(data)
        return self.path

    def write_figure(self, figure: Any, **options: Any) -> Path:
        """Save a matplotlib figure (``dpi=``, ``bbox_inches=`` ... as `savefig`).

        The format follows the file's suffix (``.png``, ``.svg``, ``.pdf``; PNG
        when there is none). This is the one place a figure is saved, so that a
        plot is written atomically like any other output.
        """
        formats = figure.canvas.get_supported_filetypes()
        suffix = self.path.suffix.lower().lstrip(".") or "png"
        if suffix not in formats:
            raise OutputError(
                f"{self.flag} {self.path}: cannot draw a .{suffix} file; "
                f"use one of .{', .'.join(sorted(formats))}"
            )
        with self.open("wb") as fh:
            figure.savefig(fh, format=suffix, **options)
        return self.path


def output_file(
    target: OutputFile | str | os.PathLike[str],
    *,
    inputs: Mapping[str, InputPath] | None = None,
    flag: str = "-o/--out",
    kind: str = "file",
) -> OutputFile:
    """`target` itself if it is already claimed, else a claim on that path.

    For library functions that take either: the CLI claims its output before the
    work (with all the command's inputs) and passes the `OutputFile`; a Python
    caller may pass a plain path, claimed when the function is called.
    """
    if isinstance(target, OutputFile):
        return target
    return OutputFile(target, inputs=inputs or {}, flag=flag, kind=kind)


@contextmanager
def _atomic(path: Path, *, binary: bool, kind: str = "file") -> Iterator[IO[Any]]:
    """Write `path` through a temporary file in its folder, then rename it over."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=path.name + ".", suffix=".tmp", dir=path.parent
        )
        if binary:
            # Readable too: a checkpoint appends its metadata record to the zip
            # archive torch.save wrote (checkpoint_meta.add_metadata reads it).
            fh: IO[Any] = os.fdopen(fd, "w+b")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))  # mkstemp creates the file private (0600)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        cause = os_error_of(exc) if isinstance(exc, Exception) else None
        if cause is None:
            raise  # Ctrl-C, or a bug: not a failed write
        raise OutputError(write_failure(path, cause, kind=kind)) from None


def _mode_for(path: Path) -> int:
    """The permissions the new file gets: the old file's, else the umask's."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def os_error_of(exc: BaseException) -> OSError | None:
    """The OSError behind a failed write, if that is what failed.

    Some writers (torch.save's zip writer, matplotlib) report a failed write as
    another exception raised while handling the file object's OSError, so the
    chain is searched.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def write_failure(path: str | Path, exc: OSError, *, kind: str = "file") -> str:
    """One line: what failed, where, and that the previous `kind` is untouched."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left"
    elif exc.errno == errno.EROFS:
        reason = "read-only file system"
    else:
        reason = _reason(exc)
    kept = (
        f"the previous {kind} is kept" if Path(path).exists() else "nothing was written"
    )
    return f"{reason} writing {path}; {kept}"


def append_line(path: str | Path, line: str) -> None:
    """Append one record (one line) to a log such as ``x.metrics.jsonl``.

    A log grows record by record, so it is appended to, not replaced; a record torn
    by a kill is dropped when the log is read back (`keep_log_until`).
    """
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")
    except OSError as exc:
        raise OutputError(write_failure(path, exc)) from None


def discard_writes(fd: int) -> None:
    """Point the file descriptor `fd` at the null device.

    For a stdout that has already failed (a full disk): what stays buffered would
    fail again in the interpreter's flush at exit ("Exception ignored ...").
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def refuse_same_file(
    out: str | Path, inputs: Mapping[str, InputPath], *, flag: str = "-o/--out"
) -> None:
    """Refuse an output that is one of the inputs (same path, symlink, hard link)."""
    out = Path(out)
    for name, given in inputs.items():
        if given is None or given == "" or str(given) == "-":
            continue
        if _same_file(out, Path(given)):
            raise OutputError(
                f"{flag} {out}: is {name} {given}, which this command reads; "
                "writing it would destroy it: choose another output"
            )


def _same_file(a: Path, b: Path) -> bool:
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samestat(a.stat(), b.stat())  # a hard link
    except OSError:
        return False


# --- outputs that are inputs ------------------------------------------------------
# Config fields that name a file a training run reads, and how the user gave it.
INPUT_FIELDS = {
    "train_path": "the training data",
    "valid_path": "--valid",
    "test_path": "--test",
    "init_from": "--init-from",
    "init_from_backward": "--init-from-backward",
    "embeddings": "--embeddings",
    "src_path": "SRC_FILE",
    "tgt_path": "TGT_FILE",
    "pairs_path": "--pairs",
    "valid_src_path": "--valid-src",
    "valid_tgt_path": "--valid-tgt",
    "test_src_path": "--test-src",
    "test_tgt_path": "--test-tgt",
    "teachers": "--teacher",  # a list: every one is an input
}


def inputs_of(cfg: object) -> dict[str, InputPath]:
    """The input files of a task config (any of `INPUT_FIELDS` it has, and its
    distillation's teachers and unlabeled text), by flag; the second and later
    files of a list as "--flag #2", ..."""
    found: dict[str, InputPath] = {}
    for name, flag in INPUT_FIELDS.items():
        value = getattr(cfg, name, None)
        if isinstance(value, list):
            for i, path in enumerate(value):
                found[flag if i == 0 else f"{flag} #{i + 1}"] = path
        else:
            found[flag] = value
    distill = getattr(cfg, "distill", None)
    if distill is not None:
        for i, teacher in enumerate(distill.teachers):
            found["--teacher" if i == 0 else f"--teacher #{i + 1}"] = teacher
        found["--unlabeled"] = distill.unlabeled_path
    return found


def refuse_inputs(out: str | Path, inputs: Mapping[str, InputPath]) -> None:
    """Refuse a run whose outputs would overwrite one of its inputs."""
    owned = {_resolved(p): p for p in owned_files(out)}
    for flag, given in inputs.items():
        if given is None or given == "":
            continue
        clash = owned.get(_resolved(Path(given)))
        if clash is not None:
            what = "-o/--out" if clash == Path(out) else f"the run's {clash.name}"
            raise OutputError(
                f"{flag} {given}: is {what}, which training would overwrite; "
                "choose another -o/--out"
            )


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare as given
        return path.absolute()


# --- can the folder be written? -------------------------------------------------
def check_writable(out: str | Path, *, flag: str = "-o/--out") -> None:
    """Create the folder of `out` if needed and create (then remove) a file in it."""
    out = Path(out)
    folder = out.parent
    if out.is_dir():
        raise OutputError(f"{flag} {out}: is a directory; give a file name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(
            f"{flag} {out}: cannot create folder {folder}: "
            f"{_first_file(folder)} is a file"
        ) from None
    except OSError as exc:
        raise OutputError(
            f"{flag} {out}: cannot create folder {folder} ({_reason(exc)})"
        ) from None
    try:
        # An anonymous file (O_TMPFILE where the system has it): nothing is left
        # behind even if the run is killed right here.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(
            f"{flag} {out}: cannot write in {folder} ({_reason(exc)})"
        ) from None
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputError(f"{flag} {out}: the existing file is read-only")


def refuse_directories(out: str | Path) -> None:
    """Refuse a run whose snapshot or log path is a folder: the run would fail at
    its first save or log record, after the work."""
    for owned in owned_files(out)[1:]:
        if owned.is_dir():
            raise OutputError(
                f"-o/--out {out}: the run also writes {owned}, which is a "
                "directory; move it away or choose another -o/--out"
            )


def _first_file(folder: Path) -> Path:
    """The part of `folder` that exists as something other than a folder."""
    for part in [*reversed(folder.parents), folder]:
        if part.exists() and not part.is_dir():
            return part
    return folder


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


# --- the lock --------------------------------------------------------------------
class RunLock:
    """An exclusive lock on the output of one run: ``NAME.pt.lock`` beside it.

    The file records ``pid host`` of its holder, for the message a second run
    gets. Exclusion itself comes from `fcntl.flock`, which the system releases when
    the holder dies, even by SIGKILL: a lock file whose flock can be taken is stale
    and is taken over.
    """

    def __init__(self, out: str | Path) -> None:
        out = Path(out)
        self.path = out.with_name(out.name + LOCK_SUFFIX)
        self._fd: int | None = None

    def acquire(self, note: Note) -> None:
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if self._try_lock(fd) and self._is_current(fd):
                    self._take(fd, note)
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the holder removed the file meanwhile: try the new one
        raise OutputError(f"{self.path}: could not take the lock; try again")

    def check(self) -> None:
        """Refuse if a live run holds the lock; take nothing, write nothing."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return  # no lock file: no run holds the output
        try:
            self._try_lock(fd)
        finally:
            os.close(fd)  # which drops the flock that _try_lock may have taken

    def _try_lock(self, fd: int) -> bool:
        holder = _read_holder(fd)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._refuse(holder)
        elif holder is not None and _alive(*holder):  # pragma: no cover - Windows
            self._refuse(holder)
        return True

    def _refuse(self, holder: tuple[int, str] | None) -> None:
        who = f"process {holder[0]} on {holder[1]}" if holder else "another process"
        out = self.path.name.removesuffix(LOCK_SUFFIX)
        raise OutputError(
            f"-o/--out {self.path.with_name(out)}: another training run "
            f"({who}) is writing it; wait for it or choose another -o/--out "
            f"(lock: {self.path})"
        )

    def _is_current(self, fd: int) -> bool:
        """Is `fd` still the file at `path`? (A releasing holder unlinks it.)"""
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _take(self, fd: int, note: Note) -> None:
        stale = _read_holder(fd)
        if stale is not None:
            note(
                f"taking over the lock of an earlier run (process {stale[0]} on "
                f"{stale[1]}) that ended without releasing it: {self.path}"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlink while still holding the flock, so that no run locks this file
        # after it has left the folder (see `_is_current`).
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


def _read_holder(fd: int) -> tuple[int, str] | None:
    """(pid, host) written in a lock file, or None if it holds none."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
        return (int(text[0]), text[1] if len(text) > 1 else "?")
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, host: str) -> bool:  # pragma: no cover - Windows only
    if host != socket.gethostname():
        return True  # cannot tell: assume the other machine's run is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- leftovers of killed runs ------------------------------------------------------
# tempfile.mkstemp's names: the prefix given, 8 random characters, the suffix.
_TEMP = r"\.[a-z0-9_]{8}\.tmp"


def remove_temporaries(out: str | Path) -> list[int]:
    """Delete the temporary files of `out`'s own files; return their sizes."""
    sizes = []
    for owned in owned_files(out):
        pattern = re.compile(re.escape(owned.name) + _TEMP)
        if not owned.parent.is_dir():
            continue
        for path in owned.parent.iterdir():
            if pattern.fullmatch(path.name) and path.is_file():
                try:
                    size = path.stat().st_size
                    path.unlink()
                except OSError:
                    continue  # gone meanwhile or not ours to remove: leave it
                sizes.append(size)
    return sizes


# --- the metrics log ---------------------------------------------------------------
def keep_log_until(path: str | Path, step: int) -> None:
    """Keep only the records of `path` up to training step `step` (0: none).

    A run killed after its last snapshot has logged evaluations that the resumed
    run repeats; a fresh run replaces the model, so its log starts anew. The log is
    rewritten atomically; a record torn by a kill is dropped.
    """
    path = Path(path)
    if not path.exists():
        return
    kept = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("step", step + 1) <= step:
                kept.append(line.rstrip("\n") + "\n")
    with _atomic(path, binary=False) as fh:
        fh.writelines(kept)
