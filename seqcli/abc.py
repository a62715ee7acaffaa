"""ABC music notation: split a file into tunes and check each tune's bar lengths.

A character-level LM composes tunes in ABC (`seqcli sample --stop-at "\\n\\n"`);
whether a sample is music and not just ABC-looking text is partly a matter of
metre: every bar of a tune in ``M:6/8`` lasts six eighth notes. `check_bars`
reads the note lengths of a tune's body (in units of the ``L:`` header, whole
notes in the end) and reports the bars whose length differs from the one that
``M:`` implies. Short bars are allowed where real tunes have them: the pickup at
the start of a section and its complement at the section's end (a section ends
at a repeat sign, a double bar, a first or second ending, or the tune's end).

This is a reader of note lengths, not a full ABC parser: it knows notes, rests,
chords, tuplets, broken rhythm, grace notes, chord symbols, decorations and
inline fields, which is what folk-tune collections use. Torch-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["BadBar", "BarReport", "check_bars", "metre_length", "split_tunes"]

# A bar line: the longest of these wins; the digits after it name an ending.
_BAR_LINES = ("::", ":|]", ":||", ":|", "|:", "||", "|]", "[|", "|")
# Bar lines that close a section (repeat signs, double bars).
_SECTION_BARS = {"::", ":|]", ":||", ":|", "|:", "||", "|]", "[|"}
_NOTE = re.compile(r"(\^\^|\^|__|_|=)?([A-Ga-g])[',]*")
_REST = re.compile(r"[zx]")
_LENGTH = re.compile(r"(\d*)(/*)(\d*)")
_TUPLET = re.compile(r"\((\d)(?::(\d)?)?(?::(\d)?)?")
_FIELD = re.compile(r"^([A-Za-z]):(.*)$")


@dataclass(frozen=True)
class BadBar:
    """A bar whose length is not the metre's (in whole notes)."""

    line: int  # 1-based line of the tune where the bar ends
    number: int  # 1-based index of the bar in the tune
    length: Fraction
    expected: Fraction


@dataclass
class BarReport:
    """What `check_bars` found in one tune."""

    ok: bool
    bars: int = 0  # bars read (empty ones not counted)
    bad: list[BadBar] = field(default_factory=list)
    reason: str = ""  # why the tune cannot be checked or fails, in words


def split_tunes(text: str) -> list[str]:
    """The tunes of an ABC file: each starts at an ``X:`` line."""
    tunes: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("X:"):
            tunes.append([])
        if tunes:
            tunes[-1].append(line)
    return ["\n".join(lines).strip("\n") + "\n" for lines in tunes]


def metre_length(metre: str) -> Fraction | None:
    """A bar's length in whole notes for an ``M:`` value; None for free metre.

    ``C`` is 4/4, ``C|`` 2/2, ``2+3/8`` 5/8.
    """
    metre = metre.strip()
    if metre == "C":
        return Fraction(1)
    if metre == "C|":
        return Fraction(1)
    match = re.fullmatch(r"\(?([\d+]+)\)?\s*/\s*(\d+)", metre)
    if not match:
        return None
    numerator = sum(int(n) for n in match.group(1).split("+") if n)
    denominator = int(match.group(2))
    if numerator == 0 or denominator == 0:
        return None
    return Fraction(numerator, denominator)


def _default_unit(bar: Fraction | None) -> Fraction:
    # The ABC standard: 1/16 for metres under 3/4, 1/8 otherwise.
    return (
        Fraction(1, 16) if bar is not None and bar < Fraction(3, 4) else Fraction(1, 8)
    )


def _parse_unit(value: str) -> Fraction | None:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if not match or int(match.group(2)) == 0 or int(match.group(1)) == 0:
        return None
    return Fraction(int(match.group(1)), int(match.group(2)))


def _multiplier(text: str, pos: int) -> tuple[Fraction, int]:
    """The length suffix at `pos` (``2``, ``/``, ``//``, ``3/2``): (factor, end)."""
    match = _LENGTH.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    num, slashes, den = match.groups()
    value = Fraction(int(num)) if num else Fraction(1)
    if slashes:
        if den:
            value /= int(den) * 2 ** (len(slashes) - 1)
        else:
            value /= 2 ** len(slashes)
    return value, match.end()


@dataclass
class _State:
    """The reading position's context: metre, unit, tuplet, the bar so far."""

    bar: Fraction | None
    unit: Fraction
    tuplet_left: int = 0
    tuplet_ratio: Fraction = Fraction(1)
    length: Fraction = Fraction(0)

    def add(self, factor: Fraction) -> None:
        if self.tuplet_left > 0:
            factor *= self.tuplet_ratio
            self.tuplet_left -= 1
        self.length += factor * self.unit

    def start_tuplet(self, p: int, q: int | None, r: int | None) -> None:
        if q is None:  # the standard's defaults for (p
            compound = self.bar is not None and (self.bar * 8).denominator == 1
            compound = compound and (self.bar * 8) % 3 == 0 and self.bar * 8 > 3
            q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
        self.tuplet_ratio = Fraction(q, p)
        self.tuplet_left = r if r is not None else p


def _skip_to(text: str, pos: int, closing: str) -> int:
    end = text.find(closing, pos + 1)
    return len(text) if end < 0 else end + 1


def _bar_line_at(text: str, pos: int) -> str | None:
    for bar in _BAR_LINES:
        if text.startswith(bar, pos):
            return bar
    return None


