"""Generation from any network that implements the step protocol.

A network offers ``start(prefix) -> state``, ``step(prev_ids, state) -> (log_probs,
state)`` and ``reorder(state, index)``. Language models and (later) encoder-decoders
share these functions: sampling and greedy search for language models, and a
batched beam search (`beam_search`) for encoder-decoders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from seqcli.vocab import EOS_ID


class Stepper(Protocol):
    def step(self, prev_ids: Tensor, state: Any) -> tuple[Tensor, Any]: ...

    def reorder(self, state: Any, index: Tensor) -> Any: ...


def filter_logits(log_probs: Tensor, *, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Keep the k most likely ids and/or the smallest set of ids whose mass reaches p.

    Everything else becomes -inf. top-p is nucleus sampling (Holtzman et al., 2020);
    the most likely id always survives, so a row is never empty.
    """
    if top_k > 0 and top_k < log_probs.size(-1):
        kth = torch.topk(log_probs, top_k, dim=-1).values[..., -1:]  # (batch, 1)
        log_probs = log_probs.masked_fill(log_probs < kth, float("-inf"))
    if top_p < 1.0:
        sorted_lp, order = torch.sort(log_probs, descending=True, dim=-1)
        cumulative = sorted_lp.softmax(dim=-1).cumsum(dim=-1)
        # Drop an id when the mass before it already reaches p.
        drop_sorted = (cumulative - sorted_lp.softmax(dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        log_probs = log_probs.masked_fill(drop, float("-inf"))
    return log_probs


@torch.no_grad()
def sample(
    model: Stepper,
    state: Any,
    prev_ids: Tensor,
    *,
    max_len: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    banned_ids: tuple[int, ...] = (),
    stop_at_eos: bool = True,
    min_len: int = 0,
    generator: torch.Generator | None = None,
    on_step: Callable[[Tensor], None] | None = None,
    stop: Callable[[int, int], bool] | None = None,
) -> list[list[int]]:
    """Draw one continuation per row; temperature 0 means greedy (argmax).

    Args:
        model: a network with the step protocol.
        state: the state after the prefix (from ``model.start``).
        prev_ids: (batch,) the last prefix token of each row.
        max_len: tokens to generate at most per row.
        banned_ids: ids never emitted (for example `<unk>`, `<pad>`).
        stop_at_eos: finish a row when it emits `<eos>` (kept in the output).
        min_len: `<eos>` is never drawn among the first ``min_len`` generated
            tokens, so that a row has at least that many before it ends.
        on_step: called with the (batch,) ids chosen at each step, for streaming.
        stop: called as ``stop(row, id)`` with each id a row emits; True finishes
            the row there (the id kept), as `<eos>` does (`sample --stop-at`).

    Returns:
        The generated ids of each row, `<eos>` included when it was produced.
    """
    batch = prev_ids.size(0)
    done = torch.zeros(batch, dtype=torch.bool, device=prev_ids.device)
    out: list[list[int]] = [[] for _ in range(batch)]
    for position in range(max_len):
        log_probs, state = model.step(prev_ids, state)  # (batch, vocab)
        if banned_ids:
            log_probs[:, list(banned_ids)] = float("-inf")
        if position < min_len:
            log_probs[:, EOS_ID] = float("-inf")
        if temperature <= 0:
            next_ids = log_probs.argmax(dim=-1)
        else:
            scaled = filter_logits(log_probs / temperature, top_k=top_k, top_p=top_p)
            probs = scaled.softmax(dim=-1)
            next_ids = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        if on_step is not None:
            on_step(torch.where(done, torch.full_like(next_ids, -1), next_ids))
        for row, token in enumerate(next_ids.tolist()):
            if not done[row]:
                out[row].append(token)
                if stop is not None and stop(row, token):
                    done[row] = True
        if stop_at_eos:
            done |= next_ids == EOS_ID
        if (stop_at_eos or stop is not None) and bool(done.all()):
            break
        prev_ids = next_ids
    return out


def greedy(
    model: Stepper,
    state: Any,
    prev_ids: Tensor,
    *,
    max_len: int,
    stop_at_eos: bool = True,
) -> list[list[int]]:
    """The most likely token at every step."""
    return sample(
        model,
        state,
        prev_ids,
        max_len=max_len,
        temperature=0.0,
        stop_at_eos=stop_at_eos,
    )


# --- beam search -------------------------------------------------------------------
@dataclass(frozen=True)
class Hypothesis:
    """One finished output of beam search.

    ``ids`` excludes the closing `<eos>`; ``log_prob`` is log P(y | x) with it;
    ``score`` is the length-normalised score log P(y | x) / T^alpha, where T counts
    the output tokens and `<eos>`.
    """

    ids: list[int]
    log_prob: float
    score: float


def normalized_score(log_prob: float, length: int, alpha: float) -> float:
    """log P / T^alpha: alpha 0 is the plain log-probability, 1 the per-token mean
    (the length normalisation of Wu et al., 2016, in its simple form)."""
    return log_prob / (max(length, 1) ** alpha)


@torch.no_grad()
def beam_search(
    model: Stepper,
    state: Any,
    prev_ids: Tensor,
    *,
    beam_size: int,
    max_len: Sequence[int],
    min_len: int = 0,
    alpha: float = 0.0,
    n_best: int = 1,
    banned_ids: tuple[int, ...] = (),
) -> list[list[Hypothesis]]:
    """The `n_best` best outputs of each row of a batch, best first.

    Every row keeps `beam_size` live hypotheses; all rows of all sentences go
    through the network together, one step at a time (batch x beam rows). At each
    step a sentence's candidates are its live hypotheses extended by every token;
    an extension by `<eos>` that ranks among the sentence's `beam_size` best
    candidates is finished, and the `beam_size` best other extensions stay live.
    A sentence is done when it has `beam_size` finished hypotheses, when no live
    one can still beat its `n_best`-th finished one (a live log-probability only
    falls; see `_cannot_improve`), or at its `max_len`, where every live hypothesis
    is closed with `<eos>`. Done sentences leave the batch, so long inputs do not
    slow the rest.

    Args:
        model: a network with the step protocol (``reorder`` selects rows).
        state: the state after reading each input (one row per sentence).
        prev_ids: (batch,) the first input token of every output (`<bos>`).
        beam_size: live hypotheses per sentence; 1 is greedy search.
        max_len: per sentence, the most output tokens, `<eos>` included.
        min_len: output tokens before `<eos>` may be chosen.
        alpha: length normalisation exponent (0 = none).
        n_best: hypotheses returned per sentence (at most `beam_size`).
        banned_ids: ids never produced (`<pad>`, `<bos>`, ...).
    """
    batch = prev_ids.size(0)
    n_best = min(n_best, beam_size)
    device = prev_ids.device
    active = torch.arange(batch, device=device)  # sentences still searched
    rows = active.repeat_interleave(beam_size)  # (active * beam,)
    state = model.reorder(state, rows)
    prev = prev_ids.index_select(0, rows)
    # Only the first copy of each sentence is live at the start, else the beam
    # would hold `beam_size` copies of the same hypothesis.
    cum = torch.full((batch, beam_size), float("-inf"), device=device)
    cum[:, 0] = 0.0
    history = torch.zeros(batch * beam_size, 0, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    limits = torch.tensor(list(max_len), device=device)
    for t in range(1, int(limits.max()) + 1):
        log_probs, state = model.step(prev, state)  # (active * beam, vocab)
        log_probs = _constrain(
            log_probs,
            banned_ids,
            t <= min_len,
            limits.index_select(0, active) <= t,
            beam_size,
        )
        vocab = log_probs.size(-1)
        cand = (cum.view(-1, 1) + log_probs).view(active.numel(), -1)  # (a, beam*V)
        top, index = _prune(cand, vocab, beam_size, history, active, alpha, finished)
        parent = (
            index // vocab
            + torch.arange(active.numel(), device=device).view(-1, 1) * beam_size
        )  # row of the parent hypothesis, (active, beam)
        token = index % vocab
        history = torch.cat(
            [history.index_select(0, parent.view(-1)), token.view(-1, 1)], dim=1
        )
        state = model.reorder(state, parent.view(-1))
        cum, prev = top, token.view(-1)
        keep = _still_searching(
            cum, active, finished, beam_size, n_best, alpha, limits, t
        )
        if not bool(keep.any()):
            break
        if not bool(keep.all()):
            kept_rows = (
                keep.nonzero().view(-1, 1) * beam_size
                + torch.arange(beam_size, device=device)
            ).view(-1)
            state = model.reorder(state, kept_rows)
            history, prev = history.index_select(0, kept_rows), prev[kept_rows]
            cum, active = cum[keep], active[keep]
    return [
        sorted(found, key=lambda h: h.score, reverse=True)[:n_best]
        for found in finished
    ]


def _constrain(
    log_probs: Tensor,
    banned_ids: tuple[int, ...],
    too_short: bool,
    at_limit: Tensor,
    beam_size: int,
) -> Tensor:
    """Ban ids, ban `<eos>` before `min_len`, and force `<eos>` at `max_len`."""
    if banned_ids:
        log_probs[:, list(banned_ids)] = float("-inf")
    if too_short:
        log_probs[:, EOS_ID] = float("-inf")
    forced = at_limit.repeat_interleave(beam_size)  # (active * beam,)
    if bool(forced.any()):
        eos = log_probs[forced, EOS_ID].clone()
        log_probs[forced] = float("-inf")
        log_probs[forced, EOS_ID] = eos
    return log_probs


def _prune(
    cand: Tensor,
    vocab: int,
    beam_size: int,
    history: Tensor,
    active: Tensor,
    alpha: float,
    finished: list[list[Hypothesis]],
) -> tuple[Tensor, Tensor]:
    """Split each sentence's best candidates into finished and live hypotheses.

    One top-k of 2 x beam candidates serves both: an `<eos>` extension among the
    first `beam_size` is finished; the first `beam_size` others stay live. A
    sentence has one `<eos>` extension per live hypothesis, at most `beam_size`,
    so the 2 x beam best always hold `beam_size` others.

    Returns:
        the live scores and candidate indices (hypothesis * vocab + token), each
        (active, beam).
    """
    top, index = cand.topk(min(2 * beam_size, cand.size(1)), dim=1)  # (a, 2beam)
    is_eos = index % vocab == EOS_ID
    _finish(top, index, is_eos, vocab, beam_size, history, active, alpha, finished)
    # Stable order of the non-<eos> candidates first: rank + 2beam for <eos> ones.
    rank = torch.arange(top.size(1), device=top.device).expand_as(top)
    keep = (rank + is_eos * top.size(1)).argsort(dim=1)[:, :beam_size]
    return top.gather(1, keep), index.gather(1, keep)


def _finish(
    top: Tensor,
    index: Tensor,
    is_eos: Tensor,
    vocab: int,
    beam_size: int,
    history: Tensor,
    active: Tensor,
    alpha: float,
    finished: list[list[Hypothesis]],
) -> None:
    """Record the `<eos>` extensions among a sentence's `beam_size` best
    candidates as finished hypotheses."""
    ends = is_eos[:, :beam_size] & torch.isfinite(top[:, :beam_size])
    if not bool(ends.any()):
        return
    length = history.size(1) + 1
    for a, r in ends.nonzero().tolist():
        log_prob = float(top[a, r])
        hypothesis = int(index[a, r]) // vocab
        finished[int(active[a])].append(
            Hypothesis(
                ids=history[a * beam_size + hypothesis].tolist(),
                log_prob=log_prob,
                score=normalized_score(log_prob, length, alpha),
            )
        )


def _still_searching(
    cum: Tensor,
    active: Tensor,
    finished: list[list[Hypothesis]],
    beam_size: int,
    n_best: int,
    alpha: float,
    limits: Tensor,
    t: int,
) -> Tensor:
    """(active,) True for the sentences whose search goes on."""
    best_live = cum.max(dim=1).values.tolist()
    keep = []
    for a, sentence in enumerate(active.tolist()):
        found = finished[sentence]
        limit = int(limits[sentence])
        done = (
            t >= limit
            or len(found) >= beam_size
            or math.isinf(best_live[a])
            or _cannot_improve(found, best_live[a], n_best, alpha, limit)
        )
        keep.append(not done)
    return torch.tensor(keep, dtype=torch.bool, device=cum.device)


def _cannot_improve(
    found: list[Hypothesis], best_live: float, n_best: int, alpha: float, limit: int
) -> bool:
    """True when no live hypothesis can end above the `n_best`-th finished one.

    A live log-probability only falls as tokens are added, so its best final score
    is log P now divided by the longest allowed T^alpha (log P is negative); with
    alpha 0 it is log P now.
    """
    if len(found) < n_best:
        return False
    kth = sorted((h.score for h in found), reverse=True)[n_best - 1]
    return kth >= normalized_score(best_live, limit, alpha)
