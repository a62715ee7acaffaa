"""Property tests: whatever bytes or strings come in, only seqcli's errors go out.

Readers, vocabularies, tokenizers and config parsing are fed arbitrary input
(hypothesis). A user's file can hold anything; the promise is a result or a
`SeqcliError` with a one-line message, never a traceback. Where a property also
has a round trip (encode/decode, write/read) it is checked too. The `@example`s
are inputs that once let a raw exception escape.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from seqcli.config import LMConfig, SentimentConfig, load_config
from seqcli.errors import ConfigError, SeqcliError
from seqcli.readers import (
    read_lines,
    read_table,
    read_text,
    read_text_lines,
    read_word_vectors,
)
from seqcli.tokenizers import (
    CharTokenizer,
    ReversedTokenizer,
    SentencePieceTokenizer,
    WordTokenizer,
    clean_web_text,
    tokenizer_from_dict,
    train_sentencepiece,
)
from seqcli.vocab import (
    SPECIALS,
    UNK_ID,
    Vocab,
    build_vocab,
    read_vocab_file,
    write_vocab_file,
)

# Each example writes a file into the test's tmp_path and overwrites it in the next.
FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Text as it can come out of a UTF-8 file: any character but a lone surrogate.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
LINE = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"))
# Bytes that are often almost a text file: text with a few bytes spliced in.
BYTES = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda text, junk, at: (lambda b: b[:at] + junk + b[at:])(text.encode()),
        TEXT,
        st.binary(max_size=4),
        st.integers(0, 80),
    ),
)


def outcome(func, *args, **kwargs):
    """Call `func`; a SeqcliError is an accepted outcome, returned, not raised."""
    try:
        result = func(*args, **kwargs)
        return list(result) if hasattr(result, "__next__") else result
    except SeqcliError as exc:
        assert str(exc).strip()
        return exc


def _lines_of(text: str) -> list[str]:
    """The lines a reader gives for `text`: split at newlines, CRs at the end cut."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line.rstrip("\r\n") for line in lines]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- readers ----------------------------------------------------------------------
@FAST
@given(data=BYTES)
def test_read_lines_takes_any_bytes(tmp_path: Path, data: bytes):
    path = _write(tmp_path, "any.txt", data)
    lines = outcome(read_lines, path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        assert isinstance(lines, SeqcliError)  # named line and column
        return
    text = text.removeprefix("\ufeff")  # a byte-order mark is dropped
    if "\0" in text or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        assert isinstance(lines, SeqcliError)  # binary data or UTF-16, by name
        return
    expected = _lines_of(text)
    assert [line.text for line in lines] == expected
    assert [line.lineno for line in lines] == list(range(1, len(expected) + 1))
    outcome(read_text, path)
    outcome(read_text_lines, str(path))


@FAST
@given(text=TEXT, flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255))))
@example(text="hello world\n" * 50, flips=[(60, 0), (61, 255), (62, 7)])
def test_a_damaged_gzip_file_is_an_error_not_a_crash(
    tmp_path: Path, text: str, flips: list[tuple[int, int]]
):
    data = bytearray(gzip.compress(text.encode()))
    for at, byte in flips:
        data[at % len(data)] = byte
    path = _write(tmp_path, "corpus.txt.gz", bytes(data))
    lines = outcome(read_lines, path)
    if not flips and "\0" in text:
        assert isinstance(lines, SeqcliError)  # binary data, by file and line
    elif not flips:
        assert [line.text for line in lines] == _lines_of(text.removeprefix("\ufeff"))


AUTO = {"text_column": "auto", "label_column": "auto", "header": "auto"}
COLUMN = st.one_of(
    st.sampled_from(["auto", "text", "label", "1", "2", "3", "0"]), st.text(max_size=5)
)


@FAST
@given(
    data=BYTES,
    fmt=st.sampled_from(["tsv", "csv", "jsonl"]),
    text_column=COLUMN,
    label_column=COLUMN,
    header=st.sampled_from(["auto", "yes", "no"]),
)
@example(data=b"a\tb\n", fmt="tsv", **dict(AUTO, text_column="\u00b2"))
@example(data=b"[" * 5000, fmt="jsonl", **AUTO)
@example(data=b"[1" + b"0" * 5000 + b"]", fmt="jsonl", **AUTO)
def test_read_table_takes_any_bytes(
    tmp_path: Path,
    data: bytes,
    fmt: str,
    text_column: str,
    label_column: str,
    header: str,
):
    path = _write(tmp_path, f"table.{fmt}", data)
    records = outcome(
        read_table,
        path,
        text_column=text_column,
        label_column=label_column,
        header=header,
    )
    if not isinstance(records, SeqcliError):
        assert all(r.text.strip() and r.label.strip() for r in records)


