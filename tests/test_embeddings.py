"""Word vectors: evaluation sets and scores, queries, loading, skip-gram training."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from seqcli.checkpoint import save_checkpoint
from seqcli.config import EmbeddingsConfig, RecurrentConfig
from seqcli.errors import DataFormatError, SeqcliError
from seqcli.metrics.embeddings import (
    average_ranks,
    read_analogies,
    read_similarity,
    spearman,
)
from seqcli.nn.recurrent import RecurrentEncoder
from seqcli.tasks.embeddings import train_embeddings
from seqcli.tasks.embeddings_inference import (
    WordEmbeddings,
    analogy,
    evaluate_analogies,
    evaluate_similarity,
    export_vectors,
    load_model_vectors,
    load_vectors,
    neighbors,
)
from seqcli.tasks.transfer import load_embeddings
from seqcli.vocab import SPECIALS, Vocab

# Axes: royalty, gender (+ male), fruit, a little noise so that no two tie.
TOY = {
    "king": [1.0, 1.0, 0.0, 0.05],
    "queen": [1.0, -1.0, 0.0, 0.0],
    "man": [0.0, 1.0, 0.0, 0.1],
    "woman": [0.0, -1.0, 0.0, 0.12],
    "apple": [0.0, 0.0, 1.0, 0.0],
    "banana": [0.05, 0.0, 0.9, 0.3],
}


@pytest.fixture
def toy() -> WordEmbeddings:
    return WordEmbeddings(list(TOY), torch.tensor(list(TOY.values())), "toy")


def test_neighbors_rank_by_cosine_and_exclude_the_word(toy: WordEmbeddings) -> None:
    found = neighbors(toy, "apple", k=3)
    assert found[0][0] == "banana"
    assert "apple" not in [w for w, _ in found]
    sims = [s for _, s in found]
    assert sims == sorted(sims, reverse=True)
    expected = float(
        torch.nn.functional.cosine_similarity(
            torch.tensor([TOY["apple"]]), torch.tensor([TOY["banana"]])
        )
    )
    assert sims[0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_finds_queen(toy: WordEmbeddings, method: str) -> None:
    assert analogy(toy, "man", "king", "woman", k=1, method=method)[0][0] == "queen"


def test_analogy_excludes_the_query_words(toy: WordEmbeddings) -> None:
    # b - a + c = c here: without the exclusion "woman" itself would win.
    answers = [w for w, _ in analogy(toy, "man", "man", "woman", k=3)]
    assert not {"man", "woman"} & set(answers)
    assert answers[0] == "queen"


def test_unknown_word_is_a_one_line_error(toy: WordEmbeddings) -> None:
    with pytest.raises(SeqcliError, match="'prince' is not in the vocabulary of toy"):
        neighbors(toy, "prince")


def test_lowercase_vocabulary_finds_capitalised_words(toy: WordEmbeddings) -> None:
    assert neighbors(toy, "Apple", k=1)[0][0] == "banana"
    cased = WordEmbeddings(["Paris", "paris"], torch.eye(2), "cased")
    with pytest.raises(SeqcliError):
        neighbors(cased, "PARIS")


QUESTIONS = """\
: capital-world
man king woman queen
man king woman apple
man king prince princess
: gram1-fruit
apple banana apple banana
king queen man woman
"""


def test_analogy_reader_and_per_section_accounting(
    toy: WordEmbeddings, tmp_path: Path
) -> None:
    path = tmp_path / "q.txt"
    path.write_text(QUESTIONS, encoding="utf-8")
    questions = read_analogies(path)
    assert [(q.section, q.d, q.lineno) for q in questions][:2] == [
        ("capital-world", "queen", 2),
        ("capital-world", "apple", 3),
    ]
    report = evaluate_analogies(toy, questions)
    world, fruit = report.sections
    # capital-world: 3 questions, 1 skipped (prince, princess), 1 right of 2 asked.
    assert (world.total, world.answered, world.correct, world.skipped) == (3, 2, 1, 1)
    assert world.accuracy == 50.0  # percent
    assert world.accuracy_all == pytest.approx(100 / 3)
    assert fruit.section == "gram1-fruit" and fruit.total == 2
    assert report.semantic.total == 3 and report.syntactic.total == 2
    overall = report.overall
    assert (overall.total, overall.answered) == (5, 4)
    assert overall.accuracy_all == pytest.approx(100 * overall.correct / 5)


def test_analogy_reader_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(": s\na b c\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"q.txt:2: expected four words"):
        read_analogies(path)


def test_spearman_with_ties_matches_the_known_value() -> None:
    # scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(
        0.8207826816681233
    )
    assert average_ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_similarity_reader_and_oov_pairs(toy: WordEmbeddings, tmp_path: Path) -> None:
    path = tmp_path / "sim.tsv"
    path.write_text(
        "# comment\nWord 1\tWord 2\tHuman (mean)\nking\tqueen\t8\n"
        "apple banana 9.5\nman\tapple\t1\nprince\tking\t9\n",
        encoding="utf-8",
    )
    pairs = read_similarity(path)
    assert [p.score for p in pairs] == [8.0, 9.5, 1.0, 9.0]
    score = evaluate_similarity(toy, pairs, "sim")
    assert (score.pairs, score.oov_pairs) == (3, 1)
    assert -1 <= score.spearman <= 1


def test_export_then_read_gives_the_same_neighbours(
    toy: WordEmbeddings, tmp_path: Path
) -> None:
    path = tmp_path / "vectors.txt"
    export_vectors(toy, path)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "6 4"
    again = load_vectors(path)
    assert again.words == toy.words
    for word in toy.words:
        assert [w for w, _ in neighbors(again, word)] == [
            w for w, _ in neighbors(toy, word)
        ]


def test_vectors_file_without_header_and_gzipped(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "glove.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("the 0.1 0.2 0.3\ncat 0.3 0.2 0.1\n")
    emb = load_vectors(path)
    assert emb.words == ["the", "cat"] and emb.vectors.shape == (2, 3)


def test_vectors_file_with_inconsistent_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("2 3\nthe 0.1 0.2 0.3\ncat 0.3 0.2\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.txt:3: expected a word and 3"):
        load_vectors(path)


def _word_checkpoint(path: Path, task: str = "lm") -> Path:
    tokens = [*SPECIALS, "king", "queen", "apple"]
    weight = torch.arange(len(tokens) * 3, dtype=torch.float).view(len(tokens), 3)
    save_checkpoint(
        path,
        {
            "task": task,
            "config": {},
            "vocab": {"tokens": tokens},
            "tokenizer": {"kind": "word", "lowercase": True},
            "state_dict": {"encoder.embedding.weight": weight},
        },
    )
    return path


def test_vectors_of_a_checkpoint_skip_the_special_tokens(tmp_path: Path) -> None:
    emb = load_model_vectors(_word_checkpoint(tmp_path / "lm.pt"))
    assert emb.words == ["king", "queen", "apple"]
    assert emb.vectors[0].tolist() == [12.0, 13.0, 14.0]  # row 4 of the matrix


def test_sentiment_embeddings_accept_a_checkpoint(tmp_path: Path) -> None:
    path = _word_checkpoint(tmp_path / "vectors.pt", task="embeddings")
    vocab = Vocab([*SPECIALS, "apple", "pear"])
    encoder = RecurrentEncoder(len(vocab), RecurrentConfig(emb_size=3, hidden_size=4))
    done = load_embeddings(encoder, vocab, str(path))
    assert done["found"] == 1
    assert encoder.embedding.weight[4].tolist() == [18.0, 19.0, 20.0]


def test_skipgram_puts_words_sharing_contexts_together(tmp_path: Path) -> None:
    # Animals and vehicles never share a context; within a group, words do.
    import random

    rng = random.Random(0)
    animals, vehicles = ["cat", "dog", "cow"], ["car", "bus", "van"]
    lines = []
    for _ in range(300):
        lines.append(f"the {rng.choice(animals)} eats grass and sleeps")
        lines.append(f"a {rng.choice(vehicles)} drives on roads with wheels")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = EmbeddingsConfig(
        train_path=str(corpus), out=str(tmp_path / "sg.pt"), emb_size=16, window=2
    )
    cfg.subsample = 0.0
    cfg.tokenizer.min_freq = 1
    cfg.train.epochs, cfg.train.batch_size, cfg.train.num_threads = 3, 256, 1
    outcome = train_embeddings(cfg)
    emb = load_model_vectors(outcome.path)

    def cos(a: str, b: str) -> float:
        return float(emb.unit[emb.row(a)] @ emb.unit[emb.row(b)])

    for group, other in ((animals, vehicles), (vehicles, animals)):
        inside = min(cos(a, b) for a in group for b in group if a != b)
        across = max(cos(a, b) for a in group for b in other)
        assert inside > across + 0.3
    assert outcome.metrics["speed"]["words_per_s"] > 0


def test_two_vocabulary_checkpoint_needs_a_side(tmp_path: Path) -> None:
    src, tgt = [*SPECIALS, "haus"], [*SPECIALS, "house", "home"]
    path = tmp_path / "mt.pt"
    save_checkpoint(
        path,
        {
            "task": "translation",
            "config": {},
            "vocab": {"src": src, "tgt": tgt},
            "tokenizer": {
                "src": {"kind": "word", "lowercase": True},
                "tgt": {"kind": "word", "lowercase": True},
            },
            "state_dict": {
                "encoder.embedding.weight": torch.zeros(len(src), 3),
                "decoder.embedding.weight": torch.ones(len(tgt), 3),
            },
        },
    )
    assert load_model_vectors(path, side="src").words == ["haus"]
    assert load_model_vectors(path, side="tgt").words == ["house", "home"]
    with pytest.raises(SeqcliError, match="--side src"):
        load_model_vectors(path)


def test_character_level_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "char.pt"
    save_checkpoint(
        path,
        {
            "task": "lm",
            "config": {},
            "vocab": {"tokens": [*SPECIALS, "a", "b"]},
            "tokenizer": {"kind": "char", "lowercase": False},
            "state_dict": {"encoder.embedding.weight": torch.zeros(6, 3)},
        },
    )
    with pytest.raises(SeqcliError, match="char-level vocabulary"):
        load_model_vectors(path)
