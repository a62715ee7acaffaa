"""The reliability diagram of `seqcli evaluate --plot-reliability` (Guo et al., 2017,
figure 1): for each confidence bin, how often the model was right, against the
diagonal a calibrated model would follow; one panel before temperature scaling
(T = 1) and one after (the stored T).

matplotlib is an optional extra, imported only when a figure is drawn; the figure
is built without pyplot (no global state). Must not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from seqcli.errors import SeqcliError
from seqcli.metrics.calibration import CalibrationReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING = (
    "--plot-reliability needs matplotlib, an optional extra: pip install 'seqcli[plot]'"
)


def require_matplotlib() -> None:
    """Raise the one-line error naming the extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SeqcliError(MISSING) from None


def draw_reliability(reports: Mapping[str, CalibrationReport]) -> Figure:
    """One panel per report (titled by its key): accuracy per confidence bin as
    bars, the gap to the bin's mean confidence shaded, the diagonal dashed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.5 * len(reports), 4.5), layout="constrained")
    axes = figure.subplots(1, len(reports), squeeze=False)[0]
    for ax, (title, report) in zip(axes, reports.items(), strict=True):
        width = report.bins[0].upper - report.bins[0].lower
        filled = [b for b in report.bins if b.count]
        lefts = [b.lower for b in filled]
        ax.bar(lefts, [b.accuracy for b in filled], width, align="edge",
               edgecolor="black", label="accuracy")  # fmt: skip
        ax.bar(lefts, [b.confidence - b.accuracy for b in filled], width,
               bottom=[b.accuracy for b in filled], align="edge", color="red",
               alpha=0.3, label="gap to confidence")  # fmt: skip
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
        ax.set_title(f"{title}: ECE {report.ece:.2f}, Brier {report.brier:.4f}")
        ax.legend(loc="upper left")
    return figure
