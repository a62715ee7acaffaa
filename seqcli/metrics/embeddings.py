"""Word-embedding evaluation sets and their scores: analogies and word similarity.

Reads Mikolov et al.'s (2013) analogy questions (``: section`` headers, then
``a b c d`` lines) and word-similarity files (two words and a human score per line,
as WordSim-353 and SimLex-999 ship), and computes the scores: analogy accuracy per
section, semantic vs syntactic, and Spearman's rank correlation. Must not import
torch: the vector arithmetic lives in `tasks/embeddings_inference`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from seqcli.errors import DataFormatError
from seqcli.readers import display_name, read_lines


class AnalogyQuestion(NamedTuple):
    """a is to b as c is to d, in `section` (line `lineno` of its file)."""

    section: str
    a: str
    b: str
    c: str
    d: str
    lineno: int


class SimilarityPair(NamedTuple):
    first: str
    second: str
    score: float
    lineno: int


def read_analogies(path: str | Path) -> list[AnalogyQuestion]:
    """Questions in Mikolov's questions-words format; `#` lines are comments."""
    name = display_name(path)
    section = ""
    questions: list[AnalogyQuestion] = []
    for line in read_lines(path):
        text = line.text.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith(":"):
            section = text[1:].strip()
            continue
        words = text.split()
        if len(words) != 4:
            raise DataFormatError(
                f"expected four words 'a b c d', found {len(words)}", name, line.lineno
            )
        questions.append(AnalogyQuestion(section, *words, line.lineno))
    if not questions:
        raise DataFormatError("no analogy questions in the file", name)
    return questions


def read_similarity(path: str | Path) -> list[SimilarityPair]:
    """Word pairs with a human score: ``w1 w2 score``, tab or space separated.

    `#` lines are comments; a first line whose score is not a number is taken for
    a header (WordSim-353's CSV release has one).
    """
    name = display_name(path)
    pairs: list[SimilarityPair] = []
    for line in read_lines(path):
        text = line.text.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split("\t") if "\t" in text else text.split()
        if len(fields) < 3:
            raise DataFormatError(
                f"expected two words and a score, found {len(fields)} fields",
                name,
                line.lineno,
            )
        try:
            score = float(fields[2])
        except ValueError:
            if not pairs:
                continue  # a header line
            raise DataFormatError(
                f"score '{fields[2]}' is not a number", name, line.lineno
            ) from None
        pairs.append(
            SimilarityPair(fields[0].strip(), fields[1].strip(), score, line.lineno)
        )
    if not pairs:
        raise DataFormatError("no word pairs in the file", name)
    return pairs


# --- scores ------------------------------------------------------------------------
def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            ranks[i] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rho: Pearson's correlation of the (average) ranks, or NaN."""
    if len(xs) != len(ys):
        raise ValueError("spearman needs two sequences of the same length")
    if len(xs) < 2:
        return math.nan
    rx, ry = average_ranks(xs), average_ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return math.nan
    return cov / math.sqrt(vx * vy)


@dataclass
class SectionScore:
    """One section's questions: how many, how many answerable, how many right."""

    section: str
    total: int = 0
    answered: int = 0  # all four words in the vocabulary
    correct: int = 0

    @property
    def skipped(self) -> int:
        return self.total - self.answered

    @property
    def accuracy(self) -> float:
        """Percent of right answers among the questions asked (OOV ones skipped)."""
        return 100.0 * self.correct / self.answered if self.answered else math.nan

    @property
    def accuracy_all(self) -> float:
        """Percent of right answers among all questions, skipped ones counted wrong."""
        return 100.0 * self.correct / self.total if self.total else math.nan

    def add(self, other: SectionScore) -> None:
        self.total += other.total
        self.answered += other.answered
        self.correct += other.correct


def is_syntactic(section: str) -> bool:
    """Mikolov's syntactic sections are named gram1-... to gram9-..."""
    return section.startswith("gram")


@dataclass
class AnalogyReport:
    sections: list[SectionScore]
    semantic: SectionScore
    syntactic: SectionScore
    overall: SectionScore


def analogy_report(sections: Sequence[SectionScore]) -> AnalogyReport:
    """Sum sections into semantic, syntactic and overall scores."""
    semantic, syntactic = SectionScore("semantic"), SectionScore("syntactic")
    overall = SectionScore("overall")
    for score in sections:
        (syntactic if is_syntactic(score.section) else semantic).add(score)
        overall.add(score)
    return AnalogyReport(list(sections), semantic, syntactic, overall)


@dataclass
class SimilarityScore:
    """Spearman's rho over the pairs whose words are both in the vocabulary."""

    name: str
    spearman: float
    pairs: int
    oov_pairs: int
