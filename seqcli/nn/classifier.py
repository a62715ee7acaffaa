"""`Classifier`: the recurrent backbone, pooling over time and a linear layer.

Many-to-one: a whole sentence or document gets one label. Pooling turns the
(batch, time, hidden) outputs into one vector per row, ignoring padding:

    last       forward state at the last real token (+ backward state at token 0)
    max        element-wise maximum over real positions (Collobert et al., 2011)
    mean       average over real positions
    attention  a learnt weighted average (Yang et al., 2016)
    concat     last, max and mean side by side (ULMFiT's "concat pooling",
               Howard and Ruder, 2018): three views of the text for the cost of one

With ``position_size`` > 0, each token's position (from the text's start) has a
learnt embedding, read beside the token's: for fixed-length windows such as DNA
splice sites, where what a base means depends on where it is (a GT is a donor
site at the window's centre, nothing elsewhere), which max pooling alone loses.

With ``encoder="average"`` there is no recurrent layer: the text is the mean of
its word embeddings, then the linear layer (the bag-of-embeddings baseline the
course contrasts with an RNN: it cannot tell "good" from "not good").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqcli.batching import Batch
from seqcli.config import RecurrentConfig
from seqcli.nn.distill import mix, softened_kl
from seqcli.nn.recurrent import RecurrentEncoder
from seqcli.vocab import PAD_ID

POOLINGS = ("last", "max", "mean", "attention", "concat")
ENCODERS = ("rnn", "average")
MAX_POSITIONS = 512  # positions beyond share the last position's embedding


class AverageEncoder(nn.Module):
    """ids -> their word embeddings (with dropout), unchanged by their neighbours:
    the `RecurrentEncoder` interface, read by mean pooling."""

    def __init__(self, vocab_size: int, cfg: RecurrentConfig):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, cfg.emb_size, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_size = cfg.emb_size
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()

    def forward(
        self, ids: Tensor, lengths: Tensor | None = None, *, final_state: bool = False
    ) -> tuple[Tensor, None]:
        return self.dropout(self.embedding(ids)), None  # (batch, time, emb)


class Classifier(nn.Module):
    """P(label | text): embedding -> (bi)RNN -> pooling -> dropout -> linear."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cfg: RecurrentConfig,
        *,
        pooling: str = "max",
        class_weights: Sequence[float] | None = None,
        encoder: str = "rnn",
        position_size: int = 0,
    ):
        """`encoder`: ``rnn``, or ``average`` (mean of the embeddings; `pooling`
        is then mean). `position_size`: a position embedding of this size beside
        each token's (rnn only; 0 = none)."""
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        self.pooling = "mean" if encoder == "average" else pooling
        self.bidirectional = cfg.bidirectional and encoder == "rnn"
        self.encoder: RecurrentEncoder | AverageEncoder
        self.positions: nn.Embedding | None = None
        if encoder == "average":
            self.encoder = AverageEncoder(vocab_size, cfg)
        else:
            self.encoder = RecurrentEncoder(vocab_size, cfg, extra_size=position_size)
            if position_size:
                self.positions = nn.Embedding(MAX_POSITIONS, position_size)
        hidden = self.encoder.output_size
        self.attention: nn.Module | None = None
        if self.pooling == "attention":
            # Score each position with a small MLP; softmax over real positions.
            self.attention = nn.Sequential(
                nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False)
            )
        if self.pooling == "concat":
            hidden *= 3
        self.dropout = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(hidden, num_classes)
        # Not persistent: only the loss needs the weights, so a checkpoint's state
        # dict is the same with or without --class-weights.
        weights = None if class_weights is None else torch.tensor(class_weights)
        self.register_buffer("class_weights", weights, persistent=False)

    def logits(self, batch: Batch) -> Tensor:
        """Unnormalised class scores, (batch, classes)."""
        if self.positions is None:
            outputs, _ = self.encoder(batch.ids, batch.lengths, final_state=False)
        else:
            outputs, _ = self.encoder(
                batch.ids,
                batch.lengths,
                final_state=False,
                extra=self._positions(batch),
            )  # (batch, time, hidden)
        mask = batch.mask
        if mask is None:  # every row is full length
            mask = torch.ones(batch.ids.shape, dtype=torch.bool, device=outputs.device)
        pooled = self.pool(outputs, mask)  # (batch, hidden)
        return self.output(self.dropout(pooled))  # (batch, classes)

    def forward(self, batch: Batch) -> Tensor:
        """Mean cross-entropy of the batch's labels (what `fit` minimises); with
        teachers' probabilities in the batch, mixed with the distillation term
        (`nn.distill`)."""
        logits = self.logits(batch)  # (batch, classes)
        if batch.soft_targets is None:
            return F.cross_entropy(logits, batch.targets, weight=self.class_weights)
        gold = F.cross_entropy(
            logits, batch.targets, weight=self.class_weights, reduction="none"
        )  # (batch,)
        soft = softened_kl(logits, batch.soft_targets, batch.temperature)
        return mix(gold, soft, batch.gold, batch.distill_weight).mean()

    loss = forward

    def _positions(self, batch: Batch) -> Tensor:
        """(batch, time, position_size): each position's embedding."""
        assert self.positions is not None
        rows, time = batch.ids.shape
        steps = torch.arange(time, device=batch.ids.device).clamp(max=MAX_POSITIONS - 1)
        return self.positions(steps).unsqueeze(0).expand(rows, -1, -1)

    def pool(self, outputs: Tensor, mask: Tensor) -> Tensor:
        """(batch, time, hidden) outputs and (batch, time) mask -> (batch, hidden)."""
        real = mask.unsqueeze(-1)  # (batch, time, 1)
        if self.pooling == "concat":
            views = [self._last(outputs, mask), self._max(outputs, real)]
            return torch.cat([*views, self._mean(outputs, real)], dim=-1)
        if self.pooling == "max":
            return self._max(outputs, real)
        if self.pooling == "mean":
            return self._mean(outputs, real)
        if self.pooling == "attention":
            scores = self.attention(outputs).squeeze(-1)  # (batch, time)
            weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
            return (weights.unsqueeze(-1) * outputs).sum(dim=1)  # (batch, hidden)
        return self._last(outputs, mask)

    @staticmethod
    def _max(outputs: Tensor, real: Tensor) -> Tensor:
        return outputs.masked_fill(~real, float("-inf")).max(dim=1).values

    @staticmethod
    def _mean(outputs: Tensor, real: Tensor) -> Tensor:
        total = (outputs * real).sum(dim=1)  # (batch, hidden)
        return total / real.sum(dim=1).clamp(min=1)

    def _last(self, outputs: Tensor, mask: Tensor) -> Tensor:
        """The state after reading the whole text in each direction.

        Forward: the output at the last real token. Backward (bidirectional): the
        output at position 0, which has read the text from its end. Taking both
        from `outputs` (not the final state) works for every cell and layer count.
        """
        last = mask.sum(dim=1).clamp(min=1) - 1  # (batch,)
        rows = torch.arange(outputs.size(0), device=outputs.device)
        if not self.bidirectional:
            return outputs[rows, last]  # (batch, hidden)
        half = outputs.size(-1) // 2
        forward = outputs[rows, last, :half]  # (batch, hidden / 2)
        backward = outputs[:, 0, half:]  # (batch, hidden / 2)
        return torch.cat([forward, backward], dim=-1)
