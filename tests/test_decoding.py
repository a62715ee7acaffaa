"""Sampling (`decoding.sample`): draws follow the model's distribution exactly, on
every path (an adaptive softmax level by level, a full softmax, any other stepper),
and rows end where they did before the sampler was made fast."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from seqcli.config import RecurrentConfig
from seqcli.decoding import _invert, greedy, sample
from seqcli.nn.lm import LanguageModel
from seqcli.vocab import BOS_ID, EOS_ID, PAD_ID

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB = 14
CUTOFFS = [6, 10]  # a head of 6 ids and 2 clusters: ids 6-9 and 10-13
ROWS = 20_000  # one draw per row, all from the same distribution


def tiny_lm(softmax: str) -> LanguageModel:
    torch.manual_seed(0)
    cfg = RecurrentConfig(emb_size=8, hidden_size=16, num_layers=2, dropout=0.0)
    lm = LanguageModel(VOCAB, cfg, softmax=softmax, cutoffs=CUTOFFS).eval()
    with torch.no_grad():  # sharpen it, so that a wrong draw shows
        for p in lm.parameters():
            p.mul_(4.0)
    return lm


def first_draws(lm: LanguageModel, seed: int = 0, **kwargs: Any) -> Tensor:
    """The first id drawn in each of ROWS rows that all start at <eos>."""
    start = torch.full((ROWS,), EOS_ID)
    gen = torch.Generator().manual_seed(seed)
    rows = sample(lm, None, start, max_len=1, generator=gen, **kwargs)
    return torch.tensor([row[0] for row in rows])


def model_probs(lm: LanguageModel, *, temperature: float = 1.0) -> Tensor:
    with torch.no_grad():
        log_probs, _ = lm.step(torch.tensor([EOS_ID]), None)  # (1, vocab)
    return (log_probs[0] / temperature).softmax(dim=-1)


def assert_follows(draws: Tensor, probs: Tensor) -> None:
    """Each id's frequency within 4.5 standard errors of its probability."""
    freq = torch.bincount(draws, minlength=VOCAB).double() / len(draws)
    probs = probs.double()
    error = (probs * (1 - probs) / len(draws)).sqrt()
    assert torch.all((freq - probs).abs() <= 4.5 * error + 1e-9), (freq, probs)


def without(probs: Tensor, banned: list[int]) -> Tensor:
    probs = probs.clone()
    probs[banned] = 0.0
    return probs / probs.sum()


@pytest.mark.parametrize("softmax", ["adaptive", "full"])
def test_draws_follow_the_distribution(softmax: str):
    lm = tiny_lm(softmax)
    assert_follows(first_draws(lm), model_probs(lm))


def test_adaptive_draws_level_by_level_without_the_full_distribution(monkeypatch):
    lm = tiny_lm("adaptive")
    probs = model_probs(lm)
    assert probs[CUTOFFS[0] :].sum() > 0.2  # the clusters are drawn from, often

    def full(*args: Any) -> None:
        raise AssertionError("the full distribution was computed")

    monkeypatch.setattr(lm.adaptive, "log_prob", full)
    banned = [PAD_ID, BOS_ID]
    draws = first_draws(lm, banned_ids=tuple(banned))
    assert_follows(draws, without(probs, banned))


def test_min_len_bans_eos_on_the_level_path(monkeypatch):
    lm = tiny_lm("adaptive")
    probs = model_probs(lm)
    monkeypatch.setattr(lm.adaptive, "log_prob", None)  # never called
    draws = first_draws(lm, banned_ids=(PAD_ID,), min_len=1)
    assert_follows(draws, without(probs, [PAD_ID, EOS_ID]))


