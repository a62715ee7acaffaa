"""The CRF against brute-force enumeration of every tag sequence on tiny cases."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqcli.metrics.ner import scheme_errors
from seqcli.nn.crf import CRF, bioes_transitions

TAGS = 3
LENGTHS = (4, 2, 1)  # a batch of three right-padded sentences


def _crf(allowed: torch.Tensor | None = None, tags: int = TAGS) -> CRF:
    torch.manual_seed(0)
    crf = CRF(tags, allowed)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def _batch(tags: int = TAGS) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    emissions = torch.randn(len(LENGTHS), max(LENGTHS), tags)
    mask = torch.arange(max(LENGTHS)) < torch.tensor(LENGTHS).unsqueeze(1)
    return emissions, mask


def _brute_force(crf: CRF, emissions: torch.Tensor, length: int) -> dict:
    """Score of every sequence of `length` tags, by the definition."""
    trans, start, end = crf._trans(), crf._start(), crf._end()
    scores = {}
    for seq in itertools.product(range(crf.num_tags), repeat=length):
        s = start[seq[0]] + end[seq[-1]]
        s = s + sum(emissions[i, t] for i, t in enumerate(seq))
        s = s + sum(trans[a, b] for a, b in itertools.pairwise(seq))
        scores[seq] = float(s.detach())
    return scores


def test_log_partition_and_score_equal_enumeration() -> None:
    crf, (emissions, mask) = _crf(), _batch()
    log_z = crf.log_partition(emissions, mask)
    for b, n in enumerate(LENGTHS):
        scores = _brute_force(crf, emissions[b], n)
        expected = torch.logsumexp(torch.tensor(list(scores.values())), 0)
        assert float(log_z[b]) == pytest.approx(float(expected), abs=1e-4)
        seq = next(iter(scores))
        tags = torch.zeros(len(LENGTHS), max(LENGTHS), dtype=torch.long)
        tags[b, :n] = torch.tensor(seq)
        got = crf.score(emissions, tags, mask)[b]
        assert float(got) == pytest.approx(scores[seq], abs=1e-4)


def test_viterbi_and_nbest_equal_enumeration() -> None:
    crf, (emissions, mask) = _crf(), _batch()
    best_scores, best_paths = crf.viterbi(emissions, mask)
    nbest_scores, nbest_paths = crf.nbest(emissions, mask, k=5)
    for b, n in enumerate(LENGTHS):
        ranked = sorted(_brute_force(crf, emissions[b], n).items(), key=lambda x: -x[1])
        assert tuple(best_paths[b]) == ranked[0][0]
        assert float(best_scores[b]) == pytest.approx(ranked[0][1], abs=1e-4)
        top = ranked[:5]
        assert [tuple(p) for p in nbest_paths[b]] == [seq for seq, _ in top]
        got = nbest_scores[b, : len(top)].tolist()
        assert got == pytest.approx([s for _, s in top], abs=1e-4)
    # A sentence of one token has only 3 sequences: the rest are -inf.
    assert len(nbest_paths[2]) == TAGS
    assert torch.isinf(nbest_scores[2, TAGS:]).all()


def test_marginals_equal_enumeration() -> None:
    crf, (emissions, mask) = _crf(), _batch()
    marg = crf.marginals(emissions, mask)
    for b, n in enumerate(LENGTHS):
        scores = _brute_force(crf, emissions[b], n)
        z = torch.logsumexp(torch.tensor(list(scores.values())), 0)
        expected = torch.zeros(n, TAGS)
        for seq, s in scores.items():
            for i, t in enumerate(seq):
                expected[i, t] += torch.exp(torch.tensor(s) - z)
        assert torch.allclose(marg[b, :n], expected, atol=1e-5)
        assert torch.all(marg[b, n:] == 0)


@pytest.mark.parametrize("temperature", [0.5, 3.0])
def test_softened_marginals_equal_enumeration_and_sum_to_one(
    temperature: float,
) -> None:
    """At temperature T the marginals are those of P(y | x)^(1/T) / Z_T: each
    sequence's score divided by T, then normalised (what distillation matches)."""
    crf, (emissions, mask) = _crf(bioes_transitions(["O", "B-X", "E-X"])), _batch()
    marg = crf.marginals(emissions, mask, temperature=temperature)
    for b, n in enumerate(LENGTHS):
        scores = _brute_force(crf, emissions[b], n)
        soft = torch.tensor(list(scores.values())) / temperature
        probs = (soft - torch.logsumexp(soft, 0)).exp()
        expected = torch.zeros(n, TAGS)
        for p, seq in zip(probs, scores, strict=True):
            for i, t in enumerate(seq):
                expected[i, t] += p
        assert torch.allclose(marg[b, :n], expected, atol=1e-5)
        assert torch.allclose(marg[b, :n].sum(-1), torch.ones(n), atol=1e-5)
        assert torch.all(marg[b, n:] == 0)
    flatter = crf.marginals(emissions, mask, temperature=temperature * 4)

    # A higher temperature spreads the probability: the entropy of each token's
    # marginals grows.
    def entropy(m: torch.Tensor) -> torch.Tensor:
        return -(torch.xlogy(m, m)).sum(-1)[mask]

    assert torch.all(entropy(flatter) >= entropy(marg) - 1e-6)


