"""Classification metrics: accuracy, confusion matrix, per-class precision/recall/F1.

Pure Python over label ids, so that scoring a classifier needs no torch here.
Scores are percentages (0-100), as every seqcli score is (see `scales`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seqcli.metrics.scales import percent


@dataclass(frozen=True)
class ClassScore:
    """Precision, recall and F1 of one class; `support` = gold examples of it."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationReport:
    """Accuracy, macro-F1, per-class scores and the confusion matrix.

    ``confusion[g][p]`` counts examples of gold class g predicted as class p.
    """

    accuracy: float
    macro_f1: float
    classes: list[ClassScore]
    confusion: list[list[int]]
    labels: list[str]
    examples: int


def accuracy(gold: Sequence[int], predicted: Sequence[int]) -> float:
    """Percent of positions where the prediction equals the gold label (0 to 100)."""
    hits = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return percent(hits, len(gold))


def confusion_matrix(
    gold: Sequence[int], predicted: Sequence[int], num_classes: int
) -> list[list[int]]:
    """Counts[gold][predicted] over class ids 0 .. num_classes - 1."""
    counts = [[0] * num_classes for _ in range(num_classes)]
    for g, p in zip(gold, predicted, strict=True):
        counts[g][p] += 1
    return counts


def classification_report(
    gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]
) -> ClassificationReport:
    """Every classification figure from gold and predicted class ids.

    Macro-F1 is the unweighted mean of the per-class F1 scores, so that a rare
    class counts as much as a frequent one; a class never predicted and never
    seen has F1 0 (as in scikit-learn's ``zero_division=0``).
    """
    confusion = confusion_matrix(gold, predicted, len(labels))
    classes = []
    for c, label in enumerate(labels):
        true_pos = confusion[c][c]
        predicted_c = sum(row[c] for row in confusion)
        support = sum(confusion[c])
        precision = percent(true_pos, predicted_c)
        recall = percent(true_pos, support)
        f1 = 2 * precision * recall / (precision + recall) if true_pos else 0.0
        classes.append(ClassScore(label, precision, recall, f1, support))
    return ClassificationReport(
        accuracy=accuracy(gold, predicted),
        macro_f1=sum(c.f1 for c in classes) / max(len(classes), 1),
        classes=classes,
        confusion=confusion,
        labels=list(labels),
        examples=len(gold),
    )
