"""Accuracy, macro-F1, per-class scores and confusion matrix, checked by hand.

Scores are percentages (0-100), the scale of every seqcli score.
"""

from __future__ import annotations

import pytest

from seqcli.metrics.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
)

# gold:      a a a b b c
# predicted: a a b b c c
GOLD = [0, 0, 0, 1, 1, 2]
PREDICTED = [0, 0, 1, 1, 2, 2]


def test_accuracy_and_confusion() -> None:
    assert accuracy(GOLD, PREDICTED) == pytest.approx(100 * 4 / 6)
    assert confusion_matrix(GOLD, PREDICTED, 3) == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_report_by_hand() -> None:
    report = classification_report(GOLD, PREDICTED, ["a", "b", "c"])
    a, b, c = report.classes
    assert (a.precision, a.recall, a.support) == (100.0, pytest.approx(200 / 3), 3)
    assert a.f1 == pytest.approx(80.0)
    assert (b.precision, b.recall, b.f1) == (50.0, 50.0, 50.0)
    assert (c.precision, c.recall) == (50.0, 100.0)
    assert c.f1 == pytest.approx(200 / 3)
    assert report.macro_f1 == pytest.approx((80 + 50 + 200 / 3) / 3)
    assert report.examples == 6


def test_a_class_never_predicted_has_f1_zero() -> None:
    report = classification_report([0, 1], [0, 0], ["x", "y"])
    assert report.classes[1].f1 == 0.0
    assert report.classes[1].precision == 0.0
    assert report.macro_f1 == pytest.approx((200 / 3) / 2)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        accuracy([0, 1], [0])
