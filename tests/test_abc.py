"""The ABC bar-length checker (`seqcli.abc`) on hand-made tunes."""

from __future__ import annotations

from fractions import Fraction

import pytest

from seqcli.abc import check_bars, metre_length, split_tunes

HEADER = "X:1\nT:Test\nM:{metre}\nL:{unit}\nK:D\n"


def tune(body: str, metre: str = "6/8", unit: str = "1/8") -> str:
    return HEADER.format(metre=metre, unit=unit) + body


@pytest.mark.parametrize(
    ("body", "metre", "unit"),
    [
        ("DFA dfa|g2e f2d|]\n", "6/8", "1/8"),  # a jig
        ("A|dAFA DFAd|fdcd FAdf:|\n", "C|", "1/8"),  # a pickup, complete bars
        ("(3ABc dAFA d2|fdcd FAdf|\n", "C", "1/8"),  # a triplet in a bar
        ("d>e f<g a2 b2|[DF]2 A2 z4|\n", "C", "1/8"),  # broken rhythm, chord, rest
        ('"D"d3/2e/ {g}f2 !trill!a2 b2|d/d/d/d/ d6|\n', "C", "1/8"),
        ("^c=c_B2 A4|A,2B,2 c'4|\n", "C", "1/8"),  # accidentals, octaves
        ("d2 e2|f4|\n", "2/4", "1/16"),  # another unit length
        ("dfa|d3|[M:2/4]de fa|\n", "3/8", "1/8"),  # a metre change in the body
        ("dfa|d3|\nM:2/4\nde fa|\n", "3/8", "1/8"),  # ... on a line of its own
        ("GA|B2BG c2cA|[1 d2GF G2:|[2 d2DE F2|]\n", "C", "1/8"),  # endings
        ("ABcd efga|bagf edcB|!\nABcd efga|bagf edcB|]!\n", "C", "1/8"),  # "!" ends
    ],
)
def test_tunes_keeping_their_metre_pass(body: str, metre: str, unit: str) -> None:
    report = check_bars(tune(body, metre, unit))
    assert report.ok, report.reason
    assert report.bars >= 2


@pytest.mark.parametrize(
    ("body", "metre", "bad_bar"),
    [
        ("DFA dfa|g2e f2|fed cBA|]\n", "6/8", 2),  # a short bar mid-section
        ("DFA dfa|g2e f2dd|fed cBA|]\n", "6/8", 2),  # a long bar
        ("dAFA DFAd|fdcd FAdf fdcd|dAFA DFAd|\n", "C", 2),  # two bars run together
        ("DFA dfa|(3gfe f3|fed cBA|]\n", "6/8", 2),  # the triplet shortens the bar
        ("dAFA DFAd|[DF]4 A2|dAFA DFAd|\n", "C", 2),  # a chord counts once
    ],
)
def test_tunes_breaking_their_metre_fail(body: str, metre: str, bad_bar: int) -> None:
    report = check_bars(tune(body, metre))
    assert not report.ok
    assert [bad.number for bad in report.bad] == [bad_bar]
    assert f"bar {bad_bar}" in report.reason


def test_a_long_bar_fails_even_at_a_section_end() -> None:
    report = check_bars(tune("DFA dfa|g2e f2dd:|\n"))
    assert not report.ok
    assert report.bad[0].length == Fraction(7, 8)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("X:1\nT:No metre\nL:1/8\nK:D\nDFA dfa|\n", "no M: header"),
        ("X:1\nM:6/8\nL:1/8\nDFA dfa|\n", "no K: line"),
        ("X:1\nM:none\nK:D\nDFA dfa|\n", "free or unreadable metre"),
        ("X:1\nM:6/8\nL:1/0\nK:D\nDFA|\n", "unreadable L:"),
        ("X:1\nM:6/8\nK:D\n\n", "no bars"),
    ],
)
def test_tunes_that_cannot_be_checked_fail_with_the_reason(
    text: str, reason: str
) -> None:
    report = check_bars(text)
    assert not report.ok
    assert reason in report.reason


def test_without_l_the_standard_default_unit_applies() -> None:
    # M:2/4 is under 3/4, so the unit is a sixteenth: four notes fill a bar.
    assert check_bars("X:1\nM:2/4\nK:D\ndefg|abag|\n").ok
    # M:C: an eighth, so eight notes do.
    assert check_bars("X:1\nM:C\nK:D\ndefgabag|defgabag|\n").ok


@pytest.mark.parametrize(
    ("metre", "length"),
    [("C", 1), ("C|", 1), ("6/8", Fraction(3, 4)), ("2+3/8", Fraction(5, 8))],
)
def test_metre_length(metre: str, length: Fraction) -> None:
    assert metre_length(metre) == length


def test_split_tunes_cuts_at_x_lines() -> None:
    text = "% a comment\nX:1\nT:A\nK:D\nabc|\n\nX:2\nT:B\nK:D\n\ndef|\n"
    tunes = split_tunes(text)
    assert [t.splitlines()[1] for t in tunes] == ["T:A", "T:B"]
    assert tunes[1].endswith("def|\n")  # a blank line inside a tune stays
