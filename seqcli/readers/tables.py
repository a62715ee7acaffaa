"""Labelled tables, TSV, CSV or JSON Lines: a text and a label per record.

The format comes from the file's suffix or a flag; columns are found by name or
number. Must not import torch.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from seqcli.errors import DataFormatError
from seqcli.readers.lines import TextLine, display_name, empty_input, read_lines


class LabeledText(NamedTuple):
    """One labelled example of a classification table."""

    lineno: int  # 1-based line where the record starts
    text: str
    label: str


TABLE_FORMATS = ("tsv", "csv", "jsonl")
# Column names tried, in order, when the column is "auto" and the file has names.
TEXT_NAMES = ("text", "sentence", "review", "document", "content")
LABEL_NAMES = ("label", "sentiment", "class", "stars", "rating", "category")
_SUFFIX_FORMATS = {
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def looks_labelled(texts: list[str]) -> bool:
    """Whether lines look like labelled data (text<TAB>label) rather than prose.

    Most lines hold a tab, and the field after the last tab (or before the first)
    is short and repeats from a small set, as labels do.
    """
    rows = [t for t in texts if t.strip()]
    tabbed = [t for t in rows if "\t" in t]
    if len(tabbed) < 2 or len(tabbed) < 0.9 * len(rows):
        return False
    for pick in (lambda t: t.rsplit("\t", 1)[1], lambda t: t.split("\t", 1)[0]):
        fields = [pick(t).strip() for t in tabbed]
        short = all(0 < len(f) <= 20 and " " not in f for f in fields[1:])
        # The first row may be a header; labels repeat, from a small set.
        if short and len(set(fields)) < min(len(fields), 50):
            return True
    return False


def table_format(path: str | Path, fmt: str = "auto") -> str:
    """tsv, csv or jsonl: `fmt` unless auto, else from the extension (``.gz`` aside)."""
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in Path(str(path)).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if str(path) == "-" or not suffixes:
        return "tsv"
    found = _SUFFIX_FORMATS.get(suffixes[-1])
    if found is None:
        raise DataFormatError(
            f"cannot tell the format from the extension {suffixes[-1]!r}; "
            "pass --format tsv, csv or jsonl",
            display_name(path),
        )
    return found


def read_table(
    path: str | Path,
    *,
    text_column: str = "auto",
    label_column: str = "auto",
    header: str = "auto",
    fmt: str = "auto",
) -> Iterator[LabeledText]:
    """Yield (text, label) records of a TSV, CSV or JSON Lines file (``.gz`` too).

    Args:
        text_column, label_column: a column name, a 1-based position (TSV/CSV), or
            ``auto``: the first of `TEXT_NAMES`/`LABEL_NAMES` in the header, else
            columns 1 (text) and 2 (label).
        header: ``yes``, ``no`` or ``auto`` (the first row is a header when it
            holds a wanted column name). JSON Lines objects carry their own names.
        fmt: ``tsv``, ``csv``, ``jsonl`` or ``auto`` (from the extension).

    Raises:
        DataFormatError: wrong column count, empty text or label, a missing column
            name, bad JSON; the message names the file and line.
    """
    name = display_name(path)
    fmt = table_format(path, fmt)
    if fmt == "jsonl":
        yield from _read_jsonl(path, name, text_column, label_column)
        return
    rows = _csv_rows(read_lines(path), name, delimiter="\t" if fmt == "tsv" else ",")
    first = next(rows, None)
    if first is None:
        raise empty_input(path)
    columns = _TableColumns(first[1], text_column, label_column, header, name)
    if not columns.has_header:
        rows = itertools.chain([first], rows)
    head = list(itertools.islice(rows, _CONLL_PEEK))
    if _looks_conll(head):
        raise DataFormatError(_NOT_A_TABLE + _CONLL_KIND, name, head[0][0])
    for lineno, cells in itertools.chain(head, rows):
        if len(cells) != columns.width:
            raise DataFormatError(
                f"expected {columns.width} columns, found {len(cells)}"
                f"{' (is it tab-separated?)' if len(cells) == 1 else ''}",
                name,
                lineno,
            )
        yield _record(cells[columns.text], cells[columns.label], lineno, name)


def _record(text: str, label: str, lineno: int, name: str) -> LabeledText:
    text, label = text.strip(), label.strip()
    if not text:
        raise DataFormatError("empty text", name, lineno)
    if not label:
        raise DataFormatError("empty label", name, lineno)
    return LabeledText(lineno, text, label)


def _csv_rows(
    lines: Iterator[TextLine], name: str, *, delimiter: str
) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each non-blank row.

    TSV is read unquoted (SST and IMDB contain bare quotes); CSV follows RFC 4180,
    so a quoted field may span lines and the row keeps the line it starts on.
    """
    # Long reviews exceed the csv module's 128 kB default field limit.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    where = [0]

    def texts() -> Iterator[str]:
        for line in lines:
            where[0] = line.lineno
            yield line.text + "\n"  # the newline of a quoted multi-line field

    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(texts(), delimiter=delimiter, quoting=quoting, strict=True)
    while True:
        start = where[0] + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataFormatError(f"bad CSV ({exc})", name, where[0]) from None
        if cells and any(c.strip() for c in cells):
            yield start, cells


