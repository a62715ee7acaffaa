"""`tag --n-best K` lists legal tag sequences only: with K above the number of
legal sequences, the list stops at the legal ones (a forbidden transition
scores -inf in decoding, not the finite training penalty)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from conftest import assert_error, assert_ok
from typer.testing import CliRunner

import seqcli.memory
from seqcli.checkpoint import load_checkpoint
from seqcli.cli import app
from seqcli.nn.crf import CRF, bioes_transitions, nbest_bytes

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def is_legal(tags: Sequence[str], labels: Sequence[str]) -> bool:
    """Every move (sentence start, tag to tag, sentence end) allowed by BIOES."""
    allowed = bioes_transitions(list(labels))
    start, end = len(labels), len(labels) + 1
    ids = [start, *(labels.index(t) for t in tags), end]
    return all(bool(allowed[a, b]) for a, b in itertools.pairwise(ids))


def legal_count(length: int, labels: Sequence[str]) -> int:
    """The legal sequences of `length` tags, by brute force."""
    return sum(
        is_legal(tags, labels) for tags in itertools.product(labels, repeat=length)
    )


def test_the_checker_tells_legal_from_illegal() -> None:
    assert is_legal(["B-PER", "E-PER", "O"], LABELS)
    assert not is_legal(["B-PER", "O"], LABELS)
    assert not is_legal(["I-LOC"], LABELS)
    assert not is_legal(["B-PER", "E-LOC"], LABELS)


@pytest.mark.parametrize("length", [1, 2])
def test_nbest_beyond_the_legal_sequences_returns_only_those(length: int) -> None:
    torch.manual_seed(length)
    crf = CRF(len(LABELS), allowed=bioes_transitions(LABELS))
    emissions = torch.randn(2, length, len(LABELS)) * 3  # two sentences, no padding
    mask = torch.ones(2, length, dtype=torch.bool)
    k = len(LABELS) ** length + 5  # more than all sequences, legal or not
    scores, paths = crf.nbest(emissions, mask, k=k)
    expected = legal_count(length, LABELS)
    for sentence_scores, found in zip(scores, paths, strict=True):
        assert len(found) == expected
        assert all(is_legal([LABELS[i] for i in p], LABELS) for p in found)
        assert len({tuple(p) for p in found}) == expected  # all distinct
        assert torch.isfinite(sentence_scores[:expected]).all()
        assert torch.isneginf(sentence_scores[expected:]).all()


def test_a_padded_sentence_gets_the_legal_sequences_of_its_own_length() -> None:
    torch.manual_seed(0)
    crf = CRF(len(LABELS), allowed=bioes_transitions(LABELS))
    emissions = torch.randn(2, 3, len(LABELS))
    mask = torch.tensor([[True, True, True], [True, False, False]])
    _, paths = crf.nbest(emissions, mask, k=200)
    assert len(paths[0]) == legal_count(3, LABELS)
    assert len(paths[1]) == legal_count(1, LABELS)
    assert all(len(p) == 1 and is_legal([LABELS[p[0]]], LABELS) for p in paths[1])


def test_tag_n_best_prints_only_legal_sequences(
    ner_model: Path, tmp_path: Path
) -> None:
    labels = load_checkpoint(ner_model, task="ner")["vocab"]["labels"]
    text = tmp_path / "in.txt"
    text.write_text("John\nAnn lives\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["tag", str(text), "-m", str(ner_model), "--n-best", "100000"]
        + ["--format", "json", "--scheme", "bioes", "--threads", "1"],
    )
    assert_ok(result)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    for record in records:
        found = [p["tags"] for p in record["nbest"]]
        assert all(is_legal(tags, labels) for tags in found), found
        assert len(found) == legal_count(len(record["tokens"]), labels)
        assert all(p["score"] > -1000 for p in record["nbest"])


def test_nbest_ranks_no_more_than_the_sequences_there_are() -> None:
    crf = CRF(len(LABELS), allowed=bioes_transitions(LABELS))
    emissions = torch.randn(1, 1, len(LABELS))
    scores, paths = crf.nbest(emissions, torch.ones(1, 1, dtype=torch.bool), k=10**6)
    assert scores.shape == (1, len(LABELS))  # not a million ranks
    assert len(paths[0]) == legal_count(1, LABELS)


def test_nbest_memory_grows_with_k_and_the_batch() -> None:
    one = nbest_bytes(1, 10, len(LABELS), 5)
    assert one > 0
    assert nbest_bytes(2, 10, len(LABELS), 10) >= 4 * one
    assert nbest_bytes(1, 1, len(LABELS), 10**6) == nbest_bytes(1, 1, len(LABELS), 9)


def test_an_n_best_search_too_big_for_memory_is_refused(
    ner_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = tmp_path / "in.txt"
    text.write_text("John lives in Paris .\nAnn\n", encoding="utf-8")
    labels = load_checkpoint(ner_model, task="ner")["vocab"]["labels"]
    need = nbest_bytes(2, 5, len(labels), 1000)
    monkeypatch.setattr(seqcli.memory, "available_bytes", lambda device: need - 1)
    args = ["tag", str(text), "-m", str(ner_model), "--n-best", "1000"]
    args += ["--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.stdout == ""
    assert_error(result, "--n-best 1000 x --batch-size 2", "lower --n-best")
    monkeypatch.setattr(seqcli.memory, "available_bytes", lambda device: need)
    assert_ok(CliRunner().invoke(app, args))
