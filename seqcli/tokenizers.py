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
from typing import Any, Protocol

from seqcli.config import TokenizerConfig
from seqcli.errors import ConfigError, DataFormatError

LEVELS = ("word", "char", "subword")
_DEFAULTS = TokenizerConfig()  # SentencePiece's defaults are the config's


class Tokenizer(Protocol):
    kind: str
    lowercase: bool
    reverse: bool  # tokens come out right to left (a backward language model)

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Iterable[str]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class WordTokenizer:
    """Whitespace-separated words: the format of WikiText, SST and CoNLL."""

    kind = "word"
    reverse = False

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
    reverse = False

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
    reverse = False

    def __init__(self, model_proto: bytes, *, lowercase: bool = False):
        import sentencepiece as spm

        self.lowercase = lowercase
        self.model_proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self.model_proto)
        except (RuntimeError, OSError):
            # SentencePiece says only "INTERNAL: src/...cc(109)" here.
            raise ConfigError(_NOT_A_MODEL) from None

    @classmethod
    def from_file(cls, path: str, *, lowercase: bool = False) -> SentencePieceTokenizer:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise ConfigError(f"SentencePiece model not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            return cls(data, lowercase=lowercase)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

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


class ReversedTokenizer:
    """Another tokenizer's tokens in reverse order, for models that read text from
    its end: a backward language model, and classifiers started from one (the
    backward half of a forward/backward ensemble, as in ULMFiT).

    `detokenize` takes tokens in the order `tokenize` gives them and restores the
    text's own order.
    """

    reverse = True

    def __init__(self, forward: Tokenizer):
        self.forward = forward
        self.kind = forward.kind
        self.lowercase = forward.lowercase

    def tokenize(self, text: str) -> list[str]:
        return self.forward.tokenize(text)[::-1]

    def detokenize(self, tokens: Iterable[str]) -> str:
        return self.forward.detokenize(list(tokens)[::-1])

    def to_dict(self) -> dict[str, Any]:
        return {**self.forward.to_dict(), "reverse": True}


def make_tokenizer(
    level: str,
    *,
    lowercase: bool = False,
    sp_model: bytes | None = None,
    reverse: bool = False,
) -> Tokenizer:
    """The tokenizer for a `TokenizerConfig.level`; subword needs a trained model."""
    tokenizer: Tokenizer
    if level == "word":
        tokenizer = WordTokenizer(lowercase=lowercase)
    elif level == "char":
        tokenizer = CharTokenizer(lowercase=lowercase)
    elif level == "subword":
        if sp_model is None:
            raise ConfigError("subword level needs a SentencePiece model")
        tokenizer = SentencePieceTokenizer(sp_model, lowercase=lowercase)
    else:
        raise ConfigError(
            f"unknown tokenization level {level!r}; use one of {', '.join(LEVELS)}"
        )
    return ReversedTokenizer(tokenizer) if reverse else tokenizer


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its `to_dict()` form (as stored in a checkpoint)."""
    return make_tokenizer(
        data["kind"],
        lowercase=bool(data.get("lowercase", False)),
        sp_model=data.get("model"),
        reverse=bool(data.get("reverse", False)),
    )


def train_sentencepiece(
    lines: Iterable[str],
    *,
    vocab_size: int = _DEFAULTS.sp_vocab_size,
    model_type: str = _DEFAULTS.sp_model_type,
    character_coverage: float = _DEFAULTS.sp_character_coverage,
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
            f"unknown SentencePiece model type {model_type!r}; use bpe or unigram"
        )
    if not 0.0 < character_coverage <= 1.0:  # nan too
        raise ConfigError(
            f"character coverage must be in (0, 1] (got {character_coverage})"
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
        raise ConfigError(sentencepiece_training_error(str(exc))) from None
    return buffer.getvalue()


_NOT_A_MODEL = (
    "not a SentencePiece model (a file written by `seqcli tokenize train` or "
    "spm_train); damaged, or another kind of file"
)
# "INTERNAL: src/trainer_interface.cc(638) [check] Message." -> "Message."
_SP_INTERNAL = re.compile(r"^\w+: \S+\(\d+\)\s*(\[.*?\]\s*)?")
_SP_TOO_FEW = re.compile(
    r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)"
)


def sentencepiece_training_error(raw: str) -> str:
    """One line a user can act on, for SentencePiece's raw `INTERNAL: file.cc(N)`."""
    too_few = _SP_TOO_FEW.search(raw)
    if too_few:
        size, needed = too_few.groups()
        return (
            f"a SentencePiece vocabulary of {size} pieces is too small: the "
            f"characters of this text need at least {needed}; raise the vocabulary "
            "size, or lower the character coverage"
        )
    detail = _SP_INTERNAL.sub("", raw.strip().splitlines()[0] if raw.strip() else "")
    detail = detail.strip() or "no reason given"
    return f"SentencePiece could not train a model on this text ({detail[:160]})"


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
    return make_tokenizer(
        cfg.level, lowercase=cfg.lowercase, sp_model=sp_model, reverse=cfg.reverse
    )


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
