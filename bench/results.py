"""The results file: one JSON record per figure and run, its schema, and where
records are written (docs/results/ by default; through seqcli's one write path).

Must not import torch: the results page and its tests read these records.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqcli.outputs import OutputFile

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "docs" / "results"
SCHEMA_VERSION = 1


@dataclass
class Peer:
    """Another implementation measured in the same run on the same data and budget."""

    name: str
    values: list[float]
    command: str
    note: str = ""


@dataclass
class Measurement:
    """What a figure's code returns: one value per seed, the peer's if it has one,
    and the figure's own details (everything else the run measured)."""

    values: list[float]
    seeds: list[int]
    command: str  # what was measured, as a user would run it
    peer: Peer | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # a file a later figure of the same run may reuse (a trained model), not recorded
    artefact: str | None = None


@dataclass
class GitState:
    commit: str  # the full hash of HEAD, "" outside a git checkout
    dirty: bool


def git_state(root: Path = ROOT) -> GitState:
    """HEAD and whether tracked files differ from it (untracked files are ignored:
    they are the results of this very run, or scratch)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        )
    except OSError:
        return GitState("", True)
    if head.returncode != 0:
        return GitState("", True)
    return GitState(head.stdout.strip(), bool(status.stdout.strip()))


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def reference(name: str, values: list[float], note: str = "") -> dict[str, Any]:
    """A figure of the same run shown beside ours, in the figure's metric (an
    entry of a measurement's ``details["references"]``, listed in RESULTS.md's
    notes): not another implementation, which is a `Peer`, but another model of
    the comparison, such as the teacher ensemble beside its distilled student."""
    return {
        "name": name,
        "value": statistics.fmean(values),
        "spread": _sd(values),
        "values": list(values),
        "note": note,
    }


def compute(what: str, seconds: float) -> dict[str, Any]:
    """One part of a figure's compute, in minutes (an entry of a measurement's
    ``details["compute"]``, listed in RESULTS.md's notes): a figure whose models
    learn from other models states their training and labelling apart."""
    return {"what": what, "minutes": round(seconds / 60, 2)}


def build_record(
    figure: Any,  # figures.Figure
    measurement: Measurement,
    *,
    suite: str,
    budget: dict[str, Any],
    command: str,
    git: GitState,
    machine: dict[str, Any],
    torch_version: str,
    load_before: list[float],
    load_after: list[float],
) -> dict[str, Any]:
    """The results record of one figure's run."""
    value = statistics.fmean(measurement.values)
    peer = None
    if measurement.peer is not None:
        p = measurement.peer
        peer_value = statistics.fmean(p.values)
        peer = {
            "name": p.name,
            "value": peer_value,
            "spread": _sd(p.values),
            "values": p.values,
            "command": p.command,
            "note": p.note,
            "ratio": value / peer_value if peer_value else None,
        }
    return {
        "schema": SCHEMA_VERSION,
        "name": figure.name,
        "task": figure.task,
        "title": figure.title,
        "metric": figure.metric,
        "higher_is_better": figure.higher_is_better,
        "value": value,
        "spread": _sd(measurement.values),
        "values": measurement.values,
        "seeds": measurement.seeds,
        "suite": suite,
        "budget": budget,
        "command": command,
        "measured": measurement.command,
        "commit": git.commit,
        "dirty": git.dirty,
        "machine": machine,
        "torch": torch_version,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "peer": peer,
        "details": measurement.details,
    }


