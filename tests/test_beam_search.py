"""Batched beam search on a toy network whose every probability is known."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor

from seqcli import beam
from seqcli.decoding import beam_search, greedy, normalized_score
from seqcli.vocab import BOS_ID, EOS_ID, PAD_ID

VOCAB = 6  # ids 0-3 are the specials; 1 (<unk>), 4 and 5 are the outputs here
BANNED = (PAD_ID, BOS_ID)


class TableModel:
    """P(next | source, previous) from a fixed random table: a conditional bigram
    model, so the probability of any output is a product the test can compute."""

    def __init__(self, sources: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(sources, VOCAB, VOCAB, generator=g) * 2
        logits[:, :, list(BANNED)] = float("-inf")
        self.table = logits.log_softmax(-1)  # (source, previous, next)

    def start(self, sources: Tensor) -> Tensor:
        return sources.clone()  # the state is the row's source id

    def step(self, prev_ids: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.table[state, prev_ids].clone(), state

    def reorder(self, state: Tensor, index: Tensor) -> Tensor:
        return state.index_select(0, index.reshape(-1))

    def log_prob(self, source: int, ids: list[int]) -> float:
        seq = [BOS_ID, *ids, EOS_ID]
        return sum(float(self.table[source, a, b]) for a, b in itertools.pairwise(seq))


def _search(model: TableModel, sources: list[int], **kw) -> list:
    src = torch.tensor(sources)
    bos = torch.full((len(sources),), BOS_ID)
    max_len = kw.pop("max_len", 4)
    return beam_search(
        model,
        model.start(src),
        bos,
        max_len=[max_len] * len(sources),
        banned_ids=BANNED,
        **kw,
    )


def _exhaustive(model: TableModel, source: int, max_len: int, alpha: float) -> list:
    """Every output of at most max_len tokens (<eos> included), best first."""
    outputs = []
    for n in range(max_len):
        for ids in itertools.product((1, 4, 5), repeat=n):
            lp = model.log_prob(source, list(ids))
            outputs.append((normalized_score(lp, n + 1, alpha), list(ids)))
    return sorted(outputs, key=lambda x: -x[0])


def test_beam_one_equals_greedy() -> None:
    model = TableModel(sources=8)
    sources = list(range(8))
    beams = _search(model, sources, beam_size=1, max_len=6)
    src = torch.tensor(sources)
    greedy_ids = greedy(model, model.start(src), torch.full((8,), BOS_ID), max_len=6)
    for hyps, ids in zip(beams, greedy_ids, strict=True):
        if EOS_ID in ids:
            assert hyps[0].ids + [EOS_ID] == ids
        else:  # greedy ran out of length; beam search closes with <eos> at max_len
            assert hyps[0].ids == ids[:5]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_a_wide_beam_finds_the_exhaustive_optimum(alpha: float) -> None:
    model = TableModel(sources=5, seed=3)
    results = _search(model, list(range(5)), beam_size=40, alpha=alpha, n_best=5)
    for source, hyps in enumerate(results):
        best = _exhaustive(model, source, 4, alpha)[:5]
        assert [h.ids for h in hyps] == [ids for _, ids in best]
        assert [h.score for h in hyps] == pytest.approx([s for s, _ in best])


def test_hypotheses_come_in_score_order_and_are_distinct() -> None:
    model = TableModel(sources=6, seed=1)
    for hyps in _search(model, list(range(6)), beam_size=5, n_best=5, alpha=0.6):
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.ids) for h in hyps}) == len(hyps) == 5
        for h in hyps:
            assert h.score == pytest.approx(
                normalized_score(h.log_prob, len(h.ids) + 1, 0.6)
            )


def test_batched_search_equals_one_sentence_at_a_time() -> None:
    model = TableModel(sources=10, seed=2)
    sources = [3, 1, 4, 1, 5, 9, 2, 6]
    together = _search(model, sources, beam_size=3, n_best=3, max_len=7, alpha=1.0)
    for source, hyps in zip(sources, together, strict=True):
        alone = _search(model, [source], beam_size=3, n_best=3, max_len=7, alpha=1.0)
        assert hyps == alone[0]


def test_min_len_and_max_len_hold() -> None:
    model = TableModel(sources=4, seed=4)
    for hyps in _search(model, [0, 1, 2, 3], beam_size=4, n_best=4, min_len=2):
        assert all(2 <= len(h.ids) <= 3 for h in hyps)


# --- the chunked candidate search of large vocabularies ---------------------------
@pytest.mark.parametrize("tail", [0, 37])  # tokens after the last whole chunk
def test_chunked_and_per_row_searches_find_the_same_best_candidates(tail: int) -> None:
    g = torch.Generator().manual_seed(5)
    vocab = 30 * beam.CHUNK + tail
    for width in (1, 5):
        log_probs = torch.randn(4 * width, vocab, generator=g).log_softmax(-1)
        log_probs[:, list(BANNED)] = float("-inf")
        log_probs[1, 7 * beam.CHUNK + 3] = 5.0  # a winner inside a chunk
        log_probs[2, vocab - 1] = 5.0  # and one at the end (the tail if any)
        cum = torch.randn(4, width, generator=g)
        cum[3, -1] = float("-inf")  # a dead hypothesis
        by_chunks = beam._by_chunks(log_probs, cum, 10)
        by_rows = beam._by_rows(log_probs, cum, 10)
        everything = (cum.view(-1, 1) + log_probs).view(4, -1).topk(10, dim=1).values
        for top, hyp, token in (by_chunks, by_rows):
            assert torch.equal(top, everything)
            rows = torch.arange(4).view(-1, 1) * width + hyp
            assert torch.equal(cum.view(-1)[rows] + log_probs[rows, token], top)


class AdditiveModel(TableModel):
    """A larger vocabulary: log P(next | source, previous) is a softmax of a score
    per (source, next) plus one per (previous, next), looked up, so that every row
    is computed alike whatever the batch."""

    def __init__(self, sources: int, vocab: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.by_source = torch.randn(sources, vocab, generator=g) * 3
        self.by_prev = torch.randn(vocab, vocab, generator=g)
        self.by_source[:, list(BANNED)] = float("-inf")

    def step(self, prev_ids: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.by_source[state] + self.by_prev[prev_ids]
        return logits.log_softmax(-1), state


def test_batched_search_equals_one_at_a_time_with_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = AdditiveModel(sources=10, vocab=1000, seed=6)
    sources = [3, 1, 4, 1, 5, 9, 2, 6]
    kw = {"beam_size": 3, "n_best": 3, "max_len": 7, "alpha": 0.6}
    calls = []
    by_chunks = beam._by_chunks
    monkeypatch.setattr(beam, "_by_chunks", lambda *a: calls.append(1) or by_chunks(*a))
    together = _search(model, sources, **kw)
    assert calls  # the vocabulary is large enough for chunks
    for source, hyps in zip(sources, together, strict=True):
        # Exact equality: this model has equal scores (the same transitions in
        # another order), which must be ranked alike in and out of a batch.
        assert hyps == _search(model, [source], **kw)[0]