CELL = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1
).filter(lambda s: s.strip() == s and s)


@FAST
@given(rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=8))
def test_a_table_written_by_the_csv_and_json_modules_reads_back(
    tmp_path: Path, rows: list[tuple[str, str]]
):
    import csv

    with open(tmp_path / "t.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    lines = (json.dumps({"text": t, "label": label}) for t, label in rows)
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name in ("t.csv", "t.jsonl"):
        got = read_table(tmp_path / name)
        assert [(r.text, r.label) for r in got] == rows


@FAST
@given(data=BYTES, wanted=st.sets(st.text(max_size=3), max_size=4))
def test_read_word_vectors_takes_any_bytes(
    tmp_path: Path, data: bytes, wanted: set[str]
):
    vectors = outcome(read_word_vectors, _write(tmp_path, "v.txt", data), wanted)
    if not isinstance(vectors, SeqcliError):
        assert all(len(v) == vectors.dim for v in vectors.vectors.values())


# --- vocabulary -------------------------------------------------------------------
# Tokens come from text the readers accepted, which never holds a NUL byte.
TOKEN = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\n\0"), max_size=6
)


@FAST
@given(tokens=st.lists(TOKEN, max_size=30), extra=st.lists(TOKEN, max_size=5))
def test_vocab_encode_decode_round_trip(tokens: list[str], extra: list[str]):
    vocab = build_vocab(Counter(tokens))
    assert vocab.itos[: len(SPECIALS)] == list(SPECIALS)
    plain = [t for t in tokens if t not in SPECIALS]
    ids = vocab.encode(plain, add_bos=True, add_eos=True)
    assert vocab.decode(ids) == plain
    unseen = [t for t in extra if t not in vocab]
    assert vocab.encode(unseen) == [UNK_ID] * len(unseen)
    assert Vocab.from_list(vocab.to_list()) == vocab


@FAST
@given(tokens=st.lists(TOKEN, max_size=30), min_freq=st.integers(1, 3))
def test_a_vocab_file_reads_back_as_written(
    tmp_path: Path, tokens: list[str], min_freq: int
):
    counts = Counter(tokens)
    vocab = build_vocab(counts, min_freq=min_freq)
    path = tmp_path / "vocab.tsv"
    write_vocab_file(vocab, counts, str(path))
    assert read_vocab_file(str(path)) == vocab


@FAST
@given(data=BYTES)
def test_read_vocab_file_takes_any_bytes(tmp_path: Path, data: bytes):
    vocab = outcome(read_vocab_file, str(_write(tmp_path, "v.tsv", data)))
    if not isinstance(vocab, SeqcliError):
        assert len(set(vocab.itos)) == len(vocab)


# --- tokenizers -------------------------------------------------------------------
@FAST
@given(text=TEXT, lowercase=st.booleans())
def test_word_tokens_are_nonempty_words(text: str, lowercase: bool):
    tokenizer = WordTokenizer(lowercase=lowercase)
    tokens = tokenizer.tokenize(text)
    assert all(t and not any(c.isspace() for c in t) for t in tokens)
    assert tokenizer_from_dict(tokenizer.to_dict()).tokenize(text) == tokens
    back = ReversedTokenizer(tokenizer)
    assert back.tokenize(text) == tokens[::-1]
    assert back.detokenize(back.tokenize(text)) == tokenizer.detokenize(tokens)


@FAST
@given(text=TEXT)
def test_char_tokens_round_trip(text: str):
    tokenizer = CharTokenizer()
    assert tokenizer.detokenize(tokenizer.tokenize(text)) == text
    lower = tokenizer_from_dict(CharTokenizer(lowercase=True).to_dict())
    assert lower.detokenize(lower.tokenize(text)) == text.lower()


@FAST
@given(text=TEXT)
def test_clean_web_text_gives_single_spaced_words(text: str):
    cleaned = clean_web_text(text)
    assert cleaned == " ".join(cleaned.split())


FIXTURE_TEXT = [
    "The cat sat on the mat.",
    "A dog ran to the park, and the cat followed it!",
    "Tokenizers split words into pieces: un-break-able, re-use.",
] * 10


