"""`EnsembleStepper`: several networks with the step protocol decoding as one.

At each step every member reads the same previous token and the ensemble's
next-token distribution is the mean of the members' distributions, so the
existing searches (`seqcli.beam`, `seqcli.decoding`) decode an ensemble unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqcli.batching import Batch
from seqcli.vocab import PAD_ID


def mean_of_distributions(log_probs: Sequence[Tensor]) -> Tensor:
    """log of the mean of the members' probabilities: (..., vocab) each in, one out.

    Why the mean of probabilities (a mixture) and not the mean of log-probs (a
    product of experts): the mixture is a distribution, so a hypothesis' summed
    score is still log P(y | x) of one model, and --scores, length normalisation
    and perplexity keep their meaning; and a token that one member rules out
    (log-prob -inf) is not vetoed for all, as in Hansen and Salamon's (1990)
    averaging of members' outputs. For identical members both choices agree.
    """
    stacked = torch.stack(list(log_probs))  # (members, ..., vocab)
    return torch.logsumexp(stacked, dim=0) - math.log(len(log_probs))


class EnsembleStepper(nn.Module):
    """Several networks with the step protocol (`step_protocol.Stepper`) as one.

    The members must share the target vocabulary (and, here, read the same source
    ids): the ensemble's state is the list of the members' states, and each
    member's state is reordered as beam search prunes, with the same index.
    Members that also offer ``teacher_forced(batch)`` (as `Seq2Seq` does) give the
    ensemble's ``sequence_log_probs`` and mean attention weights.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = nn.ModuleList(members)

    def start(self, *args: Any) -> list[Any]:
        """Each member's first state from the same inputs (source ids, lengths)."""
        return [member.start(*args) for member in self.members]

    def step(self, prev_ids: Tensor, state: list[Any]) -> tuple[Tensor, list[Any]]:
        """One token per row in; the mixture's log-probs (rows, vocab) out."""
        outputs = [
            member.step(prev_ids, s)
            for member, s in zip(self.members, state, strict=True)
        ]
        log_probs = mean_of_distributions([lp for lp, _ in outputs])  # (rows, vocab)
        return log_probs, [s for _, s in outputs]

    def reorder(self, state: list[Any], index: Tensor) -> list[Any]:
        # Every member holds the same hypotheses in the same rows, so one index
        # reorders them all.
        return [
            member.reorder(s, index)
            for member, s in zip(self.members, state, strict=True)
        ]

    def teacher_forced(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """The mixture's log-probs (batch, time, vocab), usable as logits since
        they are normalised, and the members' mean attention (batch, time, src)."""
        outputs = [member.teacher_forced(batch) for member in self.members]
        log_probs = mean_of_distributions([o[0].log_softmax(-1) for o in outputs])
        weights = torch.stack([o[1] for o in outputs]).mean(0)  # (batch, time, src)
        return log_probs, weights

    def sequence_log_probs(self, batch: Batch) -> Tensor:
        """log P(y | x) under the mixture of each pair, (batch,), `<eos>` included."""
        log_probs, _ = self.teacher_forced(batch)  # (batch, time, vocab)
        picked = log_probs.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1)
        return picked.masked_fill(batch.targets == PAD_ID, 0.0).sum(1)  # (batch,)
