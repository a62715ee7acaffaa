"""The one checkpoint format: save, load, check and find `.pt` files.

A checkpoint is one file holding a dict of plain Python values and tensors, so that
`torch.load(weights_only=True)` can read it and a checkpoint never runs code:

    format, format_version, seqcli_version, task, config (nested dict), vocab
    (token lists), tokenizer (kind, options, SentencePiece model bytes), state_dict,
    metrics, data (what it was trained on), created, digest, and train_state (only in
    resume snapshots: optimizer, schedule, progress and RNG states).

The zip archive torch.save writes also holds a JSON record of everything but the
weights (`seqcli.checkpoint_meta`), which `seqcli info` reads without torch.

`digest` is a SHA-256 over everything else, so a file edited after saving is
refused rather than silently used. This module is the only caller of
torch.save/torch.load.
"""

from __future__ import annotations

import ctypes
import hashlib
import pickle
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from seqcli import __version__
from seqcli.checkpoint_meta import FORMAT, FORMAT_VERSION, add_metadata
from seqcli.errors import CheckpointError, OutputError, a_or_an
from seqcli.outputs import LAST_SUFFIX, OutputFile, output_file
from seqcli.outputs import last_path as last_path  # re-exported: runs, tests

DEFAULT_DIR = Path("models")


def save_checkpoint(path: str | Path | OutputFile, payload: dict[str, Any]) -> Path:
    """Write `payload` (task, config, vocab, tokenizer, state_dict, ...) atomically.

    The file appears complete or not at all: it goes through the one write path
    (`seqcli.outputs`), which writes a temporary file in the same folder, flushes it
    to disk and renames it over `path`; a failed write is one line and keeps the
    previous checkpoint.

    Args:
        path: the file, or an `OutputFile` a command claimed before its work.

    Raises:
        CheckpointError: the file could not be written (full disk, read-only file
            system, file size limit, ...).
    """
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seqcli_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **payload,
    }
    data["state_dict"] = {k: v.detach().cpu() for k, v in data["state_dict"].items()}
    data["digest"] = _digest(data)
    try:
        out = output_file(path, flag="checkpoint", kind="checkpoint")
        with out.open("wb") as fh:  # readable too: add_metadata reads the zip back
            torch.save(data, fh)
            add_metadata(fh, data)  # what `seqcli info` reads without torch
    except OutputError as exc:
        raise CheckpointError(str(exc)) from None
    return out.path


def load_checkpoint(
    path: str | Path,
    *,
    task: str | tuple[str, ...] | None = None,
    command: str = "this command",
) -> dict[str, Any]:
    """Read and check a checkpoint; with `task`, refuse a checkpoint of another task."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    data = _read(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seqcli checkpoint")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        data = _migrate(data, path)
    if data.get("digest") != _digest(data):
        raise CheckpointError(
            f"{path}: checkpoint was modified after it was saved "
            "(digest mismatch); refusing to use it"
        )
    _check_complete(data, path)
    if task is not None:
        wanted = (task,) if isinstance(task, str) else task
        if data.get("task") not in wanted:
            raise CheckpointError(
                f"{path}: this is {a_or_an(str(data.get('task')))} checkpoint; "
                f"{command} needs {a_or_an(' or '.join(wanted))} checkpoint"
            )
    return data


# What every task's checkpoint holds, and the type each must have.
_REQUIRED: dict[str, type] = {
    "task": str,
    "config": dict,
    "vocab": dict,
    "tokenizer": dict,
    "state_dict": dict,
}


def _check_complete(data: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint lacking a part every checkpoint has, naming the part.

    The digest only proves the file is as it was written; one written by hand (or
    by an edited copy of seqcli) may still lack parts or hold the wrong kinds.
    """
    for key, kind in _REQUIRED.items():
        if key not in data:
            raise CheckpointError(f"{path}: not a complete checkpoint: no {key!r}")
        if not isinstance(data[key], kind):
            raise CheckpointError(
                f"{path}: damaged checkpoint: {key!r} is not a {kind.__name__}"
            )
    # One vocabulary (`tokens`) or one per side of an encoder-decoder (`src`, `tgt`).
    vocab, tokenizer = data["vocab"], data["tokenizer"]
    sides = ("src", "tgt") if "tokens" not in vocab and "src" in vocab else (None,)
    for side in sides:
        tokens = vocab.get(side or "tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            name = f"vocab.{side or 'tokens'}"
            raise CheckpointError(f"{path}: damaged checkpoint: no '{name}' list")
        kind = (tokenizer.get(side) or {}) if side else tokenizer
        if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str):
            name = f"tokenizer.{side}.kind" if side else "tokenizer.kind"
            raise CheckpointError(f"{path}: damaged checkpoint: no '{name}'")


