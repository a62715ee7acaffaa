"""The id space: special tokens, `Vocab`, encode/decode and vocabulary statistics.

This module is the only place that names the special tokens and their ids. Label
sets (tagger, classifier) are a `Vocab` built with ``specials=False``.
Must not import torch.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from seqcli.outputs import OutputFile

PAD = "<pad>"
UNK = "<unk>"
BOS = "<bos>"
EOS = "<eos>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
# <pad> is 0 so that `padding_idx=0` and zero-filled tensors are padding everywhere.
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(len(SPECIALS))


class Vocab:
    """A bijection between tokens and ids.

    With ``specials=True`` the first ids are `SPECIALS` in order and unknown tokens
    map to `<unk>`; without, every token must be known (label sets).
    """

    def __init__(self, tokens: Sequence[str], *, specials: bool = True):
        self.specials = specials
        self.itos: list[str] = list(tokens)
        if specials and tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary with specials must start with {SPECIALS}")
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dupes = [t for t, n in Counter(self.itos).items() if n > 1]
            raise ValueError(f"duplicate tokens in vocabulary: {dupes[:5]}")

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and (self.itos, self.specials) == (
            other.itos,
            other.specials,
        )

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={self.specials})"

    def id_of(self, token: str) -> int:
        """The id of a token; `<unk>` if unknown (KeyError without specials)."""
        if self.specials:
            return self.stoi.get(token, UNK_ID)
        return self.stoi[token]

    def encode(
        self, tokens: Iterable[str], *, add_bos: bool = False, add_eos: bool = False
    ) -> list[int]:
        """Token strings -> ids, optionally framed by `<bos>` ... `<eos>`."""
        get = self.stoi.get
        if self.specials:
            ids = [get(tok, UNK_ID) for tok in tokens]
        else:
            ids = [self.stoi[tok] for tok in tokens]
        if add_bos:
            ids.insert(0, BOS_ID)
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def decode(self, ids: Iterable[int], *, stop_at_eos: bool = True) -> list[str]:
        """Ids -> token strings, stopping at `<eos>`, dropping `<pad>` and `<bos>`."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if self.specials:
                if i == EOS_ID and stop_at_eos:
                    break
                if i in (PAD_ID, BOS_ID):
                    continue
            out.append(self.itos[i])
        return out

    def to_list(self) -> list[str]:
        """Plain list for the checkpoint."""
        return list(self.itos)

    @classmethod
    def from_list(cls, tokens: Sequence[str], *, specials: bool = True) -> Vocab:
        return cls(tokens, specials=specials)


@dataclass(frozen=True)
class VocabStats:
    """How well a vocabulary covers the text it was built from."""

    size: int  # entries, specials included
    types: int  # distinct tokens in the text
    tokens: int  # running tokens in the text
    covered_types: int
    coverage: float  # share of running tokens that are in the vocabulary
    oov_rate: float  # 1 - coverage: share that become <unk>
    most_common: list[tuple[str, int]]


def build_vocab(
    counts: Counter[str], *, min_freq: int = 1, max_size: int = 0, specials: bool = True
) -> Vocab:
    """Most frequent tokens first; ties broken by the token string, so builds repeat.

    Args:
        counts: token frequencies.
        min_freq: drop tokens seen fewer times.
        max_size: keep at most this many entries, specials included (0 = all).
        specials: start with `SPECIALS` (False for label sets).
    """
    reserved = SPECIALS if specials else ()
    ranked = sorted(
        (
            (tok, n)
            for tok, n in counts.items()
            if n >= min_freq and tok not in reserved
        ),
        key=lambda item: (-item[1], item[0]),
    )
    tokens = list(reserved) + [tok for tok, _ in ranked]
    if max_size:
        tokens = tokens[: max(max_size, len(reserved))]
    return Vocab(tokens, specials=specials)


def extend_vocab(vocab: Vocab, counts: Counter[str], *, min_freq: int = 1) -> Vocab:
    """`vocab` followed by the tokens of `counts` it lacks (seen at least `min_freq`
    times, most frequent first). Every token of `vocab` keeps its id, so weights
    trained with it still fit their rows."""
    new = build_vocab(
        Counter({t: n for t, n in counts.items() if t not in vocab}),
        min_freq=min_freq,
        specials=False,
    )
    return Vocab([*vocab.itos, *new.itos], specials=vocab.specials)