@pytest.mark.parametrize("softmax", ["adaptive", "full"])
def test_temperature_top_k_and_top_p(softmax: str):
    lm = tiny_lm(softmax)
    hot = model_probs(lm, temperature=2.0)
    assert_follows(first_draws(lm, temperature=2.0), hot)
    probs = model_probs(lm)
    top2 = probs.topk(2).indices
    assert set(first_draws(lm, top_k=2).tolist()) == set(top2.tolist())
    kept = probs.clone()
    kept[probs < probs[top2[1]]] = 0.0
    assert_follows(first_draws(lm, top_k=2), kept / kept.sum())
    # top-p at the first id's mass keeps the first id alone.
    assert set(first_draws(lm, top_p=float(probs.max()) * 0.99).tolist()) == {
        int(probs.argmax())
    }


def test_invert_draws_each_id_with_its_probability():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.25, 0.25, 0.0]])
    grid = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000  # even quantiles
    ids = torch.cat([_invert(probs, u.view(1)) for u in grid])
    counts = torch.bincount(ids, minlength=6).tolist()
    assert counts == [0, 500, 0, 250, 250, 0]
    # A uniform just below 1 must not run past the last id that has mass.
    top = torch.tensor([1.0 - 2**-53], dtype=torch.float64)
    assert _invert(probs, top).item() == 4


def test_generic_stepper_path_and_unnormalised_rows():
    class Fixed:
        """A stepper whose next-id distribution is always the same."""

        def step(self, prev_ids: Tensor, state: Any) -> tuple[Tensor, Any]:
            logits = torch.tensor([0.0, 0.0, 0.0, -1.0, 1.0, 2.0, 0.5])
            return logits.log_softmax(-1).expand(prev_ids.size(0), -1).clone(), state

        def reorder(self, state: Any, index: Tensor) -> Any:
            return state

    start = torch.full((ROWS,), EOS_ID)
    gen = torch.Generator().manual_seed(3)
    rows = sample(Fixed(), None, start, max_len=1, generator=gen, banned_ids=(0,))
    draws = torch.tensor([r[0] for r in rows])
    probs = torch.tensor([0.0, 0.0, 0.0, -1.0, 1.0, 2.0, 0.5]).softmax(-1)
    freq = torch.bincount(draws, minlength=7).double() / ROWS
    expected = without(probs, [0]).double()
    assert torch.allclose(freq, expected, atol=0.012)


def _greedy_by_hand(lm: LanguageModel, start: Tensor, max_len: int) -> list[list[int]]:
    """Greedy decoding written plainly, row by row: argmax of `step`, each row
    ending at its first <eos> (kept)."""
    out: list[list[int]] = []
    for row in start.tolist():
        ids, state, prev = [], None, torch.tensor([row])
        for _ in range(max_len):
            with torch.no_grad():
                log_probs, state = lm.step(prev, state)
            prev = log_probs.argmax(dim=-1)
            ids.append(int(prev))
            if ids[-1] == EOS_ID:
                break
        out.append(ids)
    return out


def test_rows_end_at_their_own_eos():
    lm = tiny_lm("full")
    start = torch.arange(4, VOCAB)
    with torch.no_grad():  # <eos> first for about half the rows: they end at once
        log_probs, _ = lm.step(start, None)
        margin = (log_probs.max(dim=-1).values - log_probs[:, EOS_ID]).sort().values
        # Halfway between two rows' margins, so that no row is left on a tie that
        # a batch of rows and a single row (different kernels) break differently.
        middle = len(margin) // 2
        lm.decoder.bias[EOS_ID] += float(margin[middle - 1 : middle + 1].mean())
    expected = _greedy_by_hand(lm, start, 12)
    assert len({len(row) for row in expected}) > 1  # rows end at different steps
    assert greedy(lm, None, start, max_len=12) == expected
    streamed: list[list[int]] = []
    sample(
        lm,
        None,
        start,
        max_len=12,
        temperature=0.0,
        on_step=lambda ids: streamed.append(ids.tolist()),
    )
    for r, row in enumerate(expected):  # -1 once a row has ended
        column = [step[r] for step in streamed]
        assert column[: len(row)] == row
        assert set(column[len(row) :]) <= {-1}
    # Without stopping at <eos>, every row runs to max_len.
    rows = greedy(lm, None, start, max_len=12, stop_at_eos=False)
    assert {len(row) for row in rows} == {12}
