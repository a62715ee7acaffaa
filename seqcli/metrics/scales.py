"""How every command shows a score: one convention, written down once.

Must not import torch. Scores that are shares (accuracy, precision, recall, F1,
BLEU, chrF, TER) are percentages everywhere, as conlleval and sacreBLEU print
them: the metric functions return 0-100, JSON output and checkpoints hold that
number unrounded, and text output shows it with two decimals (``89.34``). Losses,
perplexities and correlations keep their own scale (``{:.4g}``). Probabilities
(``classify --probs``) are not scores: they stay 0-1.
"""

from __future__ import annotations

import math

# Names (as metric dicts spell them) of the scores measured in percent.
PERCENT_METRICS = frozenset(
    {"accuracy", "macro_f1", "f1", "precision", "recall", "bleu", "chrf", "ter", "ece"}
)


def is_percent(name: str) -> bool:
    """Whether the metric `name` (``f1``, ``test.bleu``, ``accuracy_all``) is one."""
    last = name.rsplit(".", 1)[-1]
    return last in PERCENT_METRICS or last.startswith("accuracy")


def format_metric(name: str, value: object) -> str:
    """`value` of the metric `name` as text output shows it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if math.isnan(value):
        return "n/a"
    if is_percent(name):
        return f"{value:.2f}"
    return f"{value:.4g}"


def percent(hits: int | float, total: int | float) -> float:
    """100 * hits / total (0 when there is nothing to count)."""
    return 100.0 * hits / total if total else 0.0
