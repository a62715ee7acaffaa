"""How far predicted probabilities are from observed frequencies: ECE and Brier.

Must not import torch. Expected calibration error (Naeini et al., 2015; as Guo et
al., 2017 measure it) bins predictions by their top-label confidence into equal-width
bins and averages |accuracy - confidence| over the bins, weighted by their size; it is
a share, so a percentage here as every seqcli score is (see `scales`). The Brier
score (Brier, 1950) is the mean squared distance between the probability vector and
the one-hot gold label, summed over classes: 0 is perfect, 2 the worst; it keeps its
own scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seqcli.metrics.scales import percent

ECE_BINS = 15  # Guo et al.'s number of bins


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin: its bounds, how many predictions fell in it, their mean
    confidence and their accuracy (both 0-1; 0 for an empty bin)."""

    lower: float
    upper: float
    count: int
    confidence: float
    accuracy: float


@dataclass(frozen=True)
class CalibrationReport:
    """ECE (percent), Brier score, and the bins the ECE was computed from."""

    ece: float
    brier: float
    examples: int
    bins: list[ReliabilityBin]


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool], *, bins: int = ECE_BINS
) -> list[ReliabilityBin]:
    """Predictions grouped into `bins` equal-width confidence bins over [0, 1].

    A bin holds the confidences in (lower, upper]; the first also holds 0.
    """
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct differ in length")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    counts = [0] * bins
    conf_sums = [0.0] * bins
    hits = [0] * bins
    for conf, ok in zip(confidences, correct, strict=True):
        # ceil(conf * bins) - 1, clamped: conf in (i/bins, (i+1)/bins] -> bin i.
        index = min(max(_ceil(conf * bins) - 1, 0), bins - 1)
        counts[index] += 1
        conf_sums[index] += conf
        hits[index] += bool(ok)
    return [
        ReliabilityBin(
            lower=i / bins,
            upper=(i + 1) / bins,
            count=counts[i],
            confidence=conf_sums[i] / counts[i] if counts[i] else 0.0,
            accuracy=hits[i] / counts[i] if counts[i] else 0.0,
        )
        for i in range(bins)
    ]


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], *, bins: int = ECE_BINS
) -> float:
    """ECE in percent: sum over bins of |bin| / n * |accuracy - confidence|."""
    return _ece(reliability_bins(confidences, correct, bins=bins))


def brier_score(probs: Sequence[Sequence[float]], gold: Sequence[int]) -> float:
    """Mean over examples of sum_k (p_k - [k == gold])^2 (0 when there are none)."""
    if len(probs) != len(gold):
        raise ValueError("probs and gold differ in length")
    total = 0.0
    for row, label in zip(probs, gold, strict=True):
        total += sum((p - (k == label)) ** 2 for k, p in enumerate(row))
    return total / len(probs) if probs else 0.0


def calibration_report(
    probs: Sequence[Sequence[float]], gold: Sequence[int], *, bins: int = ECE_BINS
) -> CalibrationReport:
    """ECE of the top label and Brier score of class probabilities against gold
    class ids; the predicted class is the most probable one."""
    confidences = [max(row) for row in probs]
    correct = [row.index(max(row)) == g for row, g in zip(probs, gold, strict=True)]
    return top_label_report(confidences, correct, brier_score(probs, gold), bins=bins)


def top_label_report(
    confidences: Sequence[float],
    correct: Sequence[bool],
    brier: float,
    *,
    bins: int = ECE_BINS,
) -> CalibrationReport:
    """The report of predictions given by their top-label confidence, whether
    that label was right, and their mean Brier score: for distributions too wide
    to pass as lists (a decoder's next token, over its whole vocabulary), whose
    caller computes the Brier score where the probabilities are."""
    table = reliability_bins(confidences, correct, bins=bins)
    return CalibrationReport(
        ece=_ece(table), brier=brier, examples=len(confidences), bins=table
    )


def _ece(table: Sequence[ReliabilityBin]) -> float:
    total = sum(b.count for b in table)
    gap = sum(b.count * abs(b.accuracy - b.confidence) for b in table)
    return percent(gap, total)


def _ceil(x: float) -> int:
    whole = int(x)
    return whole + (x > whole)
