"""Querying word vectors: load, nearest neighbours, analogies, evaluation, export, map.

Vectors come from any seqcli checkpoint with a word vocabulary (its input
embedding) or from a word2vec/GloVe text file. They are normalised to unit length
once, so that every cosine similarity is a dot product and the neighbours of a
word are one matrix product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from seqcli.checkpoint import load_checkpoint
from seqcli.errors import DataFormatError, SeqcliError
from seqcli.metrics.embeddings import (
    AnalogyQuestion,
    AnalogyReport,
    SectionScore,
    SimilarityPair,
    SimilarityScore,
    analogy_report,
    spearman,
)
from seqcli.outputs import OutputFile, output_file
from seqcli.readers import read_word_vectors
from seqcli.tasks.transfer import stored_word_vectors
from seqcli.vocab import closest_word, count_words

# Analogy questions scored per matrix product: (chunk, words) scores of about 64 MB,
# whatever the vocabulary size.
CHUNK_CELLS = 2**24
EPSILON = 1e-3  # 3CosMul's guard against division by zero (Levy & Goldberg, 2014)


class UnknownWordError(SeqcliError):
    """A query word that is not in the vocabulary of the vectors."""


class _Everything:
    """A container holding every word: read a whole vectors file."""

    def __contains__(self, item: object) -> bool:
        return True


@dataclass
class WordEmbeddings:
    """Words and their vectors; `unit` holds them normalised to length 1."""

    words: list[str]
    vectors: Tensor  # (words, dim) as stored
    source: str

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}
        self.unit = torch.nn.functional.normalize(self.vectors.float(), dim=1)
        # A lowercased vocabulary finds "Paris" as "paris".
        self.lowercase = all(w == w.lower() for w in self.words)

    def __len__(self) -> int:
        return len(self.words)

    def find(self, word: str) -> int | None:
        """The row of `word` (lowercased when the vocabulary is), or None."""
        i = self.index.get(word)
        if i is None and self.lowercase:
            i = self.index.get(word.lower())
        return i

    def row(self, word: str) -> int:
        """The row of `word`; an unknown word is a one-line error."""
        i = self.find(word)
        if i is None:
            case = ", lowercase" if self.lowercase else ""
            meant = closest_word(word, self.words)
            hint = f"; did you mean '{meant}'?" if meant is not None else ""
            raise UnknownWordError(
                f"'{word}' is not in the vocabulary of {self.source} "
                f"({count_words(self.words):,} words{case}){hint}"
            )
        return i


# --- loading -----------------------------------------------------------------------
def load_vectors(path: str | Path) -> WordEmbeddings:
    """Every vector of a word2vec/GloVe text file (header line optional, .gz ok)."""
    found = read_word_vectors(path, _Everything())
    words = list(found.vectors)
    matrix = torch.tensor([found.vectors[w] for w in words], dtype=torch.float)
    return WordEmbeddings(words, matrix.view(len(words), found.dim), str(path))


def load_model_vectors(path: str | Path, *, side: str | None = None) -> WordEmbeddings:
    """The input word embedding of a seqcli checkpoint (see `stored_word_vectors`)."""
    data = load_checkpoint(path, command="`seqcli embeddings`")
    words, matrix = stored_word_vectors(data, side=side, source=str(path))
    return WordEmbeddings(words, matrix, str(path))


# --- queries -----------------------------------------------------------------------
Neighbours = list[tuple[str, float]]


def _top(emb: WordEmbeddings, scores: Tensor, k: int) -> Neighbours:
    values, rows = scores.topk(min(k, scores.numel()))
    return [
        (emb.words[int(i)], float(v))
        for v, i in zip(values, rows, strict=True)
        if not math.isinf(float(v))
    ]


def neighbors(emb: WordEmbeddings, word: str, k: int = 10) -> Neighbours:
    """The `k` words nearest to `word` by cosine similarity, itself excluded."""
    i = emb.row(word)
    scores = emb.unit @ emb.unit[i]  # (words,)
    scores[i] = -math.inf
    return _top(emb, scores, k)


def analogy(
    emb: WordEmbeddings, a: str, b: str, c: str, *, k: int = 5, method: str = "3cosadd"
) -> Neighbours:
    """a is to b as c is to ?: the `k` best answers, the three query words excluded."""
    rows = torch.tensor([[emb.row(a), emb.row(b), emb.row(c)]])
    scores = _analogy_scores(emb, rows, method)[0]
    return _top(emb, scores, k)


def _analogy_scores(emb: WordEmbeddings, rows: Tensor, method: str) -> Tensor:
    """Scores of every word as the answer to each question (a, b, c) of `rows`.

    3CosAdd (Mikolov et al., 2013): cos(d, b) - cos(d, a) + cos(d, c).
    3CosMul (Levy & Goldberg, 2014): cos(d, b) cos(d, c) / (cos(d, a) + eps), with
    cosines shifted to [0, 1]; it keeps one large similarity from dominating.
    """
    unit = emb.unit
    a, b, c = rows[:, 0], rows[:, 1], rows[:, 2]  # (questions,)
    if method == "3cosadd":
        scores = (unit[b] - unit[a] + unit[c]) @ unit.T  # (questions, words)
    elif method == "3cosmul":
        sim_a, sim_b, sim_c = ((unit[x] @ unit.T + 1) / 2 for x in (a, b, c))
        scores = sim_b * sim_c / (sim_a + EPSILON)  # (questions, words)
    else:
        raise SeqcliError(f"--method: '{method}' is not 3cosadd or 3cosmul")
    scores.scatter_(1, rows, -math.inf)  # the query words are never the answer
    return scores


# --- evaluation --------------------------------------------------------------------
def evaluate_analogies(
    emb: WordEmbeddings,
    questions: Sequence[AnalogyQuestion],
    *,
    method: str = "3cosadd",
) -> AnalogyReport:
    """Accuracy per section; questions with a word outside the vocabulary skipped.

    Each section's answerable questions are scored in chunks, one matrix product
    per chunk.
    """
    sections: dict[str, SectionScore] = {}
    known: dict[str, list[list[int]]] = {}
    for q in questions:
        score = sections.setdefault(q.section, SectionScore(q.section))
        score.total += 1
        rows = [emb.find(w) for w in (q.a, q.b, q.c, q.d)]
        if None not in rows:
            score.answered += 1
            known.setdefault(q.section, []).append(rows)  # type: ignore[arg-type]
    chunk = max(1, CHUNK_CELLS // len(emb))
    for section, rows in known.items():
        table = torch.tensor(rows)  # (questions, 4)
        for start in range(0, len(table), chunk):
            part = table[start : start + chunk]
            best = _analogy_scores(emb, part[:, :3], method).argmax(dim=1)
            sections[section].correct += int((best == part[:, 3]).sum())
    return analogy_report(list(sections.values()))


def evaluate_similarity(
    emb: WordEmbeddings, pairs: Sequence[SimilarityPair], name: str
) -> SimilarityScore:
    """Spearman's rho between cosine similarity and the human scores."""
    model, human = [], []
    for pair in pairs:
        i, j = emb.find(pair.first), emb.find(pair.second)
        if i is not None and j is not None:
            model.append(float(emb.unit[i] @ emb.unit[j]))
            human.append(pair.score)
    return SimilarityScore(
        name, spearman(model, human), len(model), len(pairs) - len(model)
    )


