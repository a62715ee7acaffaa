"""Distillation losses: a student learning from its teachers' probabilities.

Knowledge distillation (Hinton et al., 2015): the student matches the teachers'
averaged distribution q, both softened by a temperature T, besides the gold labels::

    loss = (1 - w) x gold loss + w x T^2 x KL(q_T || p_T)

T^2 keeps the gradients of the soft term at the scale of the gold term's when T
changes (the soft term's gradients shrink as 1 / T^2). A row of unlabeled text
(`Batch.gold` False) has no gold label and takes the soft term alone.
"""

from __future__ import annotations

import torch
from torch import Tensor


def soft_kl(log_probs: Tensor, teacher: Tensor) -> Tensor:
    """KL(teacher || student) over the last dimension, summed there.

    Args:
        log_probs: (..., classes) the student's log-probabilities.
        teacher: (..., classes) the teachers' probabilities; a row of zeros
            (padding) gives 0.

    Returns:
        (...) one divergence per row; 0 * log 0 counts as 0.
    """
    return (torch.xlogy(teacher, teacher) - teacher * log_probs).sum(-1)


def softened_kl(logits: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """T^2 x KL(teacher || softmax(logits / T)), one value per row, (...)."""
    log_probs = (logits / temperature).log_softmax(-1)  # (..., classes)
    return temperature**2 * soft_kl(log_probs, teacher)


def mix(gold_loss: Tensor, soft_loss: Tensor, gold: Tensor, weight: float) -> Tensor:
    """Per row: (1 - w) x gold + w x soft where the row has a gold label, the soft
    term alone where it has none; shapes (rows,), rows of anything flattened."""
    labelled = (1 - weight) * gold_loss + weight * soft_loss
    # where(), not a product: a silver row's gold loss (of a placeholder label)
    # must not reach the gradient even multiplied by 0 (it may be inf).
    return torch.where(gold, labelled, soft_loss)
