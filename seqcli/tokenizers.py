"""Tokenizers: text -> token strings and back. Word, character and SentencePiece.

Tokenizers segment only; ids come from `seqcli.vocab`, so there is one id space
(SentencePiece's own ids are never used). A tokenizer serialises to a plain dict
(`to_dict`) that the checkpoint stores, SentencePiece model bytes included, so a
checkpoint alone can tokenise. A tokenizer also carries how the training text was
normalised (cleaning, lowercasing, the word split), so that every command that reads
raw text with a checkpoint's tokenizer reads it as the training text was read.
Must not import torch; sentencepiece is imported inside the functions that need it.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from seqcli.config import TokenizerConfig
from seqcli.errors import ConfigError, DataFormatError
from seqcli.treebank import clean_web_text, ptb_join, ptb_split, strip_html

LEVELS = ("word", "char", "subword")
SPLITS = ("ptb", "whitespace")  # how the word level splits text into words
NO_CAPITALS_NOTE = "training text has no capitals: inputs will be lowercased"
_DEFAULTS = TokenizerConfig()  # SentencePiece's defaults are the config's


class Tokenizer(Protocol):
    kind: str
    lowercase: bool
    clean: bool  # raw web text: HTML tags stripped, punctuation split (PTB)
    lowercase_detected: bool  # lowercase because the training text had no capitals
    reverse: bool  # tokens come out right to left (a backward language model)

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Iterable[str]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class _Normalizing:
    """What every tokenizer does to text before segmenting it, and records.

    The same normalisation runs on training text and on every input at inference,
    because both go through `tokenize`; `to_dict` stores it in the checkpoint.
    """

    kind: str

    def __init__(
        self,
        *,
        lowercase: bool = False,
        clean: bool = False,
        lowercase_detected: bool = False,
    ):
        self.lowercase = lowercase
        self.clean = clean
        self.lowercase_detected = lowercase_detected and lowercase

    def normalize(self, text: str) -> str:
        # Cleaning splits on the text's own case (a period before a lowercase word
        # stays on its word), so it runs before lowercasing.
        if self.clean:
            text = clean_web_text(text)
        return text.lower() if self.lowercase else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lowercase": self.lowercase,
            "clean": self.clean,
            "lowercase_detected": self.lowercase_detected,
        }


class WordTokenizer(_Normalizing):
    """Words: split off punctuation and clitics as the Penn Treebank does (`ptb`,
    which leaves the already tokenised text of WikiText, SST and CoNLL as it is),
    or split on whitespace alone (`whitespace`)."""

    kind = "word"
    reverse = False

    def __init__(self, *, split: str | None = None, **normalization: bool):
        super().__init__(**normalization)
        self.split = TokenizerConfig.word_split if split is None else split
        if self.split not in SPLITS:
            raise ConfigError(
                f"unknown word split '{self.split}'; use one of {', '.join(SPLITS)}"
            )

    def tokenize(self, text: str) -> list[str]:
        if self.clean:
            text = strip_html(text)
        tokens = ptb_split(text) if self.split == "ptb" or self.clean else text.split()
        return [t.lower() for t in tokens] if self.lowercase else tokens

    def detokenize(self, tokens: Iterable[str]) -> str:
        return ptb_join(tokens) if self.split == "ptb" else " ".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "split": self.split}


class CharTokenizer(_Normalizing):
    """One token per Unicode character, spaces included (char-rnn style)."""

    kind = "char"
    reverse = False

    def tokenize(self, text: str) -> list[str]:
        return list(self.normalize(text))

    def detokenize(self, tokens: Iterable[str]) -> str:
        return "".join(tokens)


class SentencePieceTokenizer(_Normalizing):
    """Subword pieces (BPE or unigram) from a SentencePiece model held in memory."""

    kind = "subword"
    reverse = False

    def __init__(self, model_proto: bytes, **normalization: bool):
        import sentencepiece as spm

        super().__init__(**normalization)
        self.model_proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self.model_proto)
        except (RuntimeError, OSError):
            # SentencePiece says only "INTERNAL: src/...cc(109)" here.
            raise ConfigError(_NOT_A_MODEL) from None

    @classmethod
    def from_file(cls, path: str, **normalization: bool) -> SentencePieceTokenizer:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise ConfigError(f"SentencePiece model not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            return cls(data, **normalization)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @property
    def pieces(self) -> list[str]:
        return [self._sp.IdToPiece(i) for i in range(self._sp.GetPieceSize())]

    def tokenize(self, text: str) -> list[str]:
        return self._sp.EncodeAsPieces(self.normalize(text))

    def detokenize(self, tokens: Iterable[str]) -> str:
        return self._sp.DecodePieces(list(tokens))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "model": self.model_proto}


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
        self.clean = forward.clean
        self.lowercase_detected = forward.lowercase_detected

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
    clean: bool = False,
    split: str | None = None,
    sp_model: bytes | None = None,
    reverse: bool = False,
    lowercase_detected: bool = False,
) -> Tokenizer:
    """The tokenizer for a `TokenizerConfig.level`; subword needs a trained model.

    `split` (word level only) defaults to `TokenizerConfig.word_split`.
    """
    norm = {
        "lowercase": lowercase,
        "clean": clean,
        "lowercase_detected": lowercase_detected,
    }
    tokenizer: Tokenizer
    if level == "word":
        tokenizer = WordTokenizer(split=split, **norm)
    elif level == "char":
        tokenizer = CharTokenizer(**norm)
    elif level == "subword":
        if sp_model is None:
            raise ConfigError("subword level needs a SentencePiece model")
        tokenizer = SentencePieceTokenizer(sp_model, **norm)
    else:
        raise ConfigError(
            f"unknown tokenization level {level!r}; use one of {', '.join(LEVELS)}"
        )
    return ReversedTokenizer(tokenizer) if reverse else tokenizer


def tokenizer_from_dict(
    data: dict[str, Any], *, clean_before: bool = False
) -> Tokenizer:
    """Rebuild a tokenizer from its `to_dict()` form (as stored in a checkpoint).

    A tokenizer saved before normalisation was recorded (no "split" or "clean")
    reads text as it did then: words split on whitespace, case kept unless
    "lowercase" says otherwise, and cleaning as `clean_before` says (the sentiment
    task cleaned text itself when its config said `clean`).
    """
    return make_tokenizer(
        data["kind"],
        lowercase=bool(data.get("lowercase", False)),
        clean=bool(data.get("clean", clean_before)),
        split=str(data.get("split", "whitespace")),
        sp_model=data.get("model"),
        reverse=bool(data.get("reverse", False)),
        lowercase_detected=bool(data.get("lowercase_detected", False)),
    )


def checkpoint_tokenizer(data: dict[str, Any]) -> Tokenizer:
    """The tokenizer a loaded checkpoint reads raw text with, for every task and
    every command: training text and inputs are read the same way.

    Before the tokenizer recorded cleaning, the sentiment task cleaned text itself
    when its config said `clean`; such checkpoints keep doing so.
    """
    clean = bool(data.get("config", {}).get("clean", False))
    return tokenizer_from_dict(data["tokenizer"], clean_before=clean)


def adapt_tokenizer(
    tokenizer: Tokenizer,
    cfg: TokenizerConfig,
    texts: Iterable[str],
    *,
    clean: bool = False,
) -> Tokenizer:
    """A given tokenizer (a language model's) for a task's own training text: it
    cleans web text first if `clean`, and lowercases inputs when the text has no
    capitals, as `build_tokenizer` would (unless `cfg.lowercase` says yes or no)."""
    data = tokenizer.to_dict()
    if clean:
        data["clean"] = True
    detect = cfg.lowercase is None and not tokenizer.lowercase
    if detect and not _CapitalWatch(texts).capitals():
        data["lowercase"] = data["lowercase_detected"] = True
    return tokenizer if data == tokenizer.to_dict() else tokenizer_from_dict(data)


def describe(tokenizer: Tokenizer) -> str:
    """How the tokenizer reads raw text, in a few words (data summaries)."""
    parts = [f"{tokenizer.kind} level"]
    split = getattr(getattr(tokenizer, "forward", tokenizer), "split", "")
    if split:
        parts.append(f"{split} word split")
    if tokenizer.clean:
        parts.append("web text cleaned")
    if tokenizer.lowercase_detected:
        parts.append(NO_CAPITALS_NOTE)
    elif tokenizer.lowercase:
        parts.append("lowercased")
    if tokenizer.reverse:
        parts.append("read right to left")
    return ", ".join(parts)


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
    # Streamed: SentencePiece keeps a sample of `max_sentences`, not the corpus.
    sentences = ((s.lower() if lowercase else s) for s in lines if s.strip())
    first = next(sentences, None)
    if first is None:
        raise DataFormatError("no text to train a SentencePiece model on")
    buffer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=itertools.chain([first], sentences),
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


def build_tokenizer(
    cfg: TokenizerConfig, texts: Iterable[str], *, clean: bool = False
) -> Tokenizer:
    """The tokenizer a task trains with; a subword model is learnt from `texts`.

    Unless `cfg.lowercase` says yes or no, inputs are lowercased when the training
    texts hold no capital letter at all: a model that never saw one would read
    every capitalised word as unknown. `clean` strips HTML and splits punctuation
    before tokenizing (raw web text).
    """
    watch = _CapitalWatch(texts)
    sp_model = None
    if cfg.level == "subword":
        sp_model = train_sentencepiece(
            (clean_web_text(t) for t in watch) if clean else watch,
            vocab_size=cfg.sp_vocab_size,
            model_type=cfg.sp_model_type,
            character_coverage=cfg.sp_character_coverage,
            lowercase=bool(cfg.lowercase),
        )
    detected = cfg.lowercase is None and watch.lowercase_only()
    return make_tokenizer(
        cfg.level,
        lowercase=bool(cfg.lowercase) or detected,
        clean=clean,
        split=cfg.word_split,
        sp_model=sp_model,
        reverse=cfg.reverse,
        lowercase_detected=detected,
    )


class _CapitalWatch:
    """Iterates over texts once, noting whether any holds a capital letter (and
    whether any holds a letter with case at all)."""

    def __init__(self, texts: Iterable[str]):
        self._texts = iter(texts)
        self._seen = False
        self._cased = False

    def __iter__(self) -> Iterator[str]:
        for text in self._texts:
            self._note(text)
            yield text

    def _note(self, text: str) -> None:
        if not self._seen and text != text.lower():
            self._seen = True
        if not self._cased and text != text.upper():
            self._cased = True

    def capitals(self) -> bool:
        """Whether a capital was seen; reads the texts not yet read, up to one."""
        for text in self._texts:
            if self._seen:
                break
            self._note(text)
        return self._seen

    def lowercase_only(self) -> bool:
        """Texts with lowercase letters and no capital: lowercasing inputs loses
        nothing the model knows. (No text, or no cased letter, proves nothing.)"""
        return not self.capitals() and self._cased