class _TableColumns:
    """Where the text and label columns are, and whether row 1 is a header."""

    def __init__(self, first: list[str], text: str, label: str, header: str, name: str):
        self.width = len(first)
        names = [c.strip() for c in first]
        wanted = [c for c in (text, label) if c != "auto" and not c.isdecimal()]
        if header == "auto":
            candidates = [
                *wanted,
                *(TEXT_NAMES if text == "auto" else ()),
                *(LABEL_NAMES if label == "auto" else ()),
            ]
            self.has_header = any(c in names for c in candidates)
        else:
            self.has_header = header == "yes"
        if wanted and not self.has_header:
            raise DataFormatError(
                f"column {wanted[0]!r} named but the file has no header "
                f"(first row: {', '.join(names[:5])})",
                name,
                1,
            )
        header_names = names if self.has_header else []
        self.text = _column_index(text, header_names, TEXT_NAMES, 0, name)
        self.label = _column_index(label, header_names, LABEL_NAMES, 1, name)
        for index in (self.text, self.label):
            if index >= self.width == 1:
                raise DataFormatError(
                    _NOT_A_TABLE + _one_column_kind(first[0]), name, 1
                )
            if index >= self.width:
                raise DataFormatError(
                    f"column {index + 1} asked for, but rows have {self.width}",
                    name,
                    1,
                )


_NOT_A_TABLE = (
    "expected labelled data (TSV, CSV or JSON Lines with a text and a label "
    "column), found "
)
_CONLL_KIND = "what looks like a CoNLL file (a token and its tags per line)"
# A CoNLL line: a token, optional middle columns, an IOB/IOBES tag (or -DOCSTART-).
_CONLL_LINE = re.compile(r"^(-DOCSTART-|\S+(\s+\S+){0,3}\s+([BIES][-_]\w+|O))\s*$")
_CONLL_TAG = re.compile(r"[BIES][-_]\S+|O")
_CONLL_PEEK = 50  # rows looked at to tell a tab-separated CoNLL file from a table


def _one_column_kind(first: str) -> str:
    """What a one-column first row suggests the file is, for the error message."""
    if _CONLL_LINE.match(first.strip()):
        return _CONLL_KIND
    return "one column of plain text"


def _looks_conll(rows: list[tuple[int, list[str]]]) -> bool:
    """Whether table rows are a tab-separated CoNLL file: one token per row and a
    tag (B-PER, I-LOC, O) in the last column, or -DOCSTART-.

    Read as a table it would give one-word "texts" labelled with their second
    column (a part of speech, a tag): a classifier of nonsense, without a word.
    """
    if len(rows) < 2 or len(rows[0][1]) < 2:
        return False
    return all(
        cells[0].strip() == "-DOCSTART-"
        or (len(cells[0].split()) == 1 and _CONLL_TAG.fullmatch(cells[-1].strip()))
        for _, cells in rows
    )


def _column_index(
    spec: str, names: list[str], auto_names: tuple[str, ...], fallback: int, file: str
) -> int:
    """0-based index of a column given by name, 1-based position or auto."""
    if spec.isdecimal():  # not isdigit: "²" is a digit that int() refuses
        if int(spec) < 1:
            raise DataFormatError("column positions start at 1", file)
        return int(spec) - 1
    if spec == "auto":
        return next((names.index(n) for n in auto_names if n in names), fallback)
    if spec not in names:
        raise DataFormatError(
            f"no column named {spec!r} (header: {', '.join(names)})", file, 1
        )
    return names.index(spec)


def _read_jsonl(
    path: str | Path, name: str, text_column: str, label_column: str
) -> Iterator[LabeledText]:
    has_text = False
    for line in read_lines(path):
        if not line.text.strip():
            continue
        has_text = True
        try:
            obj = json.loads(line.text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"not valid JSON ({exc.msg})", name, line.lineno
            ) from None
        except (ValueError, RecursionError):  # a 5,000-digit number, [[[[...
            raise DataFormatError(
                "not valid JSON (a number too long or nesting too deep)",
                name,
                line.lineno,
            ) from None
        if not isinstance(obj, dict):
            raise DataFormatError("expected a JSON object", name, line.lineno)
        text = _json_field(obj, text_column, TEXT_NAMES, name, line.lineno)
        label = _json_field(obj, label_column, LABEL_NAMES, name, line.lineno)
        yield _record(text, label, line.lineno, name)
    if not has_text:
        raise empty_input(path)


def _json_field(
    obj: dict, spec: str, auto_names: tuple[str, ...], name: str, lineno: int
) -> str:
    if spec.isdecimal():
        raise DataFormatError(
            "JSON Lines columns are chosen by name, not position", name
        )
    key = (
        next((n for n in auto_names if n in obj), auto_names[0])
        if spec == "auto"
        else spec
    )
    if key not in obj:
        raise DataFormatError(
            f"no field {key!r} (fields: {', '.join(map(str, obj))})", name, lineno
        )
    value = obj[key]
    if isinstance(value, list | dict) or value is None:
        raise DataFormatError(f"field {key!r} is not a string or number", name, lineno)
    return str(value)
