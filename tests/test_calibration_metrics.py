"""ECE, Brier score and reliability bins (seqcli.metrics.calibration)."""

from __future__ import annotations

import random

import pytest

from seqcli.metrics.calibration import (
    brier_score,
    calibration_report,
    expected_calibration_error,
    reliability_bins,
)


def _draws(gap: float, n: int = 20_000) -> tuple[list[float], list[bool]]:
    """Confidences uniform in [0.5, 1]; each prediction is right with probability
    confidence - gap (gap 0: perfectly calibrated)."""
    rng = random.Random(0)
    confidences = [rng.uniform(0.5, 1.0) for _ in range(n)]
    correct = [rng.random() < c - gap for c in confidences]
    return confidences, correct


def test_ece_of_a_calibrated_predictor_is_near_zero() -> None:
    assert expected_calibration_error(*_draws(0.0)) < 1.5


def test_ece_of_an_overconfident_predictor_is_its_gap() -> None:
    ece = expected_calibration_error(*_draws(0.25))
    assert ece == pytest.approx(25.0, abs=1.5)


def test_brier_by_hand() -> None:
    probs = [[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]]
    # (0.09 + 0.09) + (0.64 + 0.64) + (0.25 + 0.25) = 1.96 over 3 examples
    assert brier_score(probs, [0, 0, 1]) == pytest.approx(1.96 / 3)
    assert brier_score([[1.0, 0.0]], [0]) == 0.0
    assert brier_score([[1.0, 0.0]], [1]) == pytest.approx(2.0)


def test_bins_are_equal_width_and_closed_above() -> None:
    table = reliability_bins([0.0, 1 / 15, 0.5, 1.0], [True, False, True, True])
    assert len(table) == 15
    assert [b.count for b in table if b.count] == [2, 1, 1]
    assert table[0].count == 2 and table[0].accuracy == 0.5
    assert table[7].count == 1 and table[7].confidence == 0.5
    assert table[14].count == 1 and table[14].accuracy == 1.0


def test_report_uses_the_top_label() -> None:
    # Both confident at 0.9; one right, one wrong: one bin, |0.5 - 0.9| = 40 %.
    report = calibration_report([[0.9, 0.1], [0.1, 0.9]], [0, 0])
    assert report.ece == pytest.approx(40.0)
    assert report.examples == 2
    assert report.brier == pytest.approx((0.02 + 1.62) / 2)
