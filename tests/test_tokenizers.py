"""Tokenizers: word, char and SentencePiece segmentation, round trips, serialisation."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from seqcli.config import TokenizerConfig
from seqcli.errors import ConfigError, DataFormatError
from seqcli.tokenizers import (
    NO_CAPITALS_NOTE,
    CharTokenizer,
    ReversedTokenizer,
    SentencePieceTokenizer,
    WordTokenizer,
    build_tokenizer,
    clean_web_text,
    describe,
    make_tokenizer,
    tokenizer_from_dict,
    train_sentencepiece,
)
from seqcli.treebank import ptb_join, ptb_split

TEXT = "The cat  sat on the mat."


@pytest.fixture(scope="module")
def sp_models(corpus_lines: tuple[str, ...]) -> dict[str, bytes]:
    """One BPE and one unigram model, trained in memory once for the module."""
    lines = [*corpus_lines, "The Owl and the Bear went to the deep wood."]
    return {
        kind: train_sentencepiece(lines, vocab_size=60, model_type=kind)
        for kind in ("bpe", "unigram")
    }


def test_word_tokenizer_whitespace_split():
    tok = WordTokenizer(split="whitespace")
    assert tok.tokenize(TEXT) == ["The", "cat", "sat", "on", "the", "mat."]
    assert tok.detokenize(tok.tokenize(TEXT)) == "The cat sat on the mat."


def test_word_tokenizer_splits_punctuation_by_default():
    tok = WordTokenizer()
    assert tok.split == "ptb"
    assert tok.tokenize(TEXT) == ["The", "cat", "sat", "on", "the", "mat", "."]
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
    assert data["lowercase"] is True and data["clean"] is False
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
    assert backward.detokenize(backward.tokenize(text)) == forward.detokenize(
        forward.tokenize(text)
    )
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


# --- raw text read as the training text was ---------------------------------------
RAW_AND_TOKENIZED = [
    ("It's a good film.", "It 's a good film ."),
    ("I don't like it, really!", "I do n't like it , really !"),
    ('"Great," he said (twice).', '" Great , " he said ( twice ) .'),
    ("Mr. Smith went to the U.S. in 1990.", "Mr. Smith went to the U.S. in 1990 ."),
    (
        "They'll say we're done; I'd agree?!",
        "They 'll say we 're done ; I 'd agree ? !",
    ),
    (
        "The students' books cost $5... or 50%",
        "The students ' books cost $ 5 ... or 50 %",
    ),
    ("It\u2019s great \u2014 isn\u2019t it?", "It 's great \u2014 is n't it ?"),
    ("Wait...what? No. 5 is e.g. fine", "Wait ... what ? No. 5 is e.g. fine"),
]


@pytest.mark.parametrize(("raw", "tokenized"), RAW_AND_TOKENIZED)
def test_raw_and_pre_tokenized_text_give_the_same_tokens(raw: str, tokenized: str):
    tok = WordTokenizer()
    assert tok.tokenize(raw) == tokenized.split()
    assert tok.tokenize(tokenized) == tokenized.split()


@pytest.mark.parametrize(
    "line",
    [
        # WikiText-2: <unk>, split numbers and hyphens, abbreviations, clitic halves.
        " = = Gameplay = = ",
        " The game 's <unk> @-@ based system cost 1 @,@ 000 yen ( 3 @.@ 5 % ) . ",
        " Dr. J. R. R. Tolkien , U.S. Army ( No. 5 ) , i.e. Mr. O 'Brien don 't . ",
        ' Love . Angel . Music . Baby. and St. Mary \'s , pp. <unk> ... -- " quoted " ',
        # SST-2: lowercased, PTB-tokenised.
        "it 's a good film , and i do n't care -lrb- really -rrb- .",
        "a `` comedy '' that 's no. 1 -- or so ... mr. bean 's rock 'n' roll ol' '70s",
        "the 12-year-old 's writer/director and/or 1/2 e.t. ca n't wo n't",
    ],
)
def test_already_tokenized_text_is_left_as_it_is(line: str):
    # Existing corpora and benchmarks read exactly as with a whitespace split.
    assert WordTokenizer().tokenize(line) == line.split()


def test_ptb_detokenize_undoes_the_split():
    tok = WordTokenizer()
    cases = {
        'i do n\'t know , " he said " .': 'i don\'t know, "he said".',
        "1 @,@ 000 well @-@ known ( see )": "1,000 well-known (see)",
    }
    for tokens, text in cases.items():
        assert tok.detokenize(tokens.split(" ")) == text
    # Each prefix's text is a prefix of the whole: samples can be streamed.
    tokens = tok.tokenize('the cat\'s toy, "new" (red).')
    texts = [tok.detokenize(tokens[:n]) for n in range(1, len(tokens) + 1)]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))


def test_unknown_word_split_is_a_config_error():
    with pytest.raises(ConfigError, match="word split"):
        WordTokenizer(split="moses")


def test_old_tokenizer_dicts_read_as_before():
    # Checkpoints written before normalisation was recorded: whitespace, as is.
    old = tokenizer_from_dict({"kind": "word", "lowercase": False})
    assert old.tokenize("It's GOOD.") == ["It's", "GOOD."]
    assert old.detokenize(["a", ","]) == "a ,"
    assert tokenizer_from_dict({"kind": "word"}, clean_before=True).tokenize(
        "It's <br />GOOD."
    ) == ["It", "'s", "GOOD", "."]
    new = tokenizer_from_dict(WordTokenizer().to_dict())
    assert new.tokenize("It's GOOD.") == ["It", "'s", "GOOD", "."]


@pytest.mark.parametrize("level", ["word", "char"])
def test_lowercasing_is_detected_when_training_text_has_no_capitals(level: str):
    cfg = TokenizerConfig(level=level)
    tok = build_tokenizer(cfg, ["it 's a good film .", "bad ."])
    assert tok.lowercase and tok.lowercase_detected
    assert NO_CAPITALS_NOTE in describe(tok)
    again = tokenizer_from_dict(tok.to_dict())
    assert again.lowercase and again.lowercase_detected
    assert again.tokenize("It's GOOD.") == tok.tokenize("it's good.")
    cased = build_tokenizer(cfg, ["it 's a good film .", "Bad ."])
    assert not cased.lowercase and not cased.lowercase_detected
    # --keep-case is honoured even where the text has no capitals.
    kept = build_tokenizer(TokenizerConfig(level=level, lowercase=False), ["bad ."])
    assert not kept.lowercase


def test_subword_lowercase_detection_sees_every_text(corpus_lines):
    tok = build_tokenizer(
        TokenizerConfig(level="subword", sp_vocab_size=40), [*corpus_lines, "The End"]
    )
    assert not tok.lowercase
    tok = build_tokenizer(
        TokenizerConfig(level="subword", sp_vocab_size=40), corpus_lines
    )
    assert tok.lowercase_detected
    assert tok.detokenize(tok.tokenize("The CAT sees")) == "the cat sees"


def test_clean_is_part_of_the_tokenizer_at_every_level(sp_models: dict[str, bytes]):
    raw = "Great!<br />It's fine."
    for level in ("word", "char", "subword"):
        tok = make_tokenizer(level, clean=True, sp_model=sp_models["bpe"])
        again = tokenizer_from_dict(tok.to_dict())
        assert again.clean
        assert again.tokenize(raw) == tok.tokenize("Great ! It 's fine .")


def test_ptb_split_of_split_text_changes_nothing():
    # Random strings of the characters the rules look at: no exception, no word
    # with a space, and the split of the words is the words themselves.
    rng = random.Random(0)
    pieces = [*"ab A.'\",;:!?()-\u2019\u2026<>@$%", " ", "n't", "'s", "Mr.", "<unk>"]
    for _ in range(2000):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 12)))
        words = ptb_split(text)
        assert all(w and not any(c.isspace() for c in w) for w in words)
        assert ptb_split(" ".join(words)) == words, text
        ptb_join(words)


def test_no_text_or_no_cased_letter_detects_nothing() -> None:
    # Nothing to go on: lowercasing inputs would be a guess, so it is not done.
    for texts in ([], ["1984 42", "-- 3.5"]):
        tok = build_tokenizer(TokenizerConfig(level="char"), texts)
        assert not tok.lowercase and not tok.lowercase_detected
    assert build_tokenizer(TokenizerConfig(level="char"), ["abc 1"]).lowercase
