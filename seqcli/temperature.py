"""Temperature scaling (Guo et al., 2017): one scalar T > 0 that divides a trained
model's scores so that its probabilities match how often it is right.

T is fitted after training on held-out scores by minimising their negative
log-likelihood; dividing every score by the same T never changes which class (or
which CRF path) scores highest, so labels stay as they were and only probabilities
move. The checkpoint keeps T under ``calibration``; a checkpoint without it (saved
before calibration existed, or trained with --no-calibrate) reads as T = 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seqcli.errors import CheckpointError

# T is searched as log T within these bounds: T from about 0.05 to 20. A model so
# far off that its best T lies outside is clamped rather than left at a silly value.
_LOG_T_BOUND = 3.0


@dataclass(frozen=True)
class Calibration:
    """What a checkpoint's ``calibration`` entry holds."""

    temperature: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature}


UNCALIBRATED = Calibration()


def calibration_of(data: dict[str, Any], *, source: str = "checkpoint") -> Calibration:
    """The calibration stored in a loaded checkpoint; T = 1 where it has none.

    Raises:
        CheckpointError: the entry is there but is not a positive finite T.
    """
    stored = data.get("calibration")
    if stored is None:
        return UNCALIBRATED
    value = stored.get("temperature") if isinstance(stored, dict) else None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < math.inf
    ):
        raise CheckpointError(
            f"{source}: damaged checkpoint: calibration.temperature is {value!r}, "
            "not a positive number"
        )
    return Calibration(float(value))


def fit_temperature(nll: Callable[[Tensor], Tensor]) -> float:
    """The T > 0 that minimises ``nll(T)``, a differentiable function of T (the
    summed negative log-likelihood of held-out data with every score divided by T).

    L-BFGS on log T, so T stays positive and the search is scale-free.
    """
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = nll(log_t.clamp(-_LOG_T_BOUND, _LOG_T_BOUND).exp())
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    value = float(log_t.detach().clamp(-_LOG_T_BOUND, _LOG_T_BOUND).exp())
    return value if math.isfinite(value) else 1.0


def fit_logits(logits: Tensor, labels: Tensor) -> Calibration:
    """Temperature scaling of a classifier from held-out (examples, classes) logits
    and their gold class ids."""
    logits = logits.detach().float()

    def nll(t: Tensor) -> Tensor:
        return F.cross_entropy(logits / t, labels, reduction="sum")

    return Calibration(fit_temperature(nll))
