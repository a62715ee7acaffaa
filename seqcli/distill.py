"""What a student's run shares across tasks: its teachers' checks, unlabeled text,
and the teachers' probabilities cached beside its examples.

A task labels its own examples with each teacher (each reading the raw text through
its own tokenizer and vocabulary), once, before training; `average` turns those
predictions into one target per example, in the student's label order, and
`Teaching` carries them to the task's batches (`batching.with_soft_targets`).
The losses themselves are in `nn.distill`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor

from seqcli.config import DistillConfig
from seqcli.errors import ConfigError, DataFormatError
from seqcli.readers import display_name, read_lines


@dataclass
class Teaching:
    """The teachers' averaged probabilities of every training example at the
    run's temperature, then those of the unlabeled texts (`silver` of them)."""

    soft: list[Tensor]  # per example: (classes,) or (length, tags)
    gold: list[bool]  # False for an example of unlabeled text
    weight: float
    temperature: float
    summary: dict[str, object] = field(default_factory=dict)

    @property
    def silver(self) -> int:
        return self.gold.count(False)


def label_columns(
    teacher: Sequence[str], student: Sequence[str], *, source: str, what: str
) -> list[int]:
    """For each of the student's labels, the teacher's column that holds it.

    Raises:
        ConfigError: the teacher was trained on another label set.
    """
    if set(teacher) != set(student):
        raise ConfigError(
            f"--teacher {source}: its {what} ({', '.join(sorted(teacher))}) differ "
            f"from the training data's ({', '.join(sorted(student))}); a teacher "
            "must know the same label set"
        )
    index = {label: i for i, label in enumerate(teacher)}
    return [index[label] for label in student]


def average(per_teacher: Sequence[Sequence[Tensor]]) -> list[Tensor]:
    """Example by example, the mean of the teachers' probabilities."""
    n = len(per_teacher)
    return [sum(probs) / n for probs in zip(*per_teacher, strict=True)]  # type: ignore[misc]


def read_unlabeled(path: str) -> list[str]:
    """The non-blank lines of a raw text file (one sentence or text per line)."""
    texts = [line.text for line in read_lines(path) if line.text.strip()]
    if not texts:
        raise DataFormatError("no text in the unlabeled file", display_name(path))
    return texts


def teaching_of(
    cfg: DistillConfig,
    soft: list[Tensor],
    *,
    gold_examples: int,
    teachers_seconds: float,
) -> Teaching:
    """`Teaching` of `soft` targets whose first `gold_examples` are labelled."""
    gold = [i < gold_examples for i in range(len(soft))]
    summary = {
        "teachers": list(cfg.teachers),
        "weight": cfg.weight,
        "temperature": cfg.temperature,
        "unlabeled": cfg.unlabeled_path,
        "silver_examples": len(soft) - gold_examples,
        # Compute spent labelling, stated apart from the student's own training.
        "labelling_seconds": round(teachers_seconds, 3),
    }
    return Teaching(soft, gold, cfg.weight, cfg.temperature, summary)


def describe(teaching: Teaching) -> str:
    """One line for the run's messages."""
    n = len(teaching.summary["teachers"])  # type: ignore[arg-type]
    silver = (
        f", {teaching.silver:,} unlabeled texts labelled" if teaching.silver else ""
    )
    return (
        f"distilling from {n} teacher{'s' * (n != 1)} (weight {teaching.weight:g}, "
        f"temperature {teaching.temperature:g}{silver}; teachers' labelling took "
        f"{teaching.summary['labelling_seconds']:.1f} s)"
    )
