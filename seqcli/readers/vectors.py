"""Word vectors in word2vec/GloVe text format. Must not import torch."""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
from typing import NamedTuple

from seqcli.errors import DataFormatError
from seqcli.readers.lines import display_name, read_lines


class WordVectors(NamedTuple):
    """Vectors of the wanted words found in a word2vec/GloVe text file."""

    dim: int
    vectors: dict[str, list[float]]
    total: int  # words in the file


def read_word_vectors(path: str | Path, wanted: Container[str]) -> WordVectors:
    """Read ``word v1 v2 ... vd`` lines, keeping the vectors of `wanted` words.

    A word2vec header line (``count dim``) is skipped. Every vector must have the
    dimension of the first one; the word is everything before the last d numbers,
    so that words containing spaces (GloVe 840B has some) are read whole. A word
    not wanted as written is kept under its lowercased form if that is wanted.
    """
    name = display_name(path)
    dim = 0
    vectors: dict[str, list[float]] = {}
    total = 0
    for line in read_lines(path):
        fields = line.text.rstrip().split(" ")
        if not line.text.strip() or (line.lineno == 1 and len(fields) == 2):
            continue
        if not dim:
            dim = len(fields) - 1
        if len(fields) < dim + 1:
            raise DataFormatError(
                f"expected a word and {dim} numbers, found {len(fields)} fields",
                name,
                line.lineno,
            )
        word = " ".join(fields[:-dim])
        total += 1
        # An exact match wins; a cased word also serves a lowercased vocabulary.
        key = word if word in wanted else word.lower()
        if key in wanted and (key == word or key not in vectors):
            try:
                vectors[key] = [float(x) for x in fields[-dim:]]
            except ValueError:
                raise DataFormatError(
                    "not a number in the vector", name, line.lineno
                ) from None
    if not dim:
        raise DataFormatError("no word vectors in the file", name)
    return WordVectors(dim, vectors, total)
