"""The id space: specials, building, encode/decode, statistics and vocabulary files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqcli.errors import DataFormatError
from seqcli.vocab import (
    BOS,
    BOS_ID,
    EOS,
    EOS_ID,
    PAD,
    PAD_ID,
    SPECIALS,
    UNK,
    UNK_ID,
    Vocab,
    build_vocab,
    closest_word,
    count_words,
    extend_vocab,
    read_vocab_file,
    vocab_stats,
    write_vocab_file,
)

COUNTS = Counter({"the": 5, "cat": 3, "dog": 3, "sat": 2, "mat": 1, "a": 1})


def test_specials_have_fixed_ids_and_pad_is_zero():
    assert PAD_ID == 0
    assert SPECIALS == (PAD, UNK, BOS, EOS)
    vocab = build_vocab(COUNTS)
    for token, i in zip(SPECIALS, (PAD_ID, UNK_ID, BOS_ID, EOS_ID), strict=True):
        assert vocab.itos[i] == token
        assert vocab.id_of(token) == i


def test_build_vocab_orders_by_frequency_then_token():
    vocab = build_vocab(COUNTS)
    # "cat" and "dog" tie at 3, "mat" and "a" at 1: the token string breaks ties.
    assert vocab.itos[len(SPECIALS) :] == ["the", "cat", "dog", "sat", "a", "mat"]


def test_build_vocab_is_deterministic_whatever_the_insertion_order():
    shuffled = Counter(dict(reversed(list(COUNTS.items()))))
    assert build_vocab(shuffled) == build_vocab(COUNTS)


def test_min_freq_drops_rare_tokens():
    vocab = build_vocab(COUNTS, min_freq=2)
    assert "sat" in vocab
    assert "mat" not in vocab
    assert "a" not in vocab


def test_max_size_counts_the_specials():
    vocab = build_vocab(COUNTS, max_size=len(SPECIALS) + 2)
    assert len(vocab) == len(SPECIALS) + 2
    assert vocab.itos[len(SPECIALS) :] == ["the", "cat"]
    # A cap below the specials still keeps all of them.
    assert build_vocab(COUNTS, max_size=1).itos == list(SPECIALS)


def test_specials_in_the_counts_are_not_duplicated():
    vocab = build_vocab(Counter({EOS: 10, "x": 1}))
    assert vocab.itos == [*SPECIALS, "x"]


def test_unknown_tokens_map_to_unk():
    vocab = build_vocab(COUNTS)
    assert vocab.encode(["the", "zebra"]) == [vocab.id_of("the"), UNK_ID]
    assert vocab.decode(vocab.encode(["zebra"])) == [UNK]


def test_encode_frames_with_bos_and_eos():
    vocab = build_vocab(COUNTS)
    ids = vocab.encode(["the", "cat"], add_bos=True, add_eos=True)
    assert ids[0] == BOS_ID
    assert ids[-1] == EOS_ID
    assert vocab.encode(["the", "cat"], add_eos=True) == [*ids[1:]]


def test_decode_stops_at_eos_and_drops_padding():
    vocab = build_vocab(COUNTS)
    the, cat = vocab.id_of("the"), vocab.id_of("cat")
    assert vocab.decode([BOS_ID, the, PAD_ID, cat, EOS_ID, the, PAD_ID]) == [
        "the",
        "cat",
    ]
    assert vocab.decode([the, EOS_ID, cat], stop_at_eos=False) == ["the", EOS, "cat"]


def test_to_list_from_list_round_trip():
    vocab = build_vocab(COUNTS)
    tokens = vocab.to_list()
    assert isinstance(tokens, list)
    assert all(isinstance(t, str) for t in tokens)
    assert Vocab.from_list(tokens) == vocab
    labels = Vocab(["B-PER", "O"], specials=False)
    assert Vocab.from_list(labels.to_list(), specials=False) == labels


def test_invariants_are_checked_on_creation():
    with pytest.raises(ValueError, match="duplicate"):
        Vocab([*SPECIALS, "a", "b", "a"])
    with pytest.raises(ValueError, match="start with"):
        Vocab(["a", *SPECIALS])


def test_label_sets_have_no_unk():
    labels = Vocab(["NEG", "POS"], specials=False)
    assert labels.encode(["POS", "NEG"]) == [1, 0]
    assert labels.decode([1, 0, 0]) == ["POS", "NEG", "NEG"]
    with pytest.raises(KeyError):
        labels.encode(["NEUTRAL"])


def test_vocab_stats_on_a_small_counter():
    vocab = build_vocab(COUNTS, min_freq=2)  # keeps the, cat, dog, sat
    stats = vocab_stats(vocab, COUNTS, top=2)
    total = sum(COUNTS.values())  # 15 running tokens
    assert stats.size == len(SPECIALS) + 4
    assert stats.types == 6
    assert stats.tokens == total
    assert stats.covered_types == 4
    assert stats.coverage == pytest.approx((5 + 3 + 3 + 2) / total)
    assert stats.oov_rate == pytest.approx(2 / total)
    assert stats.coverage + stats.oov_rate == pytest.approx(1.0)
    assert stats.most_common == [("the", 5), ("cat", 3)]


def test_vocab_stats_of_nothing_is_full_coverage():
    stats = vocab_stats(build_vocab(COUNTS), Counter())
    assert stats.coverage == 1.0
    assert stats.oov_rate == 0.0


def test_vocab_file_round_trip(tmp_path: Path):
    vocab = build_vocab(COUNTS)
    path = tmp_path / "vocab.tsv"
    write_vocab_file(vocab, COUNTS, str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(vocab)
    assert lines[len(SPECIALS)] == "the\t5"
    assert read_vocab_file(str(path)) == vocab


def test_vocab_file_keeps_tab_and_space_tokens(tmp_path: Path):
    # A char-level vocabulary holds whitespace characters as tokens.
    counts = Counter({"a": 4, " ": 3, "\t": 2, "7": 1})
    vocab = build_vocab(counts)
    path = tmp_path / "chars.tsv"
    write_vocab_file(vocab, counts, str(path))
    assert read_vocab_file(str(path)) == vocab


def test_vocab_file_without_specials_is_a_label_set(tmp_path: Path):
    path = tmp_path / "labels.txt"
    path.write_text("NEG\nPOS\n", encoding="utf-8")
    labels = read_vocab_file(str(path))
    assert not labels.specials
    assert labels.itos == ["NEG", "POS"]


def test_vocab_file_with_duplicates_names_the_file(tmp_path: Path):
    path = tmp_path / "bad.tsv"
    path.write_text("a\t1\nb\t1\na\t1\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="bad.tsv"):
        read_vocab_file(str(path))


KNOWN = ["the", "cat", "dog", "sat", "mat", "a"]


# Fixed seed, no example database in the working tree, no deadline on a busy CPU.
PROPERTY = settings(database=None, derandomize=True, deadline=None)


@PROPERTY
@given(st.lists(st.sampled_from(KNOWN), max_size=20))
def test_decode_inverts_encode_for_known_tokens(tokens: list[str]):
    vocab = build_vocab(COUNTS)
    assert vocab.decode(vocab.encode(tokens)) == tokens
    assert vocab.decode(vocab.encode(tokens, add_bos=True, add_eos=True)) == tokens


WORDS = st.text(min_size=1, max_size=5).filter(lambda t: t not in SPECIALS)


@PROPERTY
@given(st.lists(st.one_of(st.sampled_from(KNOWN), WORDS), max_size=20))
def test_decode_of_encode_keeps_known_and_unks_the_rest(tokens: list[str]):
    vocab = build_vocab(COUNTS)
    expected = [t if t in KNOWN else UNK for t in tokens]
    assert vocab.decode(vocab.encode(tokens)) == expected


def test_extend_vocab_keeps_every_id_and_appends_new_tokens_by_frequency():
    base = build_vocab(Counter({"the": 5, "cat": 2}))
    counts = Counter({"the": 9, "owl": 1, "fox": 3, "dog": 3, "cat": 1})
    extended = extend_vocab(base, counts)
    assert extended.itos[: len(base)] == base.itos
    assert extended.itos[len(base) :] == ["dog", "fox", "owl"]  # ties by token
    assert extend_vocab(base, counts, min_freq=2).itos[len(base) :] == ["dog", "fox"]


def test_closest_word_prefers_the_case_variant_then_the_spelling() -> None:
    words = ["Paris", "parish", "London", "<unk>", "lord"]
    assert closest_word("paris", words) == "Paris"  # not the closer 'parish'
    assert closest_word("PARIS", words) == "Paris"
    assert closest_word("Londn", words) == "London"
    assert closest_word("unk", ["<unk>"]) is None  # special tokens are not words
    assert closest_word("qqqq", words) is None


def test_count_words_leaves_out_the_special_tokens() -> None:
    vocab = Vocab([*SPECIALS, "a", "b", "c"])
    assert len(vocab) == 3 + len(SPECIALS)
    assert count_words(vocab.to_list()) == 3
