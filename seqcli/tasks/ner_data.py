"""NER data: CoNLL files read, checked and encoded for the tagger.

Must not import torch. A file's tag scheme (IOB1, IOB2 or BIOES) is detected or
given and every tag is checked against it (`check_scheme` names the line of the
first one that is not of the scheme); the gold tags are kept as written, for
scoring, and converted to the training scheme as ids, for training. A `Lexicon`
turns tokens into what `nn.tagger.Tagger` reads: a word id (the lowercased form
with digits as 0), character ids (case kept) and a casing category.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seqcli.config import NerConfig
from seqcli.errors import ConfigError, DataFormatError
from seqcli.metrics.ner import (
    chunks,
    convert,
    detect_scheme,
    scheme_errors,
    split_tag,
)
from seqcli.readers import ConllSentence, read_conll
from seqcli.vocab import UNK_ID, Vocab, build_vocab, casing_id, extend_vocab

_DIGIT = re.compile(r"\d")


# --- reading and encoding ----------------------------------------------------------
@dataclass
class Encoded:
    """Sentences as the network reads them, in file order."""

    words: list[list[int]]
    chars: list[list[list[int]]]
    casing: list[list[int]]


@dataclass
class Split:
    """One labelled file: its tokens, gold tags (input scheme) and encodings."""

    path: str
    tokens: list[list[str]]
    gold: list[list[str]]
    encoded: Encoded
    tags: list[list[int]]  # gold tag ids in the training scheme

    def __len__(self) -> int:
        return len(self.tokens)


def word_key(token: str, lowercase: bool, normalize_digits: bool) -> str:
    """``Paris`` -> ``paris``, ``1996-08-22`` -> ``0000-00-00`` (with both on)."""
    if lowercase:
        token = token.lower()
    return _DIGIT.sub("0", token) if normalize_digits else token


@dataclass
class Lexicon:
    """What turns tokens into ids: word and character vocabularies, the settings."""

    words: Vocab
    chars: Vocab
    lowercase: bool
    normalize_digits: bool

    def key(self, token: str) -> str:
        """The form a token is looked up under in the word vocabulary."""
        return word_key(token, self.lowercase, self.normalize_digits)

    def encode(self, sentences: Sequence[Sequence[str]]) -> Encoded:
        # Each distinct token is encoded once: a corpus repeats most of them.
        known: dict[str, tuple[int, list[int], int]] = {}
        for s in sentences:
            for t in s:
                if t not in known:
                    key = self.words.id_of(self.key(t))
                    known[t] = (key, self.chars.encode(t), casing_id(t))
        words = [[known[t][0] for t in s] for s in sentences]
        chars = [[known[t][1] for t in s] for s in sentences]
        casing = [[known[t][2] for t in s] for s in sentences]
        return Encoded(words, chars, casing)


@dataclass
class NerData:
    lexicon: Lexicon
    labels: Vocab  # tags of the training scheme
    scheme: str  # the files' own scheme
    train: Split
    valid: Split
    test: Split | None
    summary: dict[str, Any]


def read_tagged(cfg: NerConfig, path: str) -> list[ConllSentence]:
    """Every sentence of a tagged file, read with the configured columns."""
    sentences = list(
        read_conll(path, token_column=cfg.token_column, tag_column=cfg.tag_column)
    )
    if not sentences:
        raise DataFormatError("no sentences in the file", path)
    return sentences


def check_scheme(sentences: Sequence[ConllSentence], scheme: str, path: str) -> None:
    """Refuse the first tag that is not of `scheme`, naming its line."""
    for s in sentences:
        assert s.tags is not None
        problem = scheme_errors(s.tags, scheme)
        if problem is not None:
            token = int(re.search(r"\(token (\d+)\)", problem).group(1))  # type: ignore[union-attr]
            raise DataFormatError(
                problem.replace(f" (token {token})", ""), path, s.lines[token - 1]
            )


def label_set(types: Sequence[str], scheme: str) -> Vocab:
    """Every tag of `scheme` over the entity types: O first, then by type."""
    prefixes = "BIES" if scheme == "bioes" else "BI"
    return Vocab(
        ["O", *(f"{p}-{t}" for t in sorted(types) for p in prefixes)], specials=False
    )


def entity_types(sentences: Sequence[ConllSentence]) -> list[str]:
    return sorted(
        {split_tag(t)[1] for s in sentences for t in s.tags or () if t != "O"}
    )


def tag_ids(
    sentences: Sequence[ConllSentence],
    labels: Vocab,
    source: str,
    target: str,
    path: str,
) -> list[list[int]]:
    """Gold tags converted to the training scheme, as ids; an entity type the
    model does not know is an error naming its line."""
    out = []
    for s in sentences:
        assert s.tags is not None
        converted = convert(s.tags, source, target)
        for i, tag in enumerate(converted):
            if tag not in labels:
                raise DataFormatError(
                    f"tag {s.tags[i]!r}: entity type {split_tag(tag)[1]!r} is not "
                    f"one the model knows ({', '.join(types_of(labels))})",
                    path,
                    s.lines[i],
                )
        out.append(labels.encode(converted))
    return out


def types_of(labels: Vocab) -> list[str]:
    return sorted({split_tag(t)[1] for t in labels.itos if t != "O"})


def build_lexicon(
    cfg: NerConfig,
    sentences: Sequence[ConllSentence],
    unlabeled: Sequence[Sequence[str]] = (),
) -> Lexicon:
    """Word and character vocabularies of the training sentences and of the
    unlabeled ones (--unlabeled: the student reads their words too)."""
    lower, digits = cfg.tokenizer.lowercase, cfg.normalize_digits
    token_lists = [*(s.tokens for s in sentences), *unlabeled]
    words = Counter(word_key(t, lower, digits) for s in token_lists for t in s)
    chars = Counter(c for s in token_lists for t in s for c in t)
    word_vocab = build_vocab(
        words, min_freq=cfg.tokenizer.min_freq, max_size=cfg.tokenizer.max_size
    )
    return Lexicon(word_vocab, build_vocab(chars), lower, digits)


def prepare_data(
    cfg: NerConfig,
    *,
    lexicon: Lexicon | None = None,
    labels: Vocab | None = None,
    lm_vocab: Vocab | None = None,
    unlabeled: Sequence[Sequence[str]] = (),
) -> NerData:
    """Read, check and encode every split; build the vocabularies unless given.

    `lm_vocab` (--init-from) is the word vocabulary to start from; the training
    words it lacks are added after it. The words of `unlabeled` sentences (token
    lists the teachers label) join the vocabularies built here.
    """
    if not cfg.valid_path:
        raise ConfigError(
            "train-ner needs --valid FILE: its entity F1 picks the best epoch"
        )
    raw = {"train": read_tagged(cfg, cfg.train_path)}
    raw["valid"] = read_tagged(cfg, cfg.valid_path)
    if cfg.test_path:
        raw["test"] = read_tagged(cfg, cfg.test_path)
    paths = {"train": cfg.train_path, "valid": cfg.valid_path, "test": cfg.test_path}
    scheme = cfg.scheme
    if scheme == "auto":
        scheme = detect_scheme(s.tags for s in raw["train"])  # type: ignore[misc]
    for name, sentences in raw.items():
        check_scheme(sentences, scheme, str(paths[name]))
    if lexicon is None:
        lexicon = build_lexicon(cfg, raw["train"], unlabeled)
        if lm_vocab is not None:
            token_lists = [*(s.tokens for s in raw["train"]), *unlabeled]
            counts = Counter(lexicon.key(t) for s in token_lists for t in s)
            lexicon.words = extend_vocab(lm_vocab, counts)
    if labels is None:
        types = entity_types(raw["train"])
        if not types:
            raise DataFormatError("no entities in the training data", cfg.train_path)
        labels = label_set(types, cfg.train_scheme)
    splits = {
        name: Split(
            str(paths[name]),
            [s.tokens for s in sentences],
            [s.tags for s in sentences],  # type: ignore[misc]
            lexicon.encode([s.tokens for s in sentences]),
            tag_ids(sentences, labels, scheme, cfg.train_scheme, str(paths[name])),
        )
        for name, sentences in raw.items()
    }
    summary: dict[str, Any] = {name: _describe(split) for name, split in splits.items()}
    summary.update(
        scheme=scheme,
        train_scheme=cfg.train_scheme,
        vocab_size=len(lexicon.words),
        chars=len(lexicon.chars),
        labels=len(labels),
        valid_oov_rate=_oov_rate(splits["valid"]),
    )
    return NerData(
        lexicon,
        labels,
        scheme,
        splits["train"],
        splits["valid"],
        splits.get("test"),
        summary,
    )


def _describe(split: Split) -> dict[str, Any]:
    entities = Counter(c.kind for tags in split.gold for c in chunks(tags))
    return {
        "path": split.path,
        "sentences": len(split),
        "tokens": sum(len(t) for t in split.tokens),
        "entities": dict(sorted(entities.items())),
    }


def _oov_rate(split: Split) -> float:
    ids = [i for s in split.encoded.words for i in s]
    return ids.count(UNK_ID) / max(len(ids), 1)
