"""Generation from any network that implements the step protocol.

A network offers ``start(prefix) -> state``, ``step(prev_ids, state) -> (log_probs,
state)`` and ``reorder(state, index)`` (`seqcli.step_protocol`). Language models and
encoder-decoders share these functions: sampling and greedy search for language
models (here), and a batched beam search for encoder-decoders (`seqcli.beam`, whose
`beam_search`, `Hypothesis` and `normalized_score` are importable from here too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from seqcli.beam import Hypothesis, beam_search, normalized_score
from seqcli.step_protocol import Stepper, TwoLevelStepper
from seqcli.vocab import EOS_ID

# Beam search lives in its own module and the protocols in theirs (imports run
# one way: step_protocol <- beam <- decoding); `seqcli.decoding` stays the one
# place to import every search from.
__all__ = [
    "Hypothesis",
    "Stepper",
    "TwoLevelStepper",
    "beam_search",
    "filter_logits",
    "greedy",
    "normalized_score",
    "sample",
]


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