def vocab_stats(vocab: Vocab, counts: Counter[str], *, top: int = 10) -> VocabStats:
    """Coverage of `counts` by `vocab` (OOV rate: share of tokens -> <unk>)."""
    total = sum(counts.values())
    covered = sum(n for tok, n in counts.items() if tok in vocab)
    coverage = covered / total if total else 1.0
    return VocabStats(
        size=len(vocab),
        types=len(counts),
        tokens=total,
        covered_types=sum(1 for tok in counts if tok in vocab),
        coverage=coverage,
        oov_rate=1.0 - coverage,
        most_common=sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top],
    )


def write_vocab_file(
    vocab: Vocab, counts: Counter[str], path: str | Path | OutputFile
) -> None:
    """One `token<TAB>count` line per id, in id order (specials have count 0).

    `path` may be an `OutputFile` claimed before the vocabulary was built.
    """
    from seqcli.outputs import output_file

    with output_file(path).open("w") as fh:
        for tok in vocab.itos:
            fh.write(f"{tok}\t{counts.get(tok, 0) if tok not in SPECIALS else 0}\n")


def read_vocab_file(path: str) -> Vocab:
    """Read a file written by `write_vocab_file` (the count column is optional)."""
    from seqcli.errors import DataFormatError
    from seqcli.readers import read_text

    tokens = [_vocab_token(line.text) for line in read_text(path) if line.text]
    try:
        return Vocab(tokens, specials=tuple(tokens[: len(SPECIALS)]) == SPECIALS)
    except ValueError as exc:
        raise DataFormatError(str(exc), path) from None


def _vocab_token(line: str) -> str:
    """The token of a vocab-file line: all before the last tab when a count follows
    it (so a char vocab's tab token, written ``\t\t7``, survives), else the line."""
    token, sep, count = line.rpartition("\t")
    return token if sep and count.isdigit() else line


# --- casing: a small feature of each word for taggers ------------------------------
# Word lookups may be lowercased; the casing category keeps what lowercasing loses
# (Reimers and Gurevych, 2017). Id 0 is padding, as for tokens.
CASINGS: tuple[str, ...] = (
    PAD,
    "numeric",  # 1984
    "mostly_numeric",  # 10-21, 3.5%
    "lower",  # bank
    "upper",  # EU
    "title",  # Paris
    "has_digit",  # F16
    "other",  # iPhone, -, ...
)


def casing_id(word: str) -> int:
    """The index in `CASINGS` of a word's casing category."""
    digits = sum(c.isdigit() for c in word)
    if word.isdigit():
        kind = "numeric"
    elif digits / max(len(word), 1) > 0.5:
        kind = "mostly_numeric"
    elif digits:
        kind = "has_digit"
    elif word.islower():
        kind = "lower"
    elif word.isupper():
        kind = "upper"
    elif word[:1].isupper() and word[1:].islower():
        kind = "title"
    else:
        kind = "other"
    return CASINGS.index(kind)


def closest_word(word: str, words: Iterable[str]) -> str | None:
    """The known word a user most likely meant by the unknown `word`, or None.

    A word equal to it but for case comes first (``paris`` -> ``Paris``), then the
    most similar spelling (difflib's ratio of at least 0.8) among the words of about
    its length with its first letter, so that a vocabulary of 400,000 words is
    searched in a moment.
    """
    folded = word.casefold()
    similar: list[str] = []
    for known in words:
        candidate = known.casefold()
        if candidate == folded:
            return known
        if (
            candidate[:1] == folded[:1]
            and abs(len(known) - len(word)) <= 2
            and known not in SPECIALS
        ):
            similar.append(known)
    found = difflib.get_close_matches(word, similar, n=1, cutoff=0.8)
    return found[0] if found else None


def count_words(tokens: Iterable[str]) -> int:
    """The words of a vocabulary, its special tokens not counted (as every message
    that gives a vocabulary's size in words counts them)."""
    return sum(token not in SPECIALS for token in tokens)