# --- the schema: key -> allowed types ------------------------------------------------
_NUMBER = (int, float)
SCHEMA: dict[str, tuple[type, ...]] = {
    "schema": (int,),
    "name": (str,),
    "task": (str,),
    "title": (str,),
    "metric": (str,),
    "higher_is_better": (bool,),
    "value": _NUMBER,
    "spread": _NUMBER,
    "values": (list,),
    "seeds": (list,),
    "suite": (str,),
    "budget": (dict,),
    "command": (str,),
    "measured": (str,),
    "commit": (str,),
    "dirty": (bool,),
    "machine": (dict,),
    "torch": (str,),
    "load_before": (list,),
    "load_after": (list,),
    "date": (str,),
    "peer": (dict, type(None)),
    "details": (dict,),
}
MACHINE_SCHEMA: dict[str, tuple[type, ...]] = {
    "cpu": (str,),
    "isa": (dict,),
    "cpus": (int, type(None)),
    "threads": (int,),
    "gpu": (str, type(None)),
    "class": (str,),
}
PEER_SCHEMA: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "value": _NUMBER,
    "spread": _NUMBER,
    "values": (list,),
    "command": (str,),
    "ratio": (*_NUMBER, type(None)),
}
# details["references"] and details["compute"]: optional, listed in the notes
DETAIL_SCHEMAS: dict[str, dict[str, tuple[type, ...]]] = {
    "references": {
        "name": (str,),
        "value": _NUMBER,
        "spread": _NUMBER,
        "values": (list,),
    },
    "compute": {"what": (str,), "minutes": _NUMBER},
}
SUITES = ("quick", "full")


def _check(where: str, record: Any, schema: dict[str, tuple[type, ...]]) -> list[str]:
    if not isinstance(record, dict):
        return [f"{where}: not an object"]
    problems = [f"{where}: no {key!r}" for key in schema if key not in record]
    for key, types in schema.items():
        value = record.get(key)
        # bool is an int in Python: a number field must not hold true/false
        is_bool = isinstance(value, bool) and bool not in types
        if key in record and (not isinstance(value, types) or is_bool):
            problems.append(f"{where}: {key!r} is {type(value).__name__}")
    return problems


def validate(record: Any, where: str = "record") -> list[str]:
    """Every problem of a results record (empty when it is valid)."""
    problems = _check(where, record, SCHEMA)
    if problems:
        return problems
    problems += _check(f"{where}: machine", record["machine"], MACHINE_SCHEMA)
    if record["peer"] is not None:
        problems += _check(f"{where}: peer", record["peer"], PEER_SCHEMA)
    for key, schema in DETAIL_SCHEMAS.items():
        entries = record["details"].get(key, [])
        if not isinstance(entries, list):
            problems.append(f"{where}: details {key!r} is not a list")
            continue
        for i, entry in enumerate(entries):
            problems += _check(f"{where}: {key}[{i}]", entry, schema)
    if record["schema"] != SCHEMA_VERSION:
        problems.append(f"{where}: schema {record['schema']} (expected 1)")
    if record["suite"] not in SUITES:
        problems.append(f"{where}: suite {record['suite']!r} is not one of {SUITES}")
    if len(record["values"]) != len(record["seeds"]) or not record["values"]:
        problems.append(f"{where}: one value per seed expected")
    if not all(isinstance(v, _NUMBER) for v in record["values"]):
        problems.append(f"{where}: values must be numbers")
    if record["suite"] == "full" and (record["dirty"] or not record["commit"]):
        problems.append(f"{where}: a full run needs a clean checkout at a commit")
    return problems


def result_path(
    name: str, out_dir: Path = RESULTS_DIR, *, forced: bool = False
) -> Path:
    """``<name>.json``; ``<name>.avx2.json`` for a run under the forced AVX2 code
    paths (`--isa avx2`), so that a figure keeps one file per machine class."""
    return out_dir / f"{name}{'.avx2' if forced else ''}.json"


def write_record(record: dict[str, Any], out_dir: Path = RESULTS_DIR) -> Path:
    """Write a record as ``<out_dir>/<name>[.avx2].json`` (atomically; a run of the
    same figure on the same class of machine replaces the previous file)."""
    forced = bool(record["machine"].get("isa_switches"))
    path = result_path(record["name"], out_dir, forced=forced)
    out = OutputFile(path, inputs={}, flag="--out")
    return out.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_records(folder: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every results record in `folder`, by file name."""
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.json"))
    ]


def evaluations(log: Path) -> list[dict[str, Any]]:
    """The evaluation records of a run's metrics log (x.metrics.jsonl), in order,
    as plain dicts; the training-loss records (``"kind": "train"``) left out."""
    from seqcli.readers.metrics_log import read_metrics_log

    return [
        {"step": r.step, "elapsed_s": r.elapsed_s, **r.values}
        for r in read_metrics_log(log)
        if r.kind == "valid"
    ]
