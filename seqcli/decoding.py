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
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from seqcli.vocab import EOS_ID


class Stepper(Protocol):
    """What generation needs from a network.

    ``step`` reads one token per row and returns the next token's log-probs,
    (rows, vocab). ``reorder`` picks rows of a state for beam search: ``index`` is
    (sentences, k), new row j of sentence s being old row ``index[s, j]``. The
    rows of a sentence always come from the rows of one earlier sentence, and
    sentences keep their order (some may be dropped), so a network can keep what
    belongs to a sentence (an encoder's memory) once per sentence.
    """

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


@runtime_checkable
class TwoLevelStepper(Stepper, Protocol):
    """A stepper whose softmax has two levels, as an adaptive softmax (Grave et al.,
    2017) has: a head over the ids below ``softmax_cutoffs[0]`` plus one entry per
    cluster of rarer ids, and a softmax within each cluster, so that
    P(id) = P_head(its cluster) * P_cluster(id). A full softmax is the case of one
    level, ``softmax_cutoffs == [vocab]``. `sample` draws from it level by level.
    """

    @property
    def softmax_cutoffs(self) -> list[int]: ...

    def step_hidden(self, prev_ids: Tensor, state: Any) -> tuple[Tensor, Any]: ...

    def head_scorer(self) -> Callable[[Tensor], Tensor]: ...

    def cluster_logits(self, hidden: Tensor, cluster: int) -> Tensor: ...


