"""A checkpoint's metadata record: what `seqcli info` shows, readable without torch.

Must not import torch. torch.save writes a zip archive (``archive/data.pkl``,
``archive/data/0``, ...); `add_metadata` appends one more entry to it,
``<archive>/seqcli/metadata.json``, holding everything but the weights' values and
the SentencePiece model bytes: format, versions, task, config, tokenizer options,
vocabulary sizes, parameter count, metrics, training data and the digest.
torch.load ignores the entry, and `read_metadata` opens the archive with zipfile
alone, so `seqcli info` starts in a fraction of `import torch`. A checkpoint saved
before the record existed has none: `read_metadata` returns None and the caller
reads the whole checkpoint instead.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import IO, Any

FORMAT = "seqcli-checkpoint"
FORMAT_VERSION = 1
RECORD = "seqcli/metadata.json"


def metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready metadata of a checkpoint's contents (as saved or loaded)."""
    state = data.get("state_dict", {})
    vocab = data.get("vocab", {})
    return {
        "format": data.get("format"),
        "format_version": data.get("format_version"),
        "seqcli_version": data.get("seqcli_version"),
        "created": data.get("created"),
        "task": data.get("task"),
        "config": _plain(data.get("config", {})),
        "tokenizer": _plain(data.get("tokenizer", {})),
        "vocab_sizes": {k: len(v) for k, v in vocab.items()},
        # Tensors are counted by duck typing: this module never imports torch.
        "parameters": sum(int(t.numel()) for t in state.values()),
        "metrics": _plain(data.get("metrics", {})),
        "calibration": _plain(data.get("calibration", {})),  # {} = T of 1
        "data": _plain(data.get("data", {})),
        "resumable": "train_state" in data,
        "digest": data.get("digest"),
    }


def _plain(value: Any) -> Any:
    """`value` with JSON's types only: bytes (a SentencePiece model) are left out,
    tuples become lists, anything else unknown its string."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not _is_bytes(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value if not _is_bytes(v)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _is_bytes(value: Any) -> bool:
    return isinstance(value, bytes | bytearray)


def add_metadata(fh: IO[bytes], data: dict[str, Any]) -> None:
    """Append the metadata record of `data` to the zip archive torch.save has just
    written to `fh` (a file opened for reading and writing, e.g. ``"w+b"``)."""
    fh.flush()
    fh.seek(0)
    with zipfile.ZipFile(fh, "a") as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        text = json.dumps(metadata(data), ensure_ascii=False)
        archive.writestr(f"{root}/{RECORD}", text)
    fh.flush()


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The metadata record of the checkpoint at `path`, checked against the
    archive's checksums; None if the file has none or is not a sound archive of
    the current format (the caller then loads it and reports why)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/" + RECORD)]
            if len(names) != 1 or archive.testzip() is not None:
                return None  # no record, or damaged bytes: the full load explains
            record = json.loads(archive.read(names[0]).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("format") != FORMAT or record.get("format_version") != FORMAT_VERSION:
        return None
    return record
