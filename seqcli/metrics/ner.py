"""Entity scores exactly as the CoNLL shared tasks' `conlleval` script computes them,
and the tag schemes (IOB1, IOB2, BIOES): detection, chunks, conversion.

Must not import torch.

conlleval reads one token per line, gold tag then predicted tag last, sentences
separated by blank lines, and scores chunks (entities). A chunk found in both
columns counts as correct when it starts and ends at the same tokens with the same
type. Its notion of where a chunk starts and ends (`_starts`, `_ends` below) is
what this module implements, rule for rule, so that ill-formed sequences such as
``O I-PER`` or ``B-PER I-LOC`` get the same verdicts as the reference script:
``I-PER`` after ``O`` starts a chunk, and a change of type ends one and starts
another. The counting (`ConllEval`) follows the script's single pass, including
its quirks (a sentence break closes every chunk; a ``-X-`` first column is a
break; types are what follows the first hyphen).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

OUTSIDE = "O"
BOUNDARY = "-X-"  # conlleval's sentence-break marker in the first column
SCHEMES = ("iob1", "iob2", "bioes")

# (previous prefix, current prefix) pairs at which conlleval sees a chunk end or
# start. Prefixes are what comes before the first hyphen of a tag ("B", "I", "E",
# "S", "O", ...); the type rules are in `_ends` and `_starts`.
_END_PAIRS = frozenset(
    {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"), ("E", "E"), ("E", "I"), ("E", "O")}
)
_START_PAIRS = frozenset(
    {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"), ("E", "E"), ("E", "I"), ("O", "E")}
)

Tag = tuple[str, str]  # (prefix, type)


def split_tag(tag: str) -> Tag:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``.

    The prefix ends at the first hyphen, so types may hold hyphens
    (``B-MISC-X`` has type ``MISC-X``). A type spelled ``0`` reads as no type, as in
    conlleval, where Perl takes the string "0" for false.
    """
    prefix, hyphen, kind = tag.partition("-")
    if not hyphen:
        return tag, ""
    return prefix, "" if kind == "0" else kind


def _ends(prev: Tag, cur: Tag) -> bool:
    """Did a chunk end between the previous token and this one?"""
    (p, p_type), (c, c_type) = prev, cur
    return (
        (p, c) in _END_PAIRS
        or (p not in (OUTSIDE, ".") and p_type != c_type)
        or p in ("[", "]")  # conlleval: bracket chunks have length one
    )


def _starts(prev: Tag, cur: Tag) -> bool:
    """Did a chunk start at this token?"""
    (p, p_type), (c, c_type) = prev, cur
    return (
        (p, c) in _START_PAIRS
        or (c not in (OUTSIDE, ".") and p_type != c_type)
        or c in ("[", "]")
    )


# --- scores --------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkScore:
    """Precision, recall and F1 in percent, with the counts they come from."""

    precision: float
    recall: float
    f1: float
    gold: int  # chunks in the gold column
    predicted: int  # chunks in the predicted column
    correct: int

    @classmethod
    def of(cls, correct: int, gold: int, predicted: int) -> ChunkScore:
        # conlleval's conventions: 0 when a denominator is 0.
        precision = 100.0 * correct / predicted if predicted else 0.0
        recall = 100.0 * correct / gold if gold else 0.0
        f1 = (
            2 * precision * recall / (precision + recall) if precision + recall else 0.0
        )
        return cls(precision, recall, f1, gold, predicted, correct)


@dataclass(frozen=True)
class NerReport:
    """What conlleval prints: overall and per-type chunk scores, token accuracy."""

    overall: ChunkScore
    by_type: dict[str, ChunkScore]  # sorted by type name, as conlleval sorts them
    accuracy: float  # percent of tokens whose gold and predicted tags are equal
    tokens: int

    def lines(self) -> list[str]:
        """The report in conlleval's own layout (its numbers, rounded alike)."""
        o = self.overall
        out = [
            f"processed {self.tokens} tokens with {o.gold} phrases; "
            f"found: {o.predicted} phrases; correct: {o.correct}."
        ]
        if self.tokens:
            out.append(
                f"accuracy: {self.accuracy:6.2f}%; precision: {o.precision:6.2f}%; "
                f"recall: {o.recall:6.2f}%; FB1: {o.f1:6.2f}"
            )
        for kind, s in self.by_type.items():
            out.append(
                f"{kind:>17}: precision: {s.precision:6.2f}%; recall: "
                f"{s.recall:6.2f}%; FB1: {s.f1:6.2f}  {s.predicted}"
            )
        return out


