"""Generation from any network that implements the step protocol.

A network offers ``start(prefix) -> state``, ``step(prev_ids, state) -> (log_probs,
state)`` and ``reorder(state, index)``. Language models and (later) encoder-decoders
share these functions. Beam search arrives with translation (encoder-decoder issue).
"""

from __future__ import annotations

from collections.abc import Callable
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
        if stop_at_eos:
            done |= next_ids == EOS_ID
            if bool(done.all()):
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
