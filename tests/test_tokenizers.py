"""Tokenizers: word, char and SentencePiece segmentation, round trips, serialisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqcli.errors import ConfigError, DataFormatError
from seqcli.tokenizers import (
    CharTokenizer,
    ReversedTokenizer,
    SentencePieceTokenizer,
    WordTokenizer,
    clean_web_text,
    make_tokenizer,
    tokenizer_from_dict,
    train_sentencepiece,
)

TEXT = "The cat  sat on the mat."


@pytest.fixture(scope="module")
def sp_models(corpus_lines: tuple[str, ...]) -> dict[str, bytes]:
    """One BPE and one unigram model, trained in memory once for the module."""
    lines = [*corpus_lines, "The Owl and the Bear went to the deep wood."]
    return {
        kind: train_sentencepiece(lines, vocab_size=60, model_type=kind)
        for kind in ("bpe", "unigram")
    }


def test_word_tokenizer_splits_on_whitespace():
    tok = WordTokenizer()
    assert tok.tokenize(TEXT) == ["The", "cat", "sat", "on", "the", "mat."]
    assert tok.detokenize(tok.tokenize(TEXT)) == "The cat sat on the mat."


def test_char_tokenizer_keeps_spaces_and_round_trips():
    tok = CharTokenizer()
    tokens = tok.tokenize(TEXT)
    assert len(tokens) == len(TEXT)
    assert tokens[3] == " "
    assert tok.detokenize(tokens) == TEXT


def test_lowercase_applies_to_every_level():
    assert WordTokenizer(lowercase=True).tokenize("The CAT") == ["the", "cat"]
    assert CharTokenizer(lowercase=True).tokenize("Ab") == ["a", "b"]


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_sentencepiece_round_trip(sp_models: dict[str, bytes], kind: str):
    tok = SentencePieceTokenizer(sp_models[kind])
    assert tok.kind == "subword"
    assert 10 < len(tok.pieces) <= 60
    for text in ("the cat sees the owl .", "The fox chases the dog ."):
        pieces = tok.tokenize(text)
        assert all(isinstance(p, str) for p in pieces)
        assert tok.detokenize(pieces) == text


def test_sentencepiece_lowercase(sp_models: dict[str, bytes]):
    tok = SentencePieceTokenizer(sp_models["bpe"], lowercase=True)
    assert tok.detokenize(tok.tokenize("The CAT sees")) == "the cat sees"


@pytest.mark.parametrize("level", ["word", "char", "subword"])
def test_to_dict_round_trip_gives_identical_pieces(
    sp_models: dict[str, bytes], level: str
):
    tok = make_tokenizer(level, lowercase=True, sp_model=sp_models["unigram"])
    data = tok.to_dict()
    # Plain types only: the checkpoint is loaded with weights_only=True.
    assert all(isinstance(v, str | bool | bytes) for v in data.values())
    again = tokenizer_from_dict(data)
    assert again.kind == tok.kind == data["kind"]
    for text in (TEXT, "the owl likes the fox .", ""):
        assert again.tokenize(text) == tok.tokenize(text)


@pytest.mark.parametrize("level", ["word", "char", "subword"])
def test_reversed_tokenizer_reads_right_to_left_and_round_trips(
    sp_models: dict[str, bytes], level: str
):
    forward = make_tokenizer(level, sp_model=sp_models["bpe"])
    backward = make_tokenizer(level, sp_model=sp_models["bpe"], reverse=True)
    assert isinstance(backward, ReversedTokenizer)
    assert (backward.reverse, forward.reverse) == (True, False)
    assert backward.kind == level
    text = "the owl likes the fox ."
    assert backward.tokenize(text) == forward.tokenize(text)[::-1]
    assert backward.detokenize(backward.tokenize(text)) == text
    # The checkpoint form keeps the direction.
    again = tokenizer_from_dict(backward.to_dict())
    assert again.reverse and again.tokenize(text) == backward.tokenize(text)
    assert not tokenizer_from_dict(forward.to_dict()).reverse


def test_bad_model_bytes_are_a_config_error():
    with pytest.raises(ConfigError, match="SentencePiece"):
        SentencePieceTokenizer(b"this is not a sentencepiece model")
    with pytest.raises(ConfigError):
        tokenizer_from_dict({"kind": "subword", "model": b"\x00\x01garbage"})


def test_missing_model_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        SentencePieceTokenizer.from_file(str(tmp_path / "missing.model"))


def test_from_file_reads_a_trained_model(tmp_path: Path, sp_models: dict[str, bytes]):
    path = tmp_path / "spm.model"
    path.write_bytes(sp_models["bpe"])
    tok = SentencePieceTokenizer.from_file(str(path))
    assert tok.pieces == SentencePieceTokenizer(sp_models["bpe"]).pieces


def test_make_tokenizer_rejects_bad_levels():
    with pytest.raises(ConfigError, match="unknown tokenization level"):
        make_tokenizer("sentence")
    with pytest.raises(ConfigError, match="needs a SentencePiece model"):
        make_tokenizer("subword")


def test_train_sentencepiece_rejects_bad_input():
    with pytest.raises(ConfigError, match="bpe or unigram"):
        train_sentencepiece(["a b c"], model_type="word")
    with pytest.raises(DataFormatError, match="no text"):
        train_sentencepiece(["", "   "])


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("Great!<br /><br />Loved it.", "Great ! Loved it ."),
        ("It doesn't work, can't and WON'T", "It does n't work , ca n't and WO N'T"),
        ("it's we'll you're I'm they'd", "it 's we 'll you 're I 'm they 'd"),
        ("Well... so -- 'quoted'", "Well ... so -- ' quoted '"),
        ("rock'n'roll O'Neil a-b", "rock'n'roll O'Neil a-b"),
    ],
)
def test_clean_web_text_splits_like_the_penn_treebank(raw: str, cleaned: str):
    # SST and CoNLL are PTB-tokenised: cleaned web text must share their words.
    assert clean_web_text(raw) == cleaned