def test_log_marginals_have_gradients() -> None:
    crf, (emissions, mask) = _crf(), _batch()
    emissions.requires_grad_(True)
    crf.log_marginals(emissions, mask, temperature=2.0)[mask][:, 0].sum().backward()
    assert emissions.grad is not None and crf.transitions.grad is not None


def test_nll_is_positive_and_trains() -> None:
    crf, (emissions, mask) = _crf(), _batch()
    emissions.requires_grad_(True)
    gold = torch.randint(0, TAGS, mask.shape)
    nll = crf.nll(emissions, gold, mask)
    assert torch.all(nll > 0)
    nll.sum().backward()
    assert emissions.grad is not None and crf.transitions.grad is not None


def test_bioes_constraints_give_well_formed_paths() -> None:
    labels = [
        "O",
        "B-PER",
        "I-PER",
        "E-PER",
        "S-PER",
        "B-LOC",
        "I-LOC",
        "E-LOC",
        "S-LOC",
    ]
    crf = _crf(bioes_transitions(labels), tags=len(labels))
    torch.manual_seed(2)
    emissions = torch.randn(20, 6, len(labels)) * 3
    mask = torch.ones(20, 6, dtype=torch.bool)
    mask[::2, 3:] = False
    _, paths = crf.viterbi(emissions, mask)
    _, nbest = crf.nbest(emissions, mask, k=3)
    for path in paths + [p for ps in nbest for p in ps]:
        assert scheme_errors([labels[i] for i in path], "bioes") is None


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_tempered_marginals_and_nll_equal_enumeration(temperature: float) -> None:
    """Temperature scaling divides the whole score s(y): P_T(y) ∝ exp(s(y) / T)."""
    crf, (emissions, mask) = _crf(), _batch()
    marg = crf.marginals(emissions, mask, temperature=temperature)
    gold = torch.zeros(len(LENGTHS), max(LENGTHS), dtype=torch.long)
    nll = crf.nll(emissions, gold, mask, temperature=temperature)
    for b, n in enumerate(LENGTHS):
        scores = {
            seq: s / temperature
            for seq, s in _brute_force(crf, emissions[b], n).items()
        }
        z = torch.logsumexp(torch.tensor(list(scores.values())), 0)
        expected = torch.zeros(n, TAGS)
        for seq, s in scores.items():
            for i, t in enumerate(seq):
                expected[i, t] += torch.exp(torch.tensor(s) - z)
        assert torch.allclose(marg[b, :n], expected, atol=1e-5)
        assert torch.allclose(marg[b, :n].sum(-1), torch.ones(n), atol=1e-5)
        expected_nll = float(z) - scores[(0,) * n]
        assert float(nll[b]) == pytest.approx(expected_nll, abs=1e-4)
    untempered = crf.marginals(emissions, mask)
    assert not torch.allclose(marg, untempered, atol=1e-3)
