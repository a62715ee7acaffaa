"""How `seqcli evaluate` shows calibration: ECE and Brier score before and after
temperature scaling (and a two-class classifier's bias), and the reliability
diagram of --plot-reliability.

Must not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcli.cli._shared import out_console
from seqcli.metrics.scales import format_metric

if TYPE_CHECKING:
    from seqcli.metrics.calibration import CalibrationReport
    from seqcli.outputs import OutputFile
    from seqcli.temperature import Calibration


def calibration_record(
    reports: Mapping[str, CalibrationReport], calibrations: Sequence[Calibration]
) -> dict[str, Any]:
    """The JSON of `evaluate`: each model's T (and b, where one has a bias), and
    ECE (percent) and Brier score with T = 1 and b = 0 ("uncalibrated") and with
    the stored calibration ("calibrated")."""
    record: dict[str, Any] = {
        "temperature": _one_or_all([c.temperature for c in calibrations])
    }
    if any(c.bias for c in calibrations):
        record["bias"] = _one_or_all([c.bias for c in calibrations])
    for name, report in reports.items():
        record[name] = {"ece": report.ece, "brier": report.brier}
    return record


def render_calibration(
    reports: Mapping[str, CalibrationReport], calibrations: Sequence[Calibration]
) -> None:
    """The calibration table of `evaluate`'s text output."""
    from rich.table import Table

    shown = ", ".join(f"{c.temperature:.3f}" for c in calibrations)
    if any(c.bias for c in calibrations):
        shown += "; bias " + ", ".join(f"{c.bias:+.3f}" for c in calibrations)
    table = Table(title=f"calibration (temperature {shown})", title_justify="left")
    for column in ("", "ece", "brier"):
        table.add_column(column, justify="right" if column else "left")
    for name, report in reports.items():
        table.add_row(
            name, format_metric("ece", report.ece), format_metric("", report.brier)
        )
    out_console.print(table)


def plot_reliability(
    reports: Mapping[str, CalibrationReport], picture: OutputFile
) -> None:
    """Draw the reliability diagram into the claimed output."""
    from seqcli.reliability import draw_reliability

    picture.write_figure(draw_reliability(reports), dpi=120)


def plot_only_for(task: str, picture: Path | None, why: str) -> None:
    """Refuse --plot-reliability where no probabilities are scored."""
    from seqcli.errors import ConfigError

    if picture is not None and task not in ("sentiment", "ner", "translation"):
        raise ConfigError(
            "--plot-reliability: only for classifiers, taggers and translation "
            f"models ({why})"
        )


def claim_picture(
    picture: Path | None, data: str, paths: list[Path]
) -> OutputFile | None:
    """The --plot-reliability output, claimed (and the extra checked) before the
    model runs."""
    if picture is None:
        return None
    from seqcli.outputs import OutputFile
    from seqcli.reliability import require_matplotlib

    inputs = {"DATA": None if data == "-" else data}
    inputs.update({f"-m/--model {i + 1}": p for i, p in enumerate(paths)})
    claimed = OutputFile(picture, inputs=inputs, flag="--plot-reliability")
    require_matplotlib()
    return claimed


def _one_or_all(values: Sequence[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else list(values)
