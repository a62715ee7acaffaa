"""Smaller copies of the corpora for quick runs (bench/subsets.py): records taken
evenly over the file, whole CoNLL sentences, a table's header kept."""

from __future__ import annotations

import gzip
from pathlib import Path

from bench.subsets import spaced


def test_a_conll_file_keeps_whole_sentences_evenly_spaced(tmp_path: Path) -> None:
    sentences = [f"word{i} O\nend{i} O" for i in range(10)]
    source = tmp_path / "train.txt"
    source.write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    out = spaced(source, tmp_path / "cut.txt", 3, blank_separated=True)
    blocks = Path(out).read_text(encoding="utf-8").strip().split("\n\n")
    assert blocks == [sentences[0], sentences[3], sentences[6]]


def test_a_sorted_gzipped_table_keeps_its_header_and_both_labels(
    tmp_path: Path,
) -> None:
    source = tmp_path / "test.tsv.gz"
    rows = [f"review {i}\t{i // 50}" for i in range(100)]  # 50 of label 0 first
    with gzip.open(source, "wt", encoding="utf-8") as fh:
        fh.write("text\tlabel\n" + "\n".join(rows) + "\n")
    out = spaced(source, tmp_path / "cut.tsv", 10, blank_separated=False)
    lines = Path(out).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "text\tlabel"
    assert lines[1:] == rows[::10]
    whole = spaced(source, tmp_path / "all.tsv", 500, blank_separated=False)
    assert Path(whole).read_text(encoding="utf-8").splitlines()[1:] == rows  # all


def test_a_row_is_cut_at_newlines_only(tmp_path: Path) -> None:
    source = tmp_path / "train.tsv"
    rows = ["one\u2028line\x85still\t1", "two\t0", "three\t1"]
    source.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = spaced(source, tmp_path / "cut.tsv", 2, blank_separated=False)
    text = Path(out).read_text(encoding="utf-8")
    assert text.split("\n") == ["text\tlabel", rows[0], rows[1], ""]
