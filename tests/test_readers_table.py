"""`read_table` (TSV, CSV, JSON Lines, gzip; columns; header) and word vectors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from seqcli.errors import DataFormatError
from seqcli.readers import LabeledText, read_table, read_word_vectors, table_format


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pairs(records: list[LabeledText]) -> list[tuple[str, str]]:
    return [(r.text, r.label) for r in records]


def test_tsv_with_header_picks_columns_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tsv", 'sentence\tlabel\na "good" film\t1\nbad\t0\n')
    records = list(read_table(path))
    assert pairs(records) == [('a "good" film', "1"), ("bad", "0")]
    assert [r.lineno for r in records] == [2, 3]


def test_tsv_label_first_by_name_and_position(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tsv", "stars\treview\n5\tloved it\n1\thated it\n")
    by_name = read_table(path, text_column="review", label_column="stars")
    assert pairs(list(by_name)) == [("loved it", "5"), ("hated it", "1")]
    by_position = read_table(path, text_column="2", label_column="1", header="yes")
    assert pairs(list(by_position)) == [("loved it", "5"), ("hated it", "1")]


def test_no_header_defaults_to_text_then_label(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tsv", "fine film\tpos\n\nawful\tneg\n")
    records = list(read_table(path))
    assert pairs(records) == [("fine film", "pos"), ("awful", "neg")]
    assert records[1].lineno == 3  # the blank line is skipped but counted


def test_declared_header_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "a.tsv", "x\ty\nfine\tpos\n")
    assert pairs(list(read_table(path, header="yes"))) == [("fine", "pos")]
    assert len(list(read_table(path, header="no"))) == 2


def test_csv_quoted_field_spanning_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv", 'text,label\n"good, really\nvery good",pos\nbad,neg\n'
    )
    records = list(read_table(path))
    assert pairs(records) == [("good, really\nvery good", "pos"), ("bad", "neg")]
    assert [r.lineno for r in records] == [2, 4]


def test_jsonl_and_gzip(tmp_path: Path) -> None:
    rows = [{"text": "great", "label": 1}, {"text": "poor", "label": 0}]
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    assert pairs(list(read_table(path))) == [("great", "1"), ("poor", "0")]


def test_jsonl_named_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", '{"body": "ok", "y": "b"}\n')
    assert pairs(list(read_table(path, text_column="body", label_column="y"))) == [
        ("ok", "b")
    ]


def test_format_from_extension(tmp_path: Path) -> None:
    assert table_format("x.tsv.gz") == "tsv"
    assert table_format("x.csv") == "csv"
    assert table_format("x.jsonl") == "jsonl"
    assert table_format("-") == "tsv"
    assert table_format("x.weird", "csv") == "csv"
    with pytest.raises(DataFormatError, match="--format"):
        table_format("x.weird")


@pytest.mark.parametrize(
    ("name", "text", "kwargs", "message"),
    [
        (
            "a.tsv",
            "text\tlabel\nok\t1\ntoo\tmany\tcells\n",
            {},
            ":3: expected 2 columns",
        ),
        ("a.tsv", "text\tlabel\nok\t1\n \t0\n", {}, ":3: empty text"),
        ("a.tsv", "text\tlabel\nok\t\n", {}, ":2: empty label"),
        ("a.tsv", "text\ty\nok\t1\n", {"label_column": "label"}, ":1: no column named"),
        ("a.tsv", "ok\t1\n", {"text_column": "text"}, ":1: column 'text' named"),
        ("a.tsv", "ok\t1\n", {"label_column": "3"}, ":1: column 3 asked for"),
        ("a.jsonl", '{"text": "x"}\n', {}, ":1: no field 'label'"),
        ("a.jsonl", "[1]\n", {}, ":1: expected a JSON object"),
        ("a.jsonl", "{oops\n", {}, ":1: not valid JSON"),
    ],
)
def test_bad_input_names_file_and_line(
    tmp_path: Path, name: str, text: str, kwargs: dict[str, str], message: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(DataFormatError) as info:
        list(read_table(path, **kwargs))
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_word_vectors_keep_wanted_words(tmp_path: Path) -> None:
    path = write(tmp_path / "v.txt", "3 2\ngood 0.5 1\nbad -1 2\nother 0 0\n")
    found = read_word_vectors(path, {"good", "bad", "missing"})
    assert found.dim == 2
    assert found.total == 3
    assert found.vectors == {"good": [0.5, 1.0], "bad": [-1.0, 2.0]}


def test_word_vectors_wrong_width(tmp_path: Path) -> None:
    path = write(tmp_path / "v.txt", "good 0.5 1\nbad 2\n")
    with pytest.raises(DataFormatError, match=":2: expected a word and 2 numbers"):
        read_word_vectors(path, {"bad"})
