"""Beam search over the step protocol (`seqcli.step_protocol.Stepper`).

Batched: every sentence of a batch keeps `beam_size` live hypotheses as rows of
one tensor, and the network's state is reordered after each pruning. Split into
small steps: expand the candidates, constrain them (min/max length, banned ids),
pick the best, finish those that end in `<eos>`, and stop once no live
hypothesis can beat a finished one. `seqcli.decoding` re-exports its public names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seqcli.step_protocol import Stepper
from seqcli.vocab import EOS_ID


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


@torch.inference_mode()
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

    Every sentence keeps `beam_size` live hypotheses; all hypotheses of all
    sentences go through the network together, one step at a time (sentences x
    beam rows). At each step a sentence's candidates are its live hypotheses
    extended by every token; an extension by `<eos>` that ranks among the
    sentence's `beam_size` best candidates is finished, and the `beam_size` best
    other extensions stay live. A sentence is done when it has `beam_size`
    finished hypotheses, when no live one can still beat its `n_best`-th finished
    one (a live log-probability only falls; see `_cannot_improve`), or at its
    `max_len`, where every live hypothesis is closed with `<eos>`. Done sentences
    leave the batch, so long inputs do not slow the rest. A sentence's result
    does not depend on the other sentences of its batch.

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
    limits = list(max_len)
    active = list(range(batch))  # sentences still searched, in batch order
    banned = torch.tensor(banned_ids, dtype=torch.long, device=device)
    # Every sentence starts with one live hypothesis (`<bos>`), so the first step
    # runs one row per sentence; its pruning widens each sentence to `beam_size`.
    cum = torch.zeros(batch, 1, device=device)  # (active, width) log P of live ones
    prev = prev_ids  # (active * width,) last token of each live hypothesis
    history = torch.zeros(batch, 0, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    for t in range(1, max(limits) + 1):
        width = cum.size(1)
        log_probs, state = model.step(prev, state)  # (active * width, vocab)
        at_limit = [limits[sentence] <= t for sentence in active]
        _constrain(log_probs, banned, t <= min_len, at_limit, width)
        top, hyp, token = _best_candidates(log_probs, cum, beam_size)
        _finish(top, hyp, token, beam_size, width, history, active, alpha, finished)
        cum, hyp, token = _live(top, hyp, token, beam_size)
        keep = _still_searching(
            cum, active, finished, beam_size, n_best, alpha, limits, t
        )
        if not any(keep):
            break
        parent = hyp + torch.arange(len(active), device=device).view(-1, 1) * width
        if not all(keep):  # drop the sentences that are done
            kept = [a for a, k in enumerate(keep) if k]
            index = torch.tensor(kept, device=device)
            parent, cum, token = parent[index], cum[index], token[index]
            active = [active[a] for a in kept]
        # Hypotheses were re-ranked: each row's state and history now come from
        # its parent hypothesis. (active, beam) rows of the state -> parent rows.
        state = model.reorder(state, parent)
        history = torch.cat(
            [history.index_select(0, parent.view(-1)), token.view(-1, 1)], dim=1
        )
        prev = token.view(-1)
    return [
        sorted(found, key=lambda h: h.score, reverse=True)[:n_best]
        for found in finished
    ]


def _constrain(
    log_probs: Tensor,
    banned: Tensor,
    too_short: bool,
    at_limit: list[bool],
    width: int,
) -> None:
    """In place: ban ids, ban `<eos>` before `min_len`, and force `<eos>` on the
    rows of sentences at their `max_len`."""
    if banned.numel():
        log_probs.index_fill_(1, banned, float("-inf"))
    if too_short:
        log_probs[:, EOS_ID] = float("-inf")
    if any(at_limit):
        forced = torch.tensor(at_limit, device=log_probs.device)
        forced = forced.repeat_interleave(width)  # (active * width,)
        eos = log_probs[forced, EOS_ID].clone()
        log_probs[forced] = float("-inf")
        log_probs[forced, EOS_ID] = eos


CHUNK = 64  # tokens per chunk of the vocabulary in `_by_chunks`


def _best_candidates(
    log_probs: Tensor, cum: Tensor, beam_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Each sentence's 2 x beam best extensions of its live hypotheses.

    An extension's score is cum[hypothesis] + log_probs[hypothesis, token]. Both
    ways below find the same best scores without adding the hypothesis score to
    every token of the vocabulary; they may break ties between equal scores
    differently, so the way is chosen by the sentence's sizes alone (never by
    the batch), and a sentence gets the same hypotheses in any batch.

    Returns:
        scores (log P of the extended hypotheses), the hypothesis each extends
        (0 .. width-1) and the token, each (active, 2 x beam), best first.
    """
    chunks = cum.size(1) * (log_probs.size(1) // CHUNK)  # per sentence
    if chunks >= 8 * beam_size:  # n x CHUNK candidates are a small share
        top, hyp, token = _by_chunks(log_probs, cum, 2 * beam_size)
    else:
        top, hyp, token = _by_rows(log_probs, cum, 2 * beam_size)
    missing = 2 * beam_size - top.size(1)
    if missing > 0:  # a tiny vocabulary at the first step: pad with dead ones
        top = F.pad(top, (0, missing), value=float("-inf"))
        hyp, token = F.pad(hyp, (0, missing)), F.pad(token, (0, missing))
    return top, hyp, token


def _by_rows(log_probs: Tensor, cum: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """A sentence's n best extensions are among the n best tokens of each of its
    hypotheses: one top-k per row, then one small top-k per sentence."""
    active, width = cum.shape
    per_row = min(n, log_probs.size(1))
    row_top, row_token = log_probs.topk(per_row, dim=1)  # (active * width, per_row)
    cand = (cum.view(-1, 1) + row_top).view(active, width * per_row)
    top, pos = cand.topk(min(n, cand.size(1)), dim=1)  # (active, n)
    token = row_token.view(active, -1).gather(1, pos)
    return top, pos // per_row, token


def _by_chunks(log_probs: Tensor, cum: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """The vocabulary of each hypothesis is cut into chunks of CHUNK tokens.

    A chunk's best score is cum[hypothesis] + its largest log-prob (adding a
    constant keeps the order of floats). A sentence's n best extensions lie in
    its n best chunks, or among the last vocab % CHUNK tokens, which are in no
    chunk: an extension anywhere else is matched by the best of each of those n
    chunks. So a max per chunk (a fast vectorised reduction), a top-k over the
    chunks and one over n x CHUNK (+ tail) candidates per sentence replace a
    top-k over every token, which is most of a step's search time otherwise.

        vocab:  [ chunk 0 | chunk 1 | ... | chunk c-1 | tail ]
    """
    active, width = cum.shape
    rows, vocab = log_probs.shape
    chunks = vocab // CHUNK
    main = chunks * CHUNK
    best = log_probs[:, :main].view(rows, chunks, CHUNK).amax(-1)  # (rows, chunks)
    chunk_scores = (cum.view(-1, 1) + best).view(active, width * chunks)
    picked = chunk_scores.topk(n, dim=1).indices  # (active, n): hyp * chunks + chunk
    first = torch.arange(active, device=cum.device).view(-1, 1) * width
    row = first + picked // chunks  # (active, n) row of log_probs
    start = row * vocab + (picked % chunks) * CHUNK  # flat position of each chunk
    offsets = torch.arange(CHUNK, device=cum.device)
    pos = (start.unsqueeze(-1) + offsets).view(active, -1)  # (active, n * CHUNK)
    values = log_probs.take(pos).view(active, n, CHUNK)
    scores = (cum.view(-1)[row].unsqueeze(-1) + values).view(active, -1)
    if main < vocab:  # the tail tokens of every hypothesis are candidates too
        tail = (cum.view(-1, 1) + log_probs[:, main:]).view(active, -1)
        rows_at = torch.arange(rows, device=cum.device).view(-1, 1) * vocab
        tail_pos = rows_at + torch.arange(main, vocab, device=cum.device)
        scores = torch.cat([scores, tail], 1)
        pos = torch.cat([pos, tail_pos.view(active, -1)], 1)
    top, index = scores.topk(n, dim=1)  # (active, n)
    flat = pos.gather(1, index)
    return top, flat // vocab - first, flat % vocab


def _finish(
    top: Tensor,
    hyp: Tensor,
    token: Tensor,
    beam_size: int,
    width: int,
    history: Tensor,
    active: list[int],
    alpha: float,
    finished: list[list[Hypothesis]],
) -> None:
    """Record the `<eos>` extensions among a sentence's `beam_size` best
    candidates as finished hypotheses."""
    best = top[:, :beam_size]
    ends = (token[:, :beam_size] == EOS_ID) & torch.isfinite(best)
    found = ends.nonzero().tolist()
    if not found:
        return
    length = history.size(1) + 1
    scores, parents = best.tolist(), hyp[:, :beam_size].tolist()
    for a, r in found:
        log_prob = scores[a][r]
        finished[active[a]].append(
            Hypothesis(
                ids=history[a * width + parents[a][r]].tolist(),
                log_prob=log_prob,
                score=normalized_score(log_prob, length, alpha),
            )
        )


def _live(
    top: Tensor, hyp: Tensor, token: Tensor, beam_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The `beam_size` best candidates that do not end with `<eos>`, each
    (active, beam), best first.

    A sentence has one `<eos>` extension per live hypothesis, at most `beam_size`,
    so its 2 x beam best candidates always hold `beam_size` others.
    """
    n = top.size(1)
    # Stable order of the non-<eos> candidates first: rank + n for <eos> ones.
    rank = torch.arange(n, device=top.device).expand_as(top)
    keep = (rank + (token == EOS_ID) * n).argsort(dim=1)[:, :beam_size]
    return top.gather(1, keep), hyp.gather(1, keep), token.gather(1, keep)


def _still_searching(
    cum: Tensor,
    active: list[int],
    finished: list[list[Hypothesis]],
    beam_size: int,
    n_best: int,
    alpha: float,
    limits: list[int],
    t: int,
) -> list[bool]:
    """Per active sentence, True when its search goes on."""
    best_live = cum.max(dim=1).values.tolist()
    keep = []
    for a, sentence in enumerate(active):
        found = finished[sentence]
        limit = limits[sentence]
        done = (
            t >= limit
            or len(found) >= beam_size
            or math.isinf(best_live[a])
            or _cannot_improve(found, best_live[a], n_best, alpha, limit)
        )
        keep.append(not done)
    return keep


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