class _BarReader:
    """Reads a tune body line by line, collecting (length, line, boundary) bars."""

    def __init__(self, bar: Fraction | None, unit: Fraction):
        self.state = _State(bar, unit)
        # Each bar: [length, metre's length, line, starts a section, ends one]
        self.bars: list[list] = []
        self.section_start = True

    def close_bar(self, line: int, section_end: bool) -> None:
        length = self.state.length
        if length > 0:
            bar = [length, self.state.bar, line, self.section_start, section_end]
            self.bars.append(bar)
            self.section_start = False
        elif section_end and self.bars:
            self.bars[-1][4] = True  # "|:" right after "|" ends the bar before
        if section_end:
            self.section_start = True
        self.state.length = Fraction(0)

    def read_line(self, text: str, line: int) -> str | None:
        """Read one line of music; an error message, or None."""
        state, pos = self.state, 0
        text = text.split("%", 1)[0].rstrip()
        if text.endswith("\\"):
            text = text[:-1]
        while pos < len(text):
            char = text[pos]
            bar = _bar_line_at(text, pos)
            if bar is not None:
                pos += len(bar)
                ending = re.match(r"\d[\d,\-]*", text[pos:])
                if ending:
                    pos += ending.end()
                self.close_bar(line, bar in _SECTION_BARS or ending is not None)
                if ending:
                    self.section_start = True
                continue
            if char == "[" and pos + 1 < len(text) and text[pos + 1].isdigit():
                pos += 1 + re.match(r"\d[\d,\-]*", text[pos + 1 :]).end()
                self.close_bar(line, True)  # an ending after a bar line
                continue
            if char == "[" and re.match(r"\[[A-Za-z]:", text[pos:]):
                end = _skip_to(text, pos, "]")
                error = self.inline_field(text[pos + 1 : end - 1])
                if error:
                    return error
                pos = end
                continue
            if char == "[":  # a chord: its first note's length counts
                end = _skip_to(text, pos, "]")
                inner = _NOTE.search(text, pos + 1, end - 1)
                if inner is None:
                    return f"line {line}: a chord without notes"
                inside, _ = _multiplier(text, inner.end())
                outer, pos = _multiplier(text, end)
                state.add(inside * outer)
                continue
            if char == "(":
                tuplet = _TUPLET.match(text, pos)
                if tuplet:
                    p, q, r = (int(g) if g else None for g in tuplet.groups())
                    state.start_tuplet(p or 3, q, r)
                    pos = tuplet.end()
                else:
                    pos += 1  # a slur
                continue
            if char in '"{!+':  # chord symbol, grace notes, decoration
                closing = {"{": "}"}.get(char, char)
                end = text.find(closing, pos + 1)
                if char in "!+" and end < 0:
                    pos += 1  # a lone "!": this corpus's line break
                    continue
                pos = len(text) if end < 0 else end + 1
                continue
            note = _NOTE.match(text, pos) or _REST.match(text, pos)
            if note:
                factor, pos = _multiplier(text, note.end())
                state.add(factor)
                continue
            if char == "Z":  # a multi-bar rest: whole bars, fine by definition
                _, pos = _multiplier(text, pos + 1)
                continue
            pos += 1  # ties, slurs' ends, broken rhythm, spaces, decorations
        return None

    def inline_field(self, value: str) -> str | None:
        key, _, rest = value.partition(":")
        return self.apply_field(key, rest)

    def apply_field(self, key: str, value: str) -> str | None:
        if key == "M":
            self.state.bar = metre_length(value)
        elif key == "L":
            unit = _parse_unit(value)
            if unit is None:
                return f"unreadable L: {value.strip()!r}"
            self.state.unit = unit
        return None


def check_bars(tune: str) -> BarReport:
    """Check that every bar of one ABC tune has the length its M: and L: imply.

    A tune without ``M:`` (or with free metre), without ``K:`` (which ends the
    header) or without any bar fails, with the reason. A bar longer than the
    metre always fails; a shorter one only away from a section's start or end.
    """
    lines = tune.splitlines()
    metre: Fraction | None = None
    unit: Fraction | None = None
    seen_metre = False
    body = None
    for i, line in enumerate(lines):
        match = _FIELD.match(line.strip())
        if match is None:
            continue
        key, value = match.groups()
        if key == "M":
            seen_metre, metre = True, metre_length(value)
        elif key == "L":
            unit = _parse_unit(value)
            if unit is None:
                return BarReport(False, reason=f"unreadable L: {value.strip()!r}")
        elif key == "K":
            body = i + 1
            break
    if body is None:
        return BarReport(False, reason="no K: line (the header never ends)")
    if not seen_metre:
        return BarReport(False, reason="no M: header")
    if metre is None:
        return BarReport(False, reason="free or unreadable metre")
    reader = _BarReader(metre, unit or _default_unit(metre))
    for i in range(body, len(lines)):
        text = lines[i].strip()
        field_line = _FIELD.match(text)
        if field_line and not text.startswith("|"):
            # A field line inside the body (M:, L:, K:, W:, ...); only M and L
            # change the lengths. Music written after it on the line is not read.
            error = reader.apply_field(field_line.group(1), field_line.group(2))
            if error:
                return BarReport(False, reason=error)
            continue
        error = reader.read_line(text, i + 1)
        if error:
            return BarReport(False, reason=error)
    reader.close_bar(len(lines), True)
    return _judge(reader)


def _judge(reader: _BarReader) -> BarReport:
    if not reader.bars:
        return BarReport(False, reason="no bars")
    bad = []
    for number, (length, metre, line, starts, ends) in enumerate(reader.bars, 1):
        target = metre if metre is not None else length  # free metre: any length
        if length == target or (length < target and (starts or ends)):
            continue
        bad.append(BadBar(line, number, length, target))
    reason = ""
    if bad:
        first = bad[0]
        reason = (
            f"{len(bad)} of {len(reader.bars)} bars off the metre; bar {first.number} "
            f"(line {first.line}) lasts {first.length}, not {first.expected}"
        )
    return BarReport(not bad, len(reader.bars), bad, reason)