# --- output ------------------------------------------------------------------------
def export_vectors(emb: WordEmbeddings, path: str | Path | OutputFile) -> int:
    """Write word2vec text format (``count dim`` header, then ``word v1 ... vd``).

    `path` may be an `OutputFile` claimed before the vectors were loaded; the file
    is written atomically (a failed write keeps the previous file).
    """
    out = output_file(path)
    for word in emb.words:
        if not word or any(ch.isspace() for ch in word):
            raise DataFormatError(f"cannot export the word {word!r}: it holds a space")
    with out.open("w") as fh:
        fh.write(f"{len(emb)} {emb.vectors.size(1)}\n")
        for word, vector in zip(emb.words, emb.vectors.tolist(), strict=True):
            fh.write(word + " " + " ".join(f"{x:.6g}" for x in vector) + "\n")
    return len(emb)


def plot_words(
    emb: WordEmbeddings,
    words: Sequence[str],
    path: str | Path | OutputFile,
    *,
    method: str = "tsne",
    seed: int = 1,
) -> tuple[int, list[str]]:
    """A labelled 2-D map of `words` (t-SNE or PCA) as a PNG; needs `seqcli[plot]`.

    `path` may be an `OutputFile` claimed before the work. Returns how many words
    were placed and the words left out (not in the vocabulary).
    """
    out = output_file(path)
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE
    except ImportError:
        raise SeqcliError(
            "plot needs matplotlib and scikit-learn: pip install 'seqcli[plot]'"
        ) from None
    missing = [w for w in words if emb.find(w) is None]
    rows = [i for i in map(emb.find, words) if i is not None]
    if len(rows) < 3:
        raise SeqcliError(f"plot needs at least 3 words, got {len(rows)}")
    points = emb.unit[rows].numpy()
    if method == "pca":
        xy = PCA(n_components=2, random_state=seed).fit_transform(points)
    elif method == "tsne":
        perplexity = min(30.0, (len(rows) - 1) / 3)
        xy = TSNE(
            n_components=2, perplexity=perplexity, random_state=seed, init="pca"
        ).fit_transform(points)
    else:
        raise SeqcliError(f"--method: '{method}' is not tsne or pca")
    fig, ax = plt.subplots(figsize=(12, 12))
    ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.5)
    for (x, y), i in zip(xy, rows, strict=True):
        ax.annotate(emb.words[i], (x, y), fontsize=8)
    ax.set_axis_off()
    try:
        out.write_figure(fig, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return len(rows), missing