@dataclass
class ConllEval:
    """conlleval's single pass over (gold, predicted) tag pairs.

    Feed it with `add_sentence` (tags of one sentence; a break follows) or, for a
    file in conlleval's own format, with `add_token` and `add_break`.
    """

    _gold: Counter[str] = field(default_factory=Counter)
    _predicted: Counter[str] = field(default_factory=Counter)
    _correct: Counter[str] = field(default_factory=Counter)
    _tokens: int = 0
    _correct_tags: int = 0
    _last_gold: Tag = (OUTSIDE, "")
    _last_pred: Tag = (OUTSIDE, "")
    _in_correct: bool = False  # the chunk open in both columns matches so far

    def add_sentence(self, gold: Sequence[str], predicted: Sequence[str]) -> None:
        if len(gold) != len(predicted):
            raise ValueError(
                f"{len(gold)} gold tags but {len(predicted)} predicted tags"
            )
        for g, p in zip(gold, predicted, strict=True):
            self.add_token(g, p)
        self.add_break()

    def add_token(self, gold: str, predicted: str) -> None:
        g, p = split_tag(gold), split_tag(predicted)
        self._step(g, p)
        if g == p:
            self._correct_tags += 1
        self._tokens += 1

    def add_break(self) -> None:
        """A sentence break: conlleval reads it as a token tagged O in both
        columns that is not counted as a token."""
        self._step((OUTSIDE, ""), (OUTSIDE, ""))

    def _step(self, g: Tag, p: Tag) -> None:
        g_ends, p_ends = _ends(self._last_gold, g), _ends(self._last_pred, p)
        if self._in_correct:
            if g_ends and p_ends and self._last_gold[1] == self._last_pred[1]:
                self._in_correct = False
                self._correct[self._last_gold[1]] += 1
            elif g_ends != p_ends or g[1] != p[1]:
                self._in_correct = False
        g_starts, p_starts = _starts(self._last_gold, g), _starts(self._last_pred, p)
        if g_starts and p_starts and g[1] == p[1]:
            self._in_correct = True
        if g_starts:
            self._gold[g[1]] += 1
        if p_starts:
            self._predicted[p[1]] += 1
        self._last_gold, self._last_pred = g, p

    def report(self) -> NerReport:
        correct = self._correct.copy()
        if self._in_correct:  # a chunk still open at the end of the input
            correct[self._last_gold[1]] += 1
        overall = ChunkScore.of(
            sum(correct.values()),
            sum(self._gold.values()),
            sum(self._predicted.values()),
        )
        by_type = {
            kind: ChunkScore.of(correct[kind], self._gold[kind], self._predicted[kind])
            for kind in sorted(set(self._gold) | set(self._predicted))
        }
        accuracy = 100.0 * self._correct_tags / self._tokens if self._tokens else 0.0
        return NerReport(overall, by_type, accuracy, self._tokens)


def conlleval(
    sentences: Iterable[tuple[Sequence[str], Sequence[str]]],
) -> NerReport:
    """Score (gold tags, predicted tags) sentence pairs as conlleval does."""
    scorer = ConllEval()
    for gold, predicted in sentences:
        scorer.add_sentence(gold, predicted)
    return scorer.report()


# --- chunks and tag schemes ------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """An entity: tokens ``start`` to ``end`` (exclusive) of type ``kind``."""

    start: int
    end: int
    kind: str


def chunks(tags: Sequence[str]) -> list[Chunk]:
    """The chunks conlleval sees in one sentence's tags (IOB1, IOB2, or anything:
    ill-formed sequences are read as conlleval reads them)."""
    found: list[Chunk] = []
    start: int | None = None
    prev: Tag = (OUTSIDE, "")
    for i, tag in enumerate([*tags, OUTSIDE]):
        cur = split_tag(tag)
        if start is not None and _ends(prev, cur):
            found.append(Chunk(start, i, prev[1]))
            start = None
        if _starts(prev, cur):
            if start is not None:  # a new start without an end closes the old one
                found.append(Chunk(start, i, prev[1]))
            start = i
        prev = cur
    return found


def bioes_chunks(tags: Sequence[str]) -> list[Chunk]:
    """Chunks of a BIOES sequence, read leniently so that a tagger's ill-formed
    output still becomes entities: S is a chunk of one, B opens, E closes, I
    continues a chunk of its type and otherwise opens one."""
    found: list[Chunk] = []
    start: int | None = None
    kind = ""
    for i, tag in enumerate(tags):
        prefix, cur = split_tag(tag)
        continues = start is not None and cur == kind and prefix in ("I", "E")
        if start is not None and not continues:
            found.append(Chunk(start, i, kind))
            start = None
        if prefix == OUTSIDE or prefix not in ("B", "I", "E", "S"):
            continue
        if start is None:
            start, kind = i, cur
        if prefix in ("E", "S"):
            found.append(Chunk(start, i + 1, kind))
            start = None
    if start is not None:
        found.append(Chunk(start, len(tags), kind))
    return found


