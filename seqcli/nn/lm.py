"""`LanguageModel`: the recurrent backbone plus a full or adaptive softmax.

Implements the step protocol of `seqcli.step_protocol` (`start`, `step`, `reorder`)
used by `seqcli.decoding`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqcli.batching import Batch
from seqcli.config import RecurrentConfig
from seqcli.nn.recurrent import (  # noqa: F401 - count_parameters re-exported
    RecurrentEncoder,
    State,
    count_parameters,
    detach_state,
    select_state,
)
from seqcli.nn.softmax_loss import AdaptiveSoftmax, linear_nll

FP32_HEAD = 1000  # the adaptive softmax's head in fp32 (see default_cutoffs)


def default_cutoffs(vocab_size: int, precision: str = "bf16") -> list[int]:
    """Adaptive-softmax clusters: a head of the 2,000 most frequent ids (1,000 when
    training in fp32), then 10k, 50k.

    Frequency-ordered ids (see `build_vocab`) make the head hold most running tokens,
    so most positions pay for a 2,000-way softmax instead of a full one. In fp32
    the head's matrix product is a large share of a step: half the head trains
    more tokens in a time budget, which on one thread gained more than the rarer
    half of the head's words lose through the smaller tail cluster; on two threads,
    where the step's other parts dominate, it broke even (docs/HISTORY.md,
    2026-12-07). Checkpoints store the cutoffs they trained with; an empty list
    stored by an older one means the bf16 default.
    """
    head = FP32_HEAD if precision == "fp32" else 2000
    return [c for c in (head, 10000, 50000) if c < vocab_size - 1]


class LanguageModel(nn.Module):
    """P(next token | previous tokens) with a recurrent state.

    With ``softmax="adaptive"`` the output layer is an adaptive softmax (Grave et
    al., 2017); weight tying (Press & Wolf, 2017; Inan et al., 2017) applies to the
    full softmax only.
    """

    def __init__(
        self,
        vocab_size: int,
        cfg: RecurrentConfig,
        *,
        softmax: str = "full",
        cutoffs: list[int] | None = None,
        tie_weights: bool = True,
    ):
        super().__init__()
        if cfg.bidirectional:
            raise ValueError(
                "a language model reads left to right: bidirectional is off"
            )
        self.vocab_size = vocab_size
        self.encoder = RecurrentEncoder(vocab_size, cfg)
        hidden = self.encoder.output_size
        self.adaptive: AdaptiveSoftmax | None = None
        self.project: nn.Module = nn.Identity()
        self.decoder: nn.Linear | None = None
        if softmax == "adaptive":
            cutoffs = cutoffs or default_cutoffs(vocab_size)
            self.adaptive = AdaptiveSoftmax(hidden, vocab_size, cutoffs, div_value=4.0)
        else:
            out_size = hidden
            if tie_weights and cfg.emb_size != hidden:
                # Tying needs the output layer's input to match the embedding size.
                self.project = nn.Linear(hidden, cfg.emb_size)
                out_size = cfg.emb_size
            self.decoder = nn.Linear(out_size, vocab_size)
            nn.init.zeros_(self.decoder.bias)
            if tie_weights:
                self.decoder.weight = self.encoder.embedding.weight
            else:
                nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    # --- training ---------------------------------------------------------------
    def forward(self, batch: Batch) -> tuple[Tensor, State | None]:
        """Mean negative log-likelihood of the targets (what `fit` minimises), and
        the state at the window's end, for the next window to start from.

        The window starts from ``batch.state`` (zeros when None). Nothing is kept
        on the module: as in PyTorch's word-language-model example, the caller
        passes the state in and gets the new one back, so an evaluation between
        two training windows cannot change where the next one starts. The state
        returned is cut from the graph (truncated BPTT) and fp32 (`detach_state`).
        """
        hidden, state = self.encoder(batch.ids, batch.lengths, batch.state)
        nll = -self.target_log_probs(hidden, batch.targets)  # (batch, time)
        loss = nll[batch.mask].mean() if batch.mask is not None else nll.mean()
        return loss, detach_state(state)

    loss = forward

    # --- probabilities ----------------------------------------------------------
    def target_log_probs(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """log P(target) at each position: (batch, time, hidden) -> (batch, time)."""
        b, t, h = hidden.shape
        flat = hidden.reshape(b * t, h)
        if self.adaptive is not None:
            return self.adaptive.target_log_probs(flat, targets.reshape(-1)).view(b, t)
        assert self.decoder is not None
        nll = linear_nll(
            self.project(flat),
            self.decoder.weight,
            self.decoder.bias,
            targets.reshape(-1),
        )
        return -nll.view(b, t)

    def log_probs(self, hidden: Tensor) -> Tensor:
        """Full next-token distributions: (..., hidden) -> (..., vocab) log-probs."""
        shape = hidden.shape[:-1]
        flat = hidden.reshape(-1, hidden.size(-1))
        if self.adaptive is not None:
            out = self.adaptive.log_prob(flat)
        else:
            out = F.log_softmax(self.decoder(self.project(flat)), dim=-1)
        return out.view(*shape, self.vocab_size)

    def sequence_log_probs(self, batch: Batch) -> Tensor:
        """log P of each target in a padded batch, 0 at padding: (batch, time)."""
        hidden, _ = self.encoder(batch.ids, batch.lengths)
        scores = self.target_log_probs(hidden, batch.targets)
        return (
            scores.masked_fill(~batch.mask, 0.0) if batch.mask is not None else scores
        )

    # --- decoding step protocol ---------------------------------------------------
    def start(self, prefix: Tensor) -> State | None:
        """Read a (batch, time) prefix (possibly empty); return the state after it."""
        if prefix.size(1) == 0:
            return None
        _, state = self.encoder(prefix)
        return state

    def step(self, prev_ids: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One token per row in; next-token log-probs (batch, vocab) and state out."""
        hidden, state = self.step_hidden(prev_ids, state)  # (batch, hidden)
        return self.log_probs(hidden), state

    def step_hidden(
        self, prev_ids: Tensor, state: State | None
    ) -> tuple[Tensor, State]:
        """One token per row in; the top layer's output (batch, hidden), state out."""
        return self.encoder.step(prev_ids, state)

    # --- the softmax in two levels, for sampling ---------------------------------
    # An adaptive softmax is a head over the most frequent ids plus one entry per
    # cluster of rarer ids, and a softmax per cluster (Grave et al., 2017):
    # P(id) = P_head(cluster of id) * P_cluster(id). `decoding.sample` draws from it
    # level by level, never computing the clusters a row does not land in. A full
    # softmax is the case of a head over every id and no clusters.
    @property
    def softmax_cutoffs(self) -> list[int]:
        """The ids the head covers (0 up to the first), then where each cluster ends:
        [2000, 10000, vocab] for an adaptive softmax, [vocab] for a full one."""
        if self.adaptive is not None:
            return list(self.adaptive.cutoffs)
        return [self.vocab_size]

    def head_scorer(self) -> Callable[[Tensor], Tensor]:
        """A function (batch, hidden) -> (batch, head ids + clusters) of unnormalised
        head scores, for many calls in a row with these weights (a sampling run).

        A full softmax's output weights are laid out transposed once for it (26 MB
        at WikiText-2's 33,278 ids): a one-row product reads them in order then,
        about three times as fast as with the weights as stored.
        """
        if self.adaptive is not None:
            return self.adaptive.head
        assert self.decoder is not None
        weight_t = self.decoder.weight.detach().t().contiguous()  # (in, vocab)
        bias = self.decoder.bias.detach()
        project = self.project
        return lambda hidden: torch.addmm(bias, project(hidden), weight_t)

    def cluster_logits(self, hidden: Tensor, cluster: int) -> Tensor:
        """(rows, hidden) -> (rows, ids of `cluster`) unnormalised scores within it."""
        assert self.adaptive is not None, "a full softmax has no clusters"
        return self.adaptive.tail[cluster](hidden)

    def reorder(self, state: State, index: Tensor) -> State:
        return select_state(state, index.reshape(-1))  # rows, sentence by sentence
