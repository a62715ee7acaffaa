"""Entity scores against the conlleval script, and the tag schemes.

The expected lines below are the reference script's own output (conlleval, the
2004 version used by CoNLL-2003), run on these inputs; the inputs hold ill-formed
predictions (I- after O, a type change inside a chunk) on purpose.
"""

from __future__ import annotations

import itertools
import random

import pytest

from seqcli.metrics.ner import (
    Chunk,
    ConllEval,
    chunks,
    conlleval,
    convert,
    detect_scheme,
    scheme_errors,
    split_tag,
    tags_of,
)

# (sentences as (gold, predicted) tag strings, conlleval's output lines)
REFERENCE_CASES = [
    (
        [
            ("B-ORG I-ORG I-ORG", "O I-LOC I-ORG"),
            ("O O O O O O", "O O O B-LOC O B-LOC"),
            (
                "B-LOC I-LOC B-LOC I-LOC O O B-LOC O",
                "B-LOC I-LOC B-ORG I-LOC O I-PER B-LOC O",
            ),
            ("O O O O O O", "B-LOC I-PER I-LOC B-LOC O I-LOC"),
        ],
        [
            "processed 23 tokens with 4 phrases; found: 14 phrases; correct: 2.",
            "accuracy:  52.17%; precision:  14.29%; recall:  50.00%; FB1:  22.22",
            "              LOC: precision:  20.00%; recall:  66.67%; FB1:  30.77  10",
            "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  2",
            "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  2",
        ],
    ),
    (
        [
            ("O O O O", "O O O O"),
            ("O B-ORG I-ORG O", "O I-LOC I-ORG O"),
            ("O O O O O", "O O O O O"),
            ("O O B-PER I-PER O O", "B-LOC I-LOC B-PER I-PER O O"),
        ],
        [
            "processed 19 tokens with 2 phrases; found: 4 phrases; correct: 1.",
            "accuracy:  84.21%; precision:  25.00%; recall:  50.00%; FB1:  33.33",
            "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  2",
            "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1",
            "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1",
        ],
    ),
    (
        [
            ("B-ORG I-ORG I-ORG O O O O O O", "B-ORG I-ORG I-ORG O O O O O O"),
            ("O O O", "O O O"),
            ("O O O", "O O O"),
            ("O O O O O O O", "O O O O O O O"),
        ],
        [
            "processed 22 tokens with 1 phrases; found: 1 phrases; correct: 1.",
            "accuracy: 100.00%; precision: 100.00%; recall: 100.00%; FB1: 100.00",
            "              ORG: precision: 100.00%; recall: 100.00%; FB1: 100.00  1",
        ],
    ),
    (
        [
            ("O B-LOC I-LOC O O B-PER B-PER O O", "O B-LOC I-LOC O O B-LOC I-LOC O O"),
            ("O O B-ORG O B-LOC B-PER O", "O O B-PER O B-LOC B-PER O"),
            ("O O O B-PER", "O O B-LOC B-PER"),
            ("B-LOC I-LOC O O B-PER", "B-LOC I-LOC O O B-PER"),
        ],
        [
            "processed 25 tokens with 9 phrases; found: 9 phrases; correct: 6.",
            "accuracy:  84.00%; precision:  66.67%; recall:  66.67%; FB1:  66.67",
            "              LOC: precision:  60.00%; recall: 100.00%; FB1:  75.00  5",
            "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  0",
            "              PER: precision:  75.00%; recall:  60.00%; FB1:  66.67  4",
        ],
    ),
    (
        [
            ("O B-PER I-PER", "O B-PER I-ORG"),
            ("O O B-PER I-PER O O O B-ORG I-ORG", "O O B-PER I-PER O O O B-ORG B-PER"),
            ("O O O", "O O O"),
            ("O B-LOC B-PER O O", "B-LOC O B-PER O O"),
        ],
        [
            "processed 20 tokens with 5 phrases; found: 7 phrases; correct: 2.",
            "accuracy:  80.00%; precision:  28.57%; recall:  40.00%; FB1:  33.33",
            "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1",
            "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  2",
            "              PER: precision:  50.00%; recall:  66.67%; FB1:  57.14  4",
        ],
    ),
]


@pytest.mark.parametrize(("sentences", "expected"), REFERENCE_CASES)
def test_scores_equal_the_reference_script(
    sentences: list[tuple[str, str]], expected: list[str]
) -> None:
    pairs = [(g.split(), p.split()) for g, p in sentences]
    assert conlleval(pairs).lines() == expected