def require(data: dict[str, Any], dotted: str, kind: type, *, source: str) -> Any:
    """A task-specific part of a checkpoint (``vocab.labels``), or a one-line error."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise CheckpointError(f"{source}: not a complete checkpoint: no {dotted!r}")
        node = node[part]
    if not isinstance(node, kind):
        raise CheckpointError(
            f"{source}: damaged checkpoint: {dotted!r} is not a {kind.__name__}"
        )
    return node


def _read(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(_ZIP_MAGIC))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror})") from None
    if not magic:
        raise CheckpointError(f"{path}: truncated or damaged checkpoint (empty file)")
    if magic != _ZIP_MAGIC:
        # torch.save writes a zip archive; anything else (text, random bytes) would
        # otherwise reach the unpickler and be misreported as hostile.
        raise CheckpointError(
            f"{path}: not a seqcli checkpoint (not a torch.save file)"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses anything but tensors and plain containers: a file
        # that tries to build other objects is not ours and may be hostile.
        raise CheckpointError(
            f"{path}: refused: holds objects a checkpoint never "
            f"contains ({_refusal_reason(exc)[:120]})"
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        KeyError,
    ):
        # torch's own words here ("[Errno 22] Invalid argument", "failed finding
        # central directory") describe its reader, not the file.
        raise CheckpointError(
            f"{path}: truncated or damaged checkpoint, or not a seqcli one (its "
            "archive cannot be read to the end: was a copy or a save cut short?)"
        ) from None


# Every file torch.save writes (since torch 1.6) is a zip archive.
_ZIP_MAGIC = b"PK\x03\x04"


def _refusal_reason(exc: Exception) -> str:
    """The line of torch's weights_only error that names what was refused.

    The message opens with a paragraph suggesting ``weights_only=False``, advice a
    user must not follow for a file of unknown origin, so it is skipped.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines[1:]:
        if not line.startswith(("Please file an issue", "Check the documentation")):
            return line.removeprefix("WeightsUnpickler error:").strip() or line
    if lines and "weights_only" not in lines[0]:
        return lines[0]
    return "unpickling error"


def _migrate(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Bring an older format up to date, one explicit function per version step."""
    version = data.get("format_version")
    raise CheckpointError(
        f"{path}: checkpoint format version {version} is not supported by seqcli "
        f"{__version__} (reads version {FORMAT_VERSION})"
    )


def _digest(data: dict[str, Any]) -> str:
    """SHA-256 over every value but the digest itself, tensors by their raw bytes."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in data.items() if k != "digest"})
    return h.hexdigest()


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value, key=str):
            h.update(repr(key).encode())
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, list | tuple):
        h.update(b"[")
        for item in value:
            _feed(h, item)
        h.update(b"]")
    elif isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        # Raw bytes straight from memory: no numpy needed, no copy for big tensors.
        h.update(ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()))
    elif isinstance(value, bytes):
        h.update(b"B" + value)
    else:
        h.update(repr(value).encode())


def build_checked(
    build: Callable[[], torch.nn.Module], state_dict: dict[str, Any], *, source: str
) -> torch.nn.Module:
    """The network `build()` makes, with the stored weights in place.

    The network is first built on the meta device (shapes, no memory) and its
    tensors compared with the stored ones, so that a config edited to describe a
    huge network is refused before anything is allocated.
    """
    check_buildable(build, state_dict, source=source)
    network = build()
    load_weights(network, state_dict, source=source)
    return network


def check_buildable(
    build: Callable[[], torch.nn.Module], state_dict: dict[str, Any], *, source: str
) -> None:
    """Refuse stored weights that do not fit `build()`'s network, allocating nothing
    (the network is built on the meta device: shapes only)."""
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in build().state_dict().items()}
    check_shapes(shapes, state_dict, source=source)


def check_shapes(
    expected: dict[str, tuple[int, ...]], state_dict: Any, *, source: str
) -> None:
    """Refuse stored weights whose names or shapes differ from the network's."""
    problem = _weights_problem(expected, state_dict)
    if problem:
        raise CheckpointError(
            f"{source}: stored weights do not fit the network its config "
            f"describes: {problem}"
        )


def _weights_problem(expected: dict[str, tuple[int, ...]], stored: Any) -> str:
    if not isinstance(stored, dict):
        return "state_dict is not a mapping of tensors"
    missing = [k for k in expected if k not in stored]
    extra = [k for k in stored if k not in expected]
    if missing:
        return f"{missing[0]!r} is missing" + _more(missing)
    if extra:
        return f"{extra[0]!r} is not part of the network" + _more(extra)
    for key, shape in expected.items():
        value = stored[key]
        if not isinstance(value, torch.Tensor):
            return f"{key!r} is not a tensor"
        if tuple(value.shape) != shape:
            return (
                f"{key!r} has shape {list(value.shape)}, the config needs {list(shape)}"
            )
    return ""


def _more(keys: list[str]) -> str:
    return f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""


def load_weights(
    network: torch.nn.Module, state_dict: dict[str, Any], *, source: str
) -> None:
    """Put stored weights into `network`; weights that do not fit are an error."""
    check_shapes(
        {k: tuple(v.shape) for k, v in network.state_dict().items()},
        state_dict,
        source=source,
    )
    try:
        network.load_state_dict(state_dict)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{source}: stored weights do not fit the network its config describes "
            f"({first[:160]})"
        ) from None


def find_latest(task: str | tuple[str, ...], folder: str | Path = DEFAULT_DIR) -> Path:
    """The newest checkpoint of `task` in `folder` (resume snapshots excluded)."""
    wanted = (task,) if isinstance(task, str) else task
    folder = Path(folder)
    candidates = sorted(
        (p for p in folder.glob("*.pt") if not p.name.endswith(LAST_SUFFIX)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in candidates:
        if peek_task(path) in wanted:
            return path
    raise CheckpointError(
        f"no {' or '.join(wanted)} checkpoint in {folder}/: train one first "
        f"or pass -m/--model"
    )


def peek_task(path: Path) -> str | None:
    """The task of a checkpoint, or None if it is unreadable (no digest check)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not a candidate
        return None
    return data.get("task") if isinstance(data, dict) else None
