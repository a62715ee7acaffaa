"""Softmax losses over a large vocabulary: a full softmax's in one pass over its
logits (`linear_nll`), and an adaptive softmax whose kernels see few shapes
(`AdaptiveSoftmax`).

``F.cross_entropy(F.linear(h, W, b), t)`` over a large vocabulary spends much of a
training step moving the (rows, vocab) logits through memory: written by the
matrix product, read and written by log-softmax, again by its backward, and once
more per gradient product (and, under bf16 autocast, copied to fp32 first).
`linear_nll` computes the logits a block of rows at a time, turns each block into
its loss and its gradient (softmax minus one-hot) while the block is in cache, and
keeps only the gradient, in the compute dtype, for backward's two products. Under
autocast the products run in its dtype (bfloat16) and the softmax in fp32.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

ROWS_PER_BLOCK = 128  # 128 x 33k fp32 logits: 17 MB, within this CPU's L3


def linear_nll(
    hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor
) -> Tensor:
    """-log softmax(hidden @ weight.T + bias)[target] per row: (rows,) in fp32.

    The same values and gradients as ``F.cross_entropy(..., reduction="none")``
    over ``F.linear``; every target must be a valid index (no ignore_index).
    """
    if bias is None:
        bias = hidden.new_zeros(weight.size(0), dtype=weight.dtype)
    needs_grad = torch.is_grad_enabled() and any(
        x.requires_grad for x in (hidden, weight, bias)
    )
    if not needs_grad:  # evaluation: no gradient to keep
        return _blocks(hidden, weight, bias, targets, keep=False)[0]
    return _LinearNLL.apply(hidden, weight, bias, targets)


def _dtype(hidden: Tensor) -> torch.dtype:
    """The products' dtype: autocast's when it is on, else the input's."""
    kind = hidden.device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return hidden.dtype


def _blocks(
    hidden: Tensor, weight: Tensor, bias: Tensor, targets: Tensor, *, keep: bool
) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
    """Loss per row and (with `keep`) d loss / d logits, block by block."""
    dtype = _dtype(hidden)
    h, w, b = hidden.to(dtype), weight.to(dtype), bias.to(dtype)
    rows = h.size(0)
    nll = torch.empty(rows, dtype=torch.float32, device=h.device)
    grad = torch.empty(rows, w.size(0), dtype=dtype, device=h.device) if keep else None
    with torch.autocast(h.device.type, enabled=False):
        for start in range(0, rows, ROWS_PER_BLOCK):
            end = min(start + ROWS_PER_BLOCK, rows)
            target = targets[start:end, None]
            logits = torch.addmm(b[None], h[start:end], w.t())  # compute dtype
            picked = logits.gather(1, target).float()  # before logits change
            top = logits.amax(dim=1, keepdim=True).float()
            # One exp per logit: probs = exp(logits - top) / total, in fp32
            # (converted first, then in place: faster than mixed-dtype ops;
            # in fp32, `float()` is the block itself).
            probs = logits.float().sub_(top).exp_()
            total = probs.sum(dim=1, keepdim=True)
            nll[start:end] = (top + total.log() - picked).squeeze(1)
            if grad is not None:
                block = grad[start:end]
                block.copy_(probs.mul_(total.reciprocal_()))
                block.scatter_add_(1, target, block.new_full(target.shape, -1.0))
    return nll, grad, h, w


class _LinearNLL(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, hidden: Tensor, weight: Tensor, bias: Tensor, targets: Tensor
    ) -> Tensor:
        nll, grad, h, w = _blocks(hidden, weight, bias, targets, keep=True)
        ctx.save_for_backward(grad, h, w)
        ctx.dtypes = (hidden.dtype, weight.dtype, bias.dtype)
        return nll

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_nll: Tensor) -> tuple[Tensor | None, ...]:
        grad, h, w = ctx.saved_tensors
        # Row weights commute with the products: scale the small operands, not
        # the (rows, vocab) gradient.
        scale = grad_nll.to(grad.dtype)
        d_hidden, d_weight, d_bias = ctx.dtypes
        return (
            ((grad @ w) * scale[:, None]).to(d_hidden),
            (grad.t() @ (h * scale[:, None])).to(d_weight),
            (scale[None] @ grad).squeeze(0).to(d_bias),
            None,
        )


class AdaptiveSoftmax(nn.AdaptiveLogSoftmaxWithLoss):
    """An adaptive softmax (Grave et al., 2017) whose tail clusters compute on row
    counts rounded up to a few sizes (`padded_rows`).

    Each step sends a different number of rows to each tail cluster. Under bf16 the
    CPU's matrix products go through oneDNN, which builds and caches a kernel (its
    code and buffers) per shape, and a new row count came at nearly every step, so
    memory grew with the run (docs/HISTORY.md has the runs). Padded to at most 25%
    more rows, the shapes are few and memory stays flat. The layers and their
    names are PyTorch's: checkpoints are the same.

    The log-softmax runs in the products' dtype, as PyTorch's does (bf16 under CPU
    autocast: an fp32 copy of the scores made the step slower); the picked
    log-probabilities are returned in fp32.
    """

    def target_log_probs(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """log P(target) per row: (rows, hidden), (rows,) -> (rows,) in fp32."""
        edges = torch.tensor(self.cutoffs[:-1], device=targets.device)
        cluster = torch.bucketize(targets, edges, right=True)  # 0 = the head
        # The head scores its own ids and one entry per cluster of rarer ones.
        in_head = torch.where(cluster == 0, targets, self.shortlist_size + cluster - 1)
        head = F.log_softmax(self.head(hidden), dim=1)
        out = head.gather(1, in_head[:, None]).squeeze(1).float()
        for i, tail in enumerate(self.tail):
            rows = (cluster == i + 1).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            # Padding repeats the first row; its results are dropped below.
            extra = padded_rows(len(rows)) - len(rows)
            padded = F.pad(rows, (0, extra), value=int(rows[0]))
            scores = F.log_softmax(tail(hidden.index_select(0, padded)), dim=1)
            local = targets.index_select(0, padded) - self.cutoffs[i]
            picked = scores.gather(1, local[:, None]).squeeze(1)[: len(rows)].float()
            out = out.index_add(0, rows, picked)
        return out


def padded_rows(rows: int) -> int:
    """`rows` rounded up to a multiple of a quarter of its power of two (at least
    of 8): four sizes per doubling, from 32 rows on at most 25% above `rows`."""
    step = max(8, 1 << max(rows.bit_length() - 3, 0))
    return -(-rows // step) * step
