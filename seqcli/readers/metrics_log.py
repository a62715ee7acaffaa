"""A run's metrics log (``x.metrics.jsonl``): one JSON object per line, evaluation
records and, marked ``"kind": "train"``, training-loss records. Must not import torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

from seqcli.errors import DataFormatError
from seqcli.readers.lines import display_name, read_lines


class MetricsRecord(NamedTuple):
    lineno: int
    kind: str  # "train" (training loss) or "valid" (an evaluation)
    step: int
    elapsed_s: float
    values: dict[str, float]  # every numeric field but step and elapsed_s


def read_metrics_log(path: str | Path) -> list[MetricsRecord]:
    """The records of a metrics log, in order.

    A last line cut short (a run killed while writing it) is left out, as
    `seqcli.outputs.keep_log_until` drops it; a bad line elsewhere is an error.

    Raises:
        DataFormatError: a line that is no JSON object with a numeric ``step``,
            or a log without records.
    """
    name = display_name(path)
    lines = [line for line in read_lines(path) if line.text.strip()]
    records = []
    for index, (lineno, text) in enumerate(lines):
        try:
            data = json.loads(text)
        except ValueError:
            if index == len(lines) - 1:
                break  # torn by a kill
            raise DataFormatError("not valid JSON", name, lineno) from None
        if not isinstance(data, dict) or not _number(data.get("step")):
            raise DataFormatError(
                "expected a JSON object with a numeric 'step' (a seqcli metrics "
                "log, x.metrics.jsonl)",
                name,
                lineno,
            )
        values = {
            k: float(v)
            for k, v in data.items()
            if k not in ("step", "elapsed_s") and _number(v)
        }
        kind = "train" if data.get("kind") == "train" else "valid"
        elapsed = float(data["elapsed_s"]) if _number(data.get("elapsed_s")) else 0.0
        records.append(MetricsRecord(lineno, kind, int(data["step"]), elapsed, values))
    if not records:
        raise DataFormatError("holds no records", name)
    return records


def _number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
