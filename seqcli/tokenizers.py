"""Tokenizers: text -> token strings and back. Word, character and SentencePiece.

Tokenizers segment only; ids come from `seqcli.vocab`, so there is one id space
(SentencePiece's own ids are never used). A tokenizer serialises to a plain dict
(`to_dict`) that the checkpoint stores, SentencePiece model bytes included, so a
checkpoint alone can tokenise. Must not import torch; sentencepiece is imported
inside the functions that need it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from seqcli.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    from seqcli.config import TokenizerConfig

LEVELS = ("word", "char", "subword")


class Tokenizer(Protocol):
    kind: str
    lowercase: bool

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Iterable[str]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class WordTokenizer:
    """Whitespace-separated words: the format of WikiText, SST and CoNLL."""

    kind = "word"

    def __init__(self, *, lowercase: bool = False):
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        return (text.lower() if self.lowercase else text).split()

    def detokenize(self, tokens: Iterable[str]) -> str:
        return " ".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase}


class CharTokenizer:
    """One token per Unicode character, spaces included (char-rnn style)."""

    kind = "char"

    def __init__(self, *, lowercase: bool = False):
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        return list(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return "".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase}


class SentencePieceTokenizer:
    """Subword pieces (BPE or unigram) from a SentencePiece model held in memory."""

    kind = "subword"

    def __init__(self, model_proto: bytes, *, lowercase: bool = False):
        import sentencepiece as spm

        self.lowercase = lowercase
        self.model_proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self.model_proto)
        except (RuntimeError, OSError) as exc:
            raise ConfigError(f"not a valid SentencePiece model ({exc})") from None

    @classmethod
    def from_file(cls, path: str, *, lowercase: bool = False) -> SentencePieceTokenizer:
        try:
            with open(path, "rb") as fh:
                return cls(fh.read(), lowercase=lowercase)
        except FileNotFoundError:
            raise ConfigError(f"SentencePiece model not found: {path}") from None

    @property
    def pieces(self) -> list[str]:
        return [self._sp.IdToPiece(i) for i in range(self._sp.GetPieceSize())]

    def tokenize(self, text: str) -> list[str]:
        return self._sp.EncodeAsPieces(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return self._sp.DecodePieces(list(tokens))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lowercase": self.lowercase,
            "model": self.model_proto,
        }


def make_tokenizer(
    level: str, *, lowercase: bool = False, sp_model: bytes | None = None
) -> Tokenizer:
    """The tokenizer for a `TokenizerConfig.level`; subword needs a trained model."""
    if level == "word":
        return WordTokenizer(lowercase=lowercase)
    if level == "char":
        return CharTokenizer(lowercase=lowercase)
    if level == "subword":
        if sp_model is None:
            raise ConfigError("subword level needs a SentencePiece model")
        return SentencePieceTokenizer(sp_model, lowercase=lowercase)
    raise ConfigError(
        f"unknown tokenization level '{level}'; use one of {', '.join(LEVELS)}"
    )


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its `to_dict()` form (as stored in a checkpoint)."""
    return make_tokenizer(
        data["kind"],
        lowercase=bool(data.get("lowercase", False)),
        sp_model=data.get("model"),
    )


def train_sentencepiece(
    lines: Iterable[str],
    *,
    vocab_size: int = 4000,
    model_type: str = "bpe",
    character_coverage: float = 1.0,
    lowercase: bool = False,
    max_sentences: int = 1_000_000,
) -> bytes:
    """Train a SentencePiece model in memory and return its serialised bytes.

    ``hard_vocab_limit=False`` lets small corpora end below `vocab_size` instead of
    failing. Only the pieces are used later, so SentencePiece's bos/eos are off.
    """
    import sentencepiece as spm

    if model_type not in ("bpe", "unigram"):
        raise ConfigError(
            f"unknown SentencePiece model type '{model_type}'; use bpe or unigram"
        )
    sentences = [(s.lower() if lowercase else s) for s in lines if s.strip()]
    if not sentences:
        raise DataFormatError("no text to train a SentencePiece model on")
    buffer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=buffer,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            hard_vocab_limit=False,
            bos_id=-1,
            eos_id=-1,
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            minloglevel=2,
        )
    except RuntimeError as exc:
        raise ConfigError(f"SentencePiece training failed: {exc}") from None
    return buffer.getvalue()


def build_tokenizer(cfg: TokenizerConfig, texts: Iterable[str]) -> Tokenizer:
    """The tokenizer a task trains with; a subword model is learnt from `texts`."""
    sp_model = None
    if cfg.level == "subword":
        sp_model = train_sentencepiece(
            texts,
            vocab_size=cfg.sp_vocab_size,
            model_type=cfg.sp_model_type,
            character_coverage=cfg.sp_character_coverage,
            lowercase=cfg.lowercase,
        )
    return make_tokenizer(cfg.level, lowercase=cfg.lowercase, sp_model=sp_model)


_HTML_TAG = re.compile(r"<[^>]{1,40}>")
# An ellipsis or a dash run stays one token; other punctuation is split char by char.
_PUNCT = re.compile(r"(\.{2,}|--+|[^\w\s'-]|(?<!\w)'|'(?!\w))")
# English clitics split as the Penn Treebank does (``doesn't`` -> ``does n't``,
# ``it's`` -> ``it 's``): the form SST, CoNLL and WikiText already use, so cleaned
# web text shares their vocabulary.
_NOT = re.compile(r"(?<=\w)(n't)\b", re.IGNORECASE)
_CLITIC = re.compile(r"(?<=\w)('(?:s|re|ve|ll|d|m))\b", re.IGNORECASE)


def clean_web_text(text: str) -> str:
    """Raw web text -> space-separated words: HTML tags (IMDB's ``<br />``) become
    spaces, punctuation is split off words (``great!`` -> ``great !``) and clitics
    are split as in the Penn Treebank, so that a whitespace tokenizer does not learn
    ``great!`` and ``great``, or ``isn't`` and ``is``, as unrelated words.
    """
    text = _HTML_TAG.sub(" ", text)
    text = _PUNCT.sub(r" \1 ", text)
    text = _CLITIC.sub(r" \1", _NOT.sub(r" \1", text))
    return " ".join(text.split())