@pytest.fixture(scope="module")
def sp_model() -> bytes:
    """A tiny SentencePiece model, trained once for the module (~0.1 s)."""
    return train_sentencepiece(FIXTURE_TEXT, vocab_size=60)


@FAST
@given(text=TEXT)
def test_subword_pieces_of_any_text(sp_model: bytes, text: str):
    tokenizer = SentencePieceTokenizer(sp_model)
    pieces = tokenizer.tokenize(text)
    assert all(isinstance(p, str) and p for p in pieces)
    stored = tokenizer_from_dict(tokenizer.to_dict())
    assert stored.tokenize(text) == pieces
    assert isinstance(tokenizer.detokenize(pieces), str)


@FAST
@given(text=st.text(st.characters(exclude_categories=("Cs",)).filter(str.isalpha)))
def test_subword_pieces_round_trip_known_letters(sp_model: bytes, text: str):
    known = "".join(c for c in text if c in "".join(FIXTURE_TEXT) and not c.isspace())
    tokenizer = SentencePieceTokenizer(sp_model)
    assert tokenizer.detokenize(tokenizer.tokenize(known)) == known


@settings(FAST, max_examples=30)
@given(data=st.binary(max_size=300), flips=st.lists(st.integers(0), max_size=3))
def test_any_bytes_as_a_sentencepiece_model(sp_model: bytes, data: bytes, flips):
    damaged = bytearray(sp_model)
    for at in flips:
        damaged[at % len(damaged)] ^= 0xFF
    for model in (data, bytes(damaged)):
        tokenizer = outcome(SentencePieceTokenizer, model)
        if not isinstance(tokenizer, SeqcliError):
            outcome(tokenizer.tokenize, "the cat sat")


@settings(FAST, max_examples=15)
@given(lines=st.lists(LINE, max_size=6), vocab_size=st.integers(1, 40))
def test_train_sentencepiece_on_any_lines(lines: list[str], vocab_size: int):
    model = outcome(train_sentencepiece, lines, vocab_size=vocab_size)
    if not isinstance(model, SeqcliError):
        SentencePieceTokenizer(model).tokenize(" ".join(lines))


# --- config -----------------------------------------------------------------------
CONFIGS = st.sampled_from([LMConfig, SentimentConfig])
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "bptt",
        "train_path",
        "valid_fraction",
        "softmax",
        "adaptive_cutoffs",
        "tokenizer",
        "tokenizer.level",
        "tokenizer.min_freq",
        "model",
        "model.cell",
        "model.hidden_size",
        "model.dropout",
        "train",
        "train.epochs",
        "train.lr",
        "train.batch_size",
        "train.device",
        "train.max_time",
        "pooling",
        "label_column",
    ]
) | st.text(max_size=12)


def _nested(dotted: str, value: object) -> dict:
    *parents, last = dotted.split(".")
    tree: dict = {last: value}
    for part in reversed(parents):
        tree = {part: tree}
    return tree


@FAST
@given(cls=CONFIGS, data=BYTES)
def test_load_config_takes_any_yaml_file(tmp_path: Path, cls: type, data: bytes):
    outcome(load_config, cls, _write(tmp_path, "run.yaml", data))


def test_deeply_nested_yaml_is_a_config_error(tmp_path: Path):
    """PyYAML nests recursively; hypothesis raises the recursion limit inside its
    tests, so this input that once escaped as RecursionError is checked here."""
    path = _write(tmp_path, "run.yaml", b"a: " + b"[" * 800 + b"]" * 800)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(LMConfig, path)


@FAST
@given(cls=CONFIGS, settings_=st.dictionaries(KEYS, VALUE, max_size=4))
def test_load_config_takes_any_yaml_settings(
    tmp_path: Path, cls: type, settings_: dict
):
    tree: dict = {}
    for dotted, value in settings_.items():
        tree.update(_nested(dotted, value))
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    outcome(load_config, cls, path)


@FAST
@given(cls=CONFIGS, overrides=st.dictionaries(KEYS, VALUE, max_size=4))
def test_load_config_takes_any_override_values(cls: type, overrides: dict):
    outcome(load_config, cls, None, overrides)


@FAST
@given(
    cls=CONFIGS,
    key=st.sampled_from(["train.epochs", "model.hidden_size", "train.lr", "bptt"]),
    value=st.integers(1, 1000),
)
def test_a_valid_override_is_taken(cls: type, key: str, value: int):
    if key == "bptt" and cls is SentimentConfig:
        key = "train.batch_size"
    cfg = load_config(cls, None, {key: value})
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    assert node == value
