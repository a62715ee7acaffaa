"""`seqcli tokenize train | encode | decode | vocab` through Typer's CliRunner."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok
from typer.testing import CliRunner, Result

from seqcli.cli import app


def invoke(runner: CliRunner, *args: object, input: str | None = None) -> Result:
    return runner.invoke(app, ["tokenize", *map(str, args)], input=input)


@pytest.fixture
def sp_model(runner: CliRunner, corpus_file: Path, tmp_path: Path) -> Path:
    out = tmp_path / "spm.model"
    result = invoke(
        runner, "train", corpus_file, "--vocab-size", "40", "--model-type", "unigram",
        "-o", out,
    )  # fmt: skip
    assert_ok(result)
    assert out.stat().st_size > 0
    assert "unigram model with" in result.stderr
    return out


def test_sentencepiece_encode_decode_round_trip(
    runner: CliRunner, sp_model: Path, corpus_file: Path, tmp_path: Path
):
    encoded = invoke(runner, "encode", corpus_file, "--sp-model", sp_model)
    assert_ok(encoded)
    lines = corpus_file.read_text(encoding="utf-8").splitlines()
    pieces = encoded.stdout.splitlines()
    assert len(pieces) == len(lines)
    assert any(
        len(p.split()) > len(line.split())
        for p, line in zip(pieces, lines, strict=True)
    )
    decoded = invoke(
        runner, "decode", "-", "--sp-model", sp_model, input=encoded.stdout
    )
    assert_ok(decoded)
    assert decoded.stdout.splitlines() == lines


def test_train_bpe_from_stdin(runner: CliRunner, corpus_lines, tmp_path: Path):
    out = tmp_path / "bpe.model"
    result = invoke(
        runner, "train", "-", "--vocab-size", "30", "-o", out,
        input="\n".join(corpus_lines),
    )  # fmt: skip
    assert_ok(result)
    assert "bpe model with" in result.stderr


def test_word_and_char_levels_round_trip(runner: CliRunner, tmp_path: Path):
    text = "the cat  sat\nsecond line here\n"
    for level in ("word", "char"):
        encoded = invoke(runner, "encode", "-", "--level", level, input=text)
        assert_ok(encoded)
        decoded = invoke(runner, "decode", "-", "--level", level, input=encoded.stdout)
        assert_ok(decoded)
        expected = text if level == "char" else "the cat sat\nsecond line here\n"
        assert decoded.stdout == expected
    char = invoke(runner, "encode", "-", "--level", "char", input="a b\n")
    assert char.stdout == "a \u2581 b\n"  # a space shows as ▁, the pieces as words


def test_encode_options(runner: CliRunner):
    result = invoke(runner, "encode", "-", "--lowercase", "--eos", input="The CAT\n")
    assert_ok(result)
    assert result.stdout == "the cat <eos>\n"


def test_encode_clean_prepares_web_text(runner: CliRunner):
    # What a language model for `train-sentiment --clean --init-from` trains on.
    raw = "It wasn't <b>bad</b>...<br />Great!\n"
    result = invoke(runner, "encode", "-", "--clean", "--lowercase", input=raw)
    assert_ok(result)
    assert result.stdout == "it was n't bad ... great !\n"


def test_ids_with_a_vocab_file_round_trip(
    runner: CliRunner, corpus_file: Path, tmp_path: Path
):
    vocab = tmp_path / "vocab.tsv"
    assert_ok(invoke(runner, "vocab", corpus_file, "-o", vocab, "--top", "0"))
    text = "the cat sees the zebra .\nthe owl likes the dog .\n"
    ids = invoke(runner, "encode", "-", "--ids", "--vocab", vocab, "--eos", input=text)
    assert_ok(ids)
    rows = [list(map(int, line.split())) for line in ids.stdout.splitlines()]
    assert len(rows) == 2
    assert rows[0][4] == 1  # "zebra" is unknown: <unk>
    assert all(row[-1] == 3 for row in rows)  # closed by <eos>
    back = invoke(runner, "decode", "-", "--ids", "--vocab", vocab, input=ids.stdout)
    assert_ok(back)
    # Words split Penn Treebank-style are joined back as text.
    assert back.stdout.splitlines() == [
        "the cat sees the <unk>.",
        "the owl likes the dog.",
    ]


def test_vocab_table_shows_size_coverage_and_oov(
    write_lines, runner: CliRunner, tmp_path: Path, corpus_lines
):
    corpus = write_lines(tmp_path / "c.txt", [*corpus_lines, "a rare word ."])
    counts = Counter(
        tok for line in [*corpus_lines, "a rare word ."] for tok in line.split()
    )
    kept = {tok for tok, n in counts.items() if n >= 2}
    oov = sum(n for tok, n in counts.items() if tok not in kept) / sum(counts.values())
    vocab = tmp_path / "v.tsv"
    result = invoke(
        runner, "vocab", corpus, "--min-freq", "2", "--top", "3", "-o", vocab
    )
    assert_ok(result)
    rows = {
        cells[0]: cells[1]
        for line in result.stdout.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
    }
    assert rows["entries (with 4 specials)"] == f"{4 + len(kept):,}"
    assert rows["token types in text"] == f"{len(counts):,}"
    assert rows["running tokens"] == f"{sum(counts.values()):,}"
    assert rows["coverage of running tokens"] == f"{1 - oov:.2%}"
    assert rows["OOV rate (-> <unk>)"] == f"{oov:.2%}"
    assert "'the'" in result.stdout  # the most frequent token is listed
    assert len(vocab.read_text(encoding="utf-8").splitlines()) == 4 + len(kept)


def test_vocab_heldout_oov(
    write_lines, runner: CliRunner, corpus_file: Path, tmp_path: Path
):
    heldout = write_lines(tmp_path / "held.txt", ["the cat sees a zebra"])
    result = invoke(runner, "vocab", corpus_file, "--heldout", heldout, "--top", "0")
    assert_ok(result)
    assert "OOV rate of held.txt" in result.stdout
    assert f"{2 / 5:.2%}" in result.stdout  # "a" and "zebra" of 5 tokens


# --- bad input ------------------------------------------------------------------------
def test_ids_need_a_vocab(runner: CliRunner):
    assert_error(invoke(runner, "encode", "-", "--ids", input="a\n"), "--vocab")


def test_subword_needs_a_model(runner: CliRunner):
    assert_error(
        invoke(runner, "encode", "-", "--level", "subword", input="a\n"), "--sp-model"
    )


def test_bad_id_names_file_and_line(
    write_lines, runner: CliRunner, corpus_file: Path, tmp_path
):
    vocab = tmp_path / "vocab.tsv"
    assert_ok(invoke(runner, "vocab", corpus_file, "-o", vocab, "--top", "0"))
    bad = write_lines(tmp_path / "ids.txt", ["4 5", "4 99999", "x"])
    assert_error(invoke(runner, "decode", bad, "--ids", "--vocab", vocab), f"{bad}:2:")


def test_non_utf8_input_names_file_and_line(runner: CliRunner, tmp_path: Path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\nok\n\xe9t\xe9\n")
    assert_error(invoke(runner, "encode", bad), f"{bad}:3:", "UTF-8")


def test_not_a_sentencepiece_model(runner: CliRunner, tmp_path: Path):
    fake = tmp_path / "fake.model"
    fake.write_bytes(b"not a model")
    assert_error(
        invoke(runner, "encode", "-", "--sp-model", fake, input="a\n"), "SentencePiece"
    )


def test_empty_training_corpus(write_lines, runner: CliRunner, tmp_path: Path):
    empty = write_lines(tmp_path / "empty.txt", ["", " "])
    assert_error(invoke(runner, "train", empty, "-o", tmp_path / "m"), str(empty))
    assert not (tmp_path / "m").exists()