@torch.inference_mode()
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

    The ids stay in a tensor until the end: a step reads no value back to Python
    but whether every row is done (when rows can finish), what `on_step` and
    `stop` are given, and, for an adaptive softmax, whether a row landed in a
    cluster.

    Args:
        model: a network with the step protocol.
        state: the state after the prefix (from ``model.start``).
        prev_ids: (batch,) the last prefix token of each row.
        max_len: tokens to generate at most per row.
        banned_ids: ids never emitted (for example `<unk>`, `<pad>`).
        stop_at_eos: finish a row when it emits `<eos>` (kept in the output).
        min_len: `<eos>` is never drawn among the first ``min_len`` generated
            tokens, so that a row has at least that many before it ends.
        generator: the random source (the global one when None).
        on_step: called with the (batch,) ids chosen at each step, for streaming;
            -1 in the rows already finished.
        stop: called as ``stop(row, id)`` with each id a row emits; True finishes
            the row there (the id kept), as `<eos>` does (`sample --stop-at`).

    Returns:
        The generated ids of each row, `<eos>` included when it was produced.
    """
    draw = _Drawer(
        model,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        banned_ids=banned_ids,
        generator=generator,
        like=prev_ids,
        steps=max_len,
    )
    batch = prev_ids.size(0)
    tokens = prev_ids.new_empty(batch, max_len)  # (batch, max_len)
    lengths = prev_ids.new_full((batch,), max_len)  # of each row's output
    done = torch.zeros(batch, dtype=torch.bool, device=prev_ids.device)
    can_end = stop_at_eos or stop is not None
    steps = 0
    for position in range(max_len):
        next_ids, state = draw(prev_ids, state, eos_allowed=position >= min_len)
        tokens[:, position] = next_ids
        steps = position + 1
        if on_step is not None:
            on_step(next_ids.masked_fill(done, -1))
        if can_end:
            ended = _ended(next_ids, done, stop_at_eos, stop) & ~done
            lengths.masked_fill_(ended, steps)
            done |= ended
            if bool(done.all()):
                break
        prev_ids = next_ids
    lengths.clamp_(max=steps)
    rows = tokens[:, :steps].tolist()
    return [row[:n] for row, n in zip(rows, lengths.tolist(), strict=True)]


def _ended(
    next_ids: Tensor,
    done: Tensor,
    stop_at_eos: bool,
    stop: Callable[[int, int], bool] | None,
) -> Tensor:
    """(batch,) True where the id just drawn ends its row: `<eos>`, or an id that
    `stop` (asked about the rows not yet done) says ends it."""
    ended = next_ids == EOS_ID if stop_at_eos else torch.zeros_like(done)
    if stop is not None:
        live = (~done).tolist()
        for row, token in enumerate(next_ids.tolist()):
            if live[row] and stop(row, token):
                ended[row] = True
    return ended


class _Drawer:
    """Draws every row's next id, under the rules of `sample`, one step at a time.

    A `TwoLevelStepper` is sampled level by level: a head id or cluster from the
    head, then, only for the rows that drew a cluster, an id within it. That is
    the distribution of the full softmax exactly (P_head(cluster) * P_cluster(id))
    at the cost of the head alone for most tokens (a WikiText-2 LM's head holds the
    2,000 most frequent of 33,278 ids). It holds for temperature 1 without top-k or
    top-p, and bans of head ids only; otherwise the full distribution (`step`) is
    drawn from, as for any other stepper. A one-level (full) softmax always takes
    the head path: it is the whole distribution.

    An id is drawn by inverting the cumulative distribution at a uniform draw
    (`_invert`), with the uniforms drawn in blocks ahead: the distribution of
    torch.multinomial, but a draw among 33,278 ids costs it ~1 ms on a CPU
    (16 rows: ~12 ms) and the inversion ~40 us.
    """

    def __init__(
        self,
        model: Stepper,
        *,
        temperature: float,
        top_k: int,
        top_p: float,
        banned_ids: tuple[int, ...],
        generator: torch.Generator | None,
        like: Tensor,
        steps: int,
    ):
        self.model, self.temperature = model, temperature
        self.top_k, self.top_p = top_k, top_p
        device = like.device
        self.bans = {  # ids masked out, by whether <eos> may be drawn yet
            True: torch.tensor(banned_ids, dtype=torch.long, device=device),
            False: torch.tensor((*banned_ids, EOS_ID), dtype=torch.long, device=device),
        }
        # The model sampled level by level, or None: from `step`'s distribution.
        self.levels: TwoLevelStepper | None = None
        self.cutoffs: list[int] = []
        if isinstance(model, TwoLevelStepper):
            cutoffs = list(model.softmax_cutoffs)
            plain = temperature == 1.0 and top_k == 0 and top_p >= 1.0
            in_head = max((*banned_ids, EOS_ID)) < cutoffs[0]
            if len(cutoffs) == 1 or (plain and in_head):
                self.levels, self.cutoffs = model, cutoffs
                self.head = model.head_scorer()
        self.uniforms = _Uniforms(generator, like.size(0), steps, device)

    def __call__(
        self, prev_ids: Tensor, state: Any, *, eos_allowed: bool
    ) -> tuple[Tensor, Any]:
        """(batch,) previous ids -> (batch,) next ids, and the new state."""
        if self.levels is not None:
            hidden, state = self.levels.step_hidden(prev_ids, state)
            scores = self.head(hidden)  # (batch, head ids + clusters)
        else:
            scores, state = self.model.step(prev_ids, state)  # (batch, vocab)
        banned = self.bans[eos_allowed]
        if banned.numel():
            scores = scores.index_fill(1, banned, float("-inf"))
        if self.temperature <= 0:
            return scores.argmax(dim=-1), state
        if self.temperature != 1.0:
            scores = scores / self.temperature
        scores = filter_logits(scores, top_k=self.top_k, top_p=self.top_p)
        uniforms = self.uniforms.next()  # (2, batch)
        ids = _invert(scores.softmax(dim=-1), uniforms[0])
        if len(self.cutoffs) > 1:
            ids = self._within_clusters(hidden, ids, uniforms[1])
        return ids, state

    def _within_clusters(
        self, hidden: Tensor, head_ids: Tensor, uniforms: Tensor
    ) -> Tensor:
        """Head draws -> ids: a row that drew a cluster draws an id within it."""
        assert self.levels is not None
        shortlist = self.cutoffs[0]
        if not bool((head_ids >= shortlist).any()):
            return head_ids  # the usual case: every row drew a frequent id
        ids = head_ids.clone()
        for cluster, first in enumerate(self.cutoffs[:-1]):
            rows = (head_ids == shortlist + cluster).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            logits = self.levels.cluster_logits(hidden.index_select(0, rows), cluster)
            within = _invert(logits.softmax(dim=-1), uniforms.index_select(0, rows))
            ids.index_copy_(0, rows, within + first)
        return ids


class _Uniforms:
    """Uniform draws in [0, 1) for `_Drawer`, two per row and step (one per
    softmax level), drawn a block of steps at a time: one call of the generator
    instead of one per step, the block no larger than `BLOCK_VALUES` values nor
    the steps left."""

    BLOCK_VALUES = 1 << 16

    def __init__(
        self, generator: torch.Generator | None, rows: int, steps: int, device: Any
    ):
        self.generator, self.rows, self.device = generator, rows, device
        self.left = steps  # steps not yet drawn for
        self.block = torch.empty(0, 2, rows, dtype=torch.float64, device=device)
        self.used = 0

    def next(self) -> Tensor:
        """(2, rows) uniforms not given before."""
        if self.used == self.block.size(0):
            steps = max(1, min(self.left, self.BLOCK_VALUES // (2 * self.rows)))
            self.left -= steps
            self.block = torch.rand(
                (steps, 2, self.rows),
                generator=self.generator,
                dtype=torch.float64,
                device=self.device,
            )
            self.used = 0
        self.used += 1
        return self.block[self.used - 1]


def _invert(probs: Tensor, uniforms: Tensor) -> Tensor:
    """One id per row of (rows, n) probabilities: the first whose cumulative
    probability exceeds the row's uniform times its total, so each id is drawn
    with its probability (an id of probability 0 never: its cumulative value is
    its predecessor's). Sums are float64, so that rare ids keep their share."""
    cdf = probs.cumsum(dim=-1, dtype=torch.float64)  # (rows, n)
    total = cdf[:, -1:]  # (rows, 1)
    # Below the total, which a uniform just below 1 may round up to (past the end).
    at = torch.minimum(
        uniforms.unsqueeze(1) * total, total.nextafter(total.new_zeros(()))
    )
    return torch.searchsorted(cdf, at, right=True).squeeze(1)


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