def test_hand_made_ill_formed_sequences() -> None:
    # conlleval reads `O I-PER` as a chunk, and `B-PER I-LOC` as two chunks.
    report = conlleval(
        [
            (["O", "B-PER", "I-PER"], ["O", "I-PER", "I-PER"]),  # right: I opens
            (["B-PER", "I-PER"], ["B-PER", "I-LOC"]),  # wrong: split in two
        ]
    )
    assert (report.overall.gold, report.overall.predicted) == (2, 3)
    assert report.overall.correct == 1
    assert report.by_type["LOC"].predicted == 1
    assert report.overall.precision == pytest.approx(100 / 3)
    assert report.overall.recall == pytest.approx(50.0)
    assert report.accuracy == pytest.approx(100 * 3 / 5)  # as the script says


def test_nothing_predicted_scores_zero_not_an_error() -> None:
    report = conlleval([(["B-PER", "O"], ["O", "O"])])
    assert report.overall.precision == 0.0 and report.overall.f1 == 0.0
    assert report.overall.recall == 0.0


def test_a_break_closes_chunks_and_is_no_token() -> None:
    scorer = ConllEval()
    scorer.add_token("B-PER", "B-PER")
    scorer.add_break()
    scorer.add_token("I-PER", "I-PER")  # opens a new chunk after the break
    report = scorer.report()
    assert report.tokens == 2
    assert report.overall.gold == 2 and report.overall.correct == 2


def _span_f1(sentences: list[tuple[list[str], list[str]]]) -> tuple[int, int, int]:
    """An independent count for well-formed IOB2: sets of (sentence, start, end,
    type) compared directly."""
    gold, pred = set(), set()
    for n, (g, p) in enumerate(sentences):
        gold |= {(n, c.start, c.end, c.kind) for c in _iob2_spans(g)}
        pred |= {(n, c.start, c.end, c.kind) for c in _iob2_spans(p)}
    return len(gold), len(pred), len(gold & pred)


def _iob2_spans(tags: list[str]) -> list[Chunk]:
    spans, start = [], None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not tag.startswith("I-"):
            spans.append(Chunk(start, i, tags[start][2:]))
            start = None
        if tag.startswith("B-"):
            start = i
    return spans


def _random_iob2(rng: random.Random, n: int) -> list[str]:
    tags: list[str] = []
    while len(tags) < n:
        if rng.random() < 0.5:
            kind = rng.choice(["PER", "LOC"])
            tags += [f"B-{kind}"] + [f"I-{kind}"] * rng.randint(0, 2)
        else:
            tags.append("O")
    return tags[:n]


def test_counts_equal_span_matching_on_well_formed_iob2() -> None:
    rng = random.Random(7)
    for _ in range(200):
        sentences = []
        for _ in range(3):
            n = rng.randint(1, 8)
            sentences.append((_random_iob2(rng, n), _random_iob2(rng, n)))
        o = conlleval(sentences).overall
        assert (o.gold, o.predicted, o.correct) == _span_f1(sentences)


def test_split_tag_reads_hyphenated_types() -> None:
    assert split_tag("B-MISC-X") == ("B", "MISC-X")
    assert split_tag("O") == ("O", "")


SCHEME_EXAMPLES = {
    # One sentence in each scheme: two touching PER chunks, a LOC of one token.
    "iob1": ["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
    "iob2": ["B-PER", "I-PER", "B-PER", "O", "B-LOC"],
    "bioes": ["B-PER", "E-PER", "S-PER", "O", "S-LOC"],
}


@pytest.mark.parametrize(
    ("source", "target"), list(itertools.permutations(SCHEME_EXAMPLES, 2))
)
def test_scheme_conversions(source: str, target: str) -> None:
    converted = convert(SCHEME_EXAMPLES[source], source, target)
    assert converted == SCHEME_EXAMPLES[target]
    assert convert(converted, target, source) == SCHEME_EXAMPLES[source]


def test_conversions_round_trip_random_chunks() -> None:
    rng = random.Random(3)
    for _ in range(200):
        tags = _random_iob2(rng, rng.randint(1, 10))
        for scheme in ("iob1", "bioes"):
            assert convert(convert(tags, "iob2", scheme), scheme, "iob2") == tags


def test_detect_scheme() -> None:
    for scheme, tags in SCHEME_EXAMPLES.items():
        assert detect_scheme([["O"], tags]) == scheme
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == "iob2"


def test_scheme_errors_name_the_token() -> None:
    assert scheme_errors(["O", "I-PER"], "iob2") == (
        "tag 'I-PER' (token 2) opens an entity without B-"
    )
    assert scheme_errors(["O", "X-PER"], "iob1") is not None
    assert scheme_errors(["B-PER", "O"], "bioes") is not None
    for scheme, tags in SCHEME_EXAMPLES.items():
        assert scheme_errors(tags, scheme) is None


def test_chunks_of_ill_formed_tags_follow_conlleval() -> None:
    assert chunks(["O", "I-PER", "I-LOC"]) == [Chunk(1, 2, "PER"), Chunk(2, 3, "LOC")]
    assert tags_of([Chunk(0, 1, "X")], 2, "bioes") == ["S-X", "O"]
