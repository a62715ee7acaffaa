"""`seqcli embeddings ...` and `seqcli train-embeddings` through the CLI runner."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqcli.cli import app

VECTORS = """\
6 4
king 1.0 1.0 0.0 0.05
queen 1.0 -1.0 0.0 0.0
man 0.0 1.0 0.0 0.1
woman 0.0 -1.0 0.0 0.12
apple 0.0 0.0 1.0 0.0
banana 0.05 0.0 0.9 0.3
"""


@pytest.fixture
def vectors(tmp_path: Path) -> Path:
    path = tmp_path / "vectors.txt"
    path.write_text(VECTORS, encoding="utf-8")
    return path


def run(*args: str) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_neighbors_prints_word_neighbour_similarity(vectors: Path) -> None:
    result = run(
        "embeddings", "neighbors", "apple", "king", "-k", "2", "--vectors", vectors
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    word, other, sim = lines[0].split("\t")
    assert (word, other) == ("apple", "banana") and 0 < float(sim) <= 1


def test_analogy_command(vectors: Path) -> None:
    result = run("embeddings", "analogy", "man", "king", "woman", "--vectors", vectors)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split("\t")[0] == "queen"


def test_unknown_word_is_one_line_error(vectors: Path) -> None:
    result = run("embeddings", "neighbors", "prince", "--vectors", vectors)
    assert result.exit_code == 2
    assert "'prince' is not in the vocabulary" in result.output
    assert "Traceback" not in result.output


def test_inconsistent_vectors_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("the 0.1 0.2 0.3\ncat 0.3 0.2\n", encoding="utf-8")
    result = run("embeddings", "neighbors", "the", "--vectors", bad)
    assert result.exit_code == 2
    assert "bad.txt:2: expected a word and 3 numbers" in result.output


def test_evaluate_prints_sections_and_spearman(vectors: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text(
        ": family\nman king woman queen\nman king boy prince\n"
        ": gram2-x\napple banana apple banana\n",
        encoding="utf-8",
    )
    sim = tmp_path / "sim.txt"
    sim.write_text("king man 5\napple banana 9\nman apple 1\n", encoding="utf-8")
    result = run(
        "embeddings", "evaluate", "--analogies", questions, "--similarity", sim,
        "--vectors", vectors,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {
        line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines()
    }
    assert rows["family"][1:4] == ["1", "1", "2"]  # correct, answered, total
    assert rows["family"][4:] == ["100.00", "50.00"]  # percent, two decimals
    assert rows["overall"][3] == "3"
    assert rows["sim.txt"][1:3] == ["spearman", "1.0000"]
    assert "1 of 3 questions skipped" in result.stderr


def test_export_round_trip_through_the_cli(vectors: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    assert run("embeddings", "export", "-o", out, "--vectors", vectors).exit_code == 0
    before = run("embeddings", "neighbors", "king", "--vectors", vectors).stdout
    after = run("embeddings", "neighbors", "king", "--vectors", out).stdout
    assert before == after


def test_plot_without_the_extra_says_what_to_install(
    vectors: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    result = run("embeddings", "plot", "-o", tmp_path / "map.png", "--vectors", vectors)
    assert result.exit_code == 2
    assert "pip install 'seqcli[plot]'" in result.output  # quoted: zsh globs [ ]


def test_plot_draws_a_png(vectors: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    out = tmp_path / "map.png"
    result = run(
        "embeddings", "plot", "-o", out, "--method", "pca", "--vectors", vectors
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_train_embeddings_then_query_the_checkpoint(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat on the rug\n" * 20)
    out = tmp_path / "vec.pt"
    result = run(
        "train-embeddings", corpus, "-o", out, "--min-count", "1", "--subsample", "0",
        "--emb-size", "8", "--epochs", "1", "--batch-size", "64", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    result = run("embeddings", "neighbors", "cat", "-k", "3", "-m", out)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    shown = run("info", out, "--json")  # the vectors' own sizes, no recurrent ones
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["network"] == {
        "emb_size": 8,
        "window": 5,
        "negatives": 5,
    }
    # Its loss is watched on training pairs (there is no validation set).
    metrics = json.loads(shown.stdout)["metrics"]
    assert "train.loss" in metrics
    assert not [key for key in metrics if key.startswith("valid")]


def test_model_and_vectors_together_is_an_error(vectors: Path, tmp_path: Path) -> None:
    result = run("embeddings", "neighbors", "king", "--vectors", vectors, "-m", vectors)
    assert result.exit_code == 2
    assert "not both" in result.output


def test_train_embeddings_dry_run_prints_the_config(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 5)
    result = run(
        "train-embeddings",
        corpus,
        "--min-count",
        "1",
        "--window",
        "3",
        "--subsample",
        "0",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "window: 3" in result.stdout and "lr_schedule: linear" in result.stdout
    assert "vocabulary" in result.stderr


def test_train_embeddings_rejects_a_bad_window(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 5)
    result = run("train-embeddings", corpus, "--window", "0", "-o", tmp_path / "x.pt")
    assert result.exit_code == 2
    assert "window: must be at least 1" in result.output


def test_a_corpus_without_pairs_is_a_one_line_error(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("alone\nagain\n" * 5)  # one word a line: none has a context
    result = run("train-embeddings", corpus, "--min-count", "1", "--dry-run")
    assert result.exit_code == 2
    assert "no (word, context) pairs" in result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_word_gets_its_closest_known_one(tmp_path: Path) -> None:
    cased = tmp_path / "cased.txt"
    cased.write_text(VECTORS.replace("king ", "Paris ").replace("6 4", "7 4") +
                     "London 0.1 0.2 0.3 0.4\n", encoding="utf-8")  # fmt: skip
    result = run("embeddings", "neighbors", "paris", "--vectors", cased)
    assert result.exit_code == 2
    assert "did you mean 'Paris'?" in result.output
    result = run("embeddings", "analogy", "man", "Londn", "woman", "--vectors", cased)
    assert result.exit_code == 2
    assert "'Londn' is not in the vocabulary" in result.output
    assert "did you mean 'London'?" in result.output
    result = run("embeddings", "neighbors", "zzzzzz", "--vectors", cased)
    assert result.exit_code == 2
    assert "did you mean" not in result.output


def test_training_and_lookup_give_the_same_vocabulary_size(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("the Cat sat on the mat\nthe dog sat on the rug\n" * 20)
    out = tmp_path / "vec.pt"
    result = run(
        "train-embeddings", corpus, "-o", out, "--min-count", "1", "--subsample", "0",
        "--emb-size", "8", "--epochs", "1", "--batch-size", "64",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trained = re.search(r"vocabulary ([\d,]+) words", result.stderr)
    assert trained is not None, result.stderr
    assert trained.group(1) == "7"  # the Cat sat on mat dog rug
    assert "train: loss" in result.stderr and "valid:" not in result.stderr
    missing = run("embeddings", "neighbors", "cat", "-m", out)
    assert missing.exit_code == 2
    assert f"({trained.group(1)} words" in missing.output
    assert "did you mean 'Cat'?" in missing.output