def chunks_of(tags: Sequence[str], scheme: str) -> list[Chunk]:
    """The chunks of one sentence's tags written in `scheme`."""
    return bioes_chunks(tags) if scheme == "bioes" else chunks(tags)


def tags_of(spans: Sequence[Chunk], length: int, scheme: str) -> list[str]:
    """Write chunks as tags in `scheme` (spans must not overlap)."""
    tags = [OUTSIDE] * length
    previous: Chunk | None = None
    for c in sorted(spans, key=lambda s: s.start):
        for i in range(c.start, c.end):
            tags[i] = f"I-{c.kind}"
        if scheme == "iob2":
            tags[c.start] = f"B-{c.kind}"
        elif scheme == "iob1":
            # IOB1 writes B only where a chunk follows one of the same type.
            touching = previous is not None and previous.end == c.start
            if touching and previous.kind == c.kind:
                tags[c.start] = f"B-{c.kind}"
        elif scheme == "bioes":
            if c.end - c.start == 1:
                tags[c.start] = f"S-{c.kind}"
            else:
                tags[c.start], tags[c.end - 1] = f"B-{c.kind}", f"E-{c.kind}"
        else:
            raise ValueError(f"unknown tag scheme {scheme!r}")
        previous = c
    return tags


def convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    """One sentence's tags from scheme `source` to scheme `target`."""
    if source == target:
        return list(tags)
    return tags_of(chunks_of(tags, source), len(tags), target)


def detect_scheme(sentences: Iterable[Sequence[str]]) -> str:
    """iob1, iob2 or bioes, from the tags of a corpus.

    E- or S- prefixes mean BIOES. Otherwise a chunk that opens with I- (after O or
    a tag of another type) means IOB1, where B- only separates two touching chunks
    of one type; a corpus whose every chunk opens with B- is IOB2.
    """
    saw_b = False
    for tags in sentences:
        prev: Tag = (OUTSIDE, "")
        for tag in tags:
            cur = split_tag(tag)
            if cur[0] in ("E", "S"):
                return "bioes"
            if cur[0] == "I" and (prev[0] == OUTSIDE or prev[1] != cur[1]):
                return "iob1"
            saw_b = saw_b or cur[0] == "B"
            prev = cur
    return "iob2" if saw_b else "iob1"


def scheme_errors(tags: Sequence[str], scheme: str) -> str | None:
    """Why `tags` is not a sequence of `scheme` (its first fault), or None.

    IOB1 and IOB2 accept the prefixes B and I, BIOES adds E and S; an IOB2 chunk
    must open with B; a BIOES chunk must open with B or S and close with E or S.
    """
    allowed = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}[scheme]
    prev: Tag = (OUTSIDE, "")
    for i, tag in enumerate(tags):
        cur = split_tag(tag)
        if tag != OUTSIDE and (cur[0] not in allowed or not cur[1] or len(cur[0]) != 1):
            return f"tag {tag!r} (token {i + 1}) is not a {scheme.upper()} tag"
        opens = cur[0] == "I" and (prev[0] == OUTSIDE or prev[1] != cur[1])
        if scheme == "iob2" and opens:
            return f"tag {tag!r} (token {i + 1}) opens an entity without B-"
        inside = prev[0] in ("B", "I") and prev[1] == cur[1]
        if scheme == "bioes" and cur[0] in ("I", "E") and not inside:
            return f"tag {tag!r} (token {i + 1}) continues no entity"
        if (
            scheme == "bioes"
            and prev[0] in ("B", "I")
            and not (cur[0] in ("I", "E") and inside)
        ):
            return f"tag {tag!r} (token {i + 1}) follows an unclosed entity"
        prev = cur
    return None


def conlleval_file(path: str) -> NerReport:
    """Score a file in conlleval's own input format, as conlleval does.

    Each line holds whitespace-separated columns, the gold tag second to last and
    the predicted tag last; a blank line, or a line whose first column is ``-X-``,
    is a sentence break. Every other line is a token (``-DOCSTART-`` lines too, as
    in conlleval), and each must have as many columns as the first.
    """
    from seqcli.errors import DataFormatError
    from seqcli.readers import display_name, empty_input, read_lines

    name = display_name(path)
    scorer = ConllEval()
    width = first = 0
    for line in read_lines(path):
        cells = line.text.split()
        if not cells or cells[0] == BOUNDARY:
            scorer.add_break()
            continue
        if not width:
            width, first = len(cells), line.lineno
            if width < 2:
                raise DataFormatError(
                    f"too few columns: found {width}, need at least 2 "
                    "(gold and predicted tag last)",
                    name,
                    line.lineno,
                )
        elif len(cells) != width:
            raise DataFormatError(
                f"expected {width} columns (as on line {first}), found {len(cells)}",
                name,
                line.lineno,
            )
        scorer.add_token(cells[-2], cells[-1])
    if not width:
        raise empty_input(path)
    return scorer.report()
