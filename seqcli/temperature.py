"""Temperature scaling (Guo et al., 2017): one scalar T > 0 that divides a trained
model's scores so that its probabilities match how often it is right; for a
two-class classifier also a decision bias b (Platt scaling, Platt 1999).

T is fitted after training on held-out scores by minimising their negative
log-likelihood; dividing every score by the same T never changes which class (or
which CRF path) scores highest, so labels stay as they were and only probabilities
move. A two-class classifier's P(second class) = sigmoid((z1 - z0) / T + b): b
moves its decision threshold, so its labels may change. The checkpoint keeps T
(and b) under ``calibration``; a checkpoint without it (saved before calibration
existed, or trained with --no-calibrate) reads as T = 1, and one without a bias
as b = 0.
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
# A bias is clamped to this many logits (P from 0.00005 to 0.99995 at a tie): a
# validation set of one class only would otherwise drive it to infinity.
_BIAS_BOUND = 10.0


@dataclass(frozen=True)
class Calibration:
    """What a checkpoint's ``calibration`` entry holds: the temperature, and a
    two-class classifier's bias, added to its second class's scaled logit (the
    second label of the checkpoint's ``vocab.labels``); 0 for every other model."""

    temperature: float = 1.0
    bias: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"temperature": self.temperature}
        if self.bias:  # only a two-class classifier's is fitted; absent reads as 0
            entry["bias"] = self.bias
        return entry


UNCALIBRATED = Calibration()


def calibration_of(data: dict[str, Any], *, source: str = "checkpoint") -> Calibration:
    """The calibration stored in a loaded checkpoint; T = 1 where it has none, and
    b = 0 where it has no bias.

    Raises:
        CheckpointError: the entry is there but T is not a positive finite number,
            or b not a finite one.
    """
    stored = data.get("calibration")
    if stored is None:
        return UNCALIBRATED
    value = stored.get("temperature") if isinstance(stored, dict) else None
    if not _is_number(value) or not 0 < value < math.inf:
        raise CheckpointError(
            f"{source}: damaged checkpoint: calibration.temperature is {value!r}, "
            "not a positive number"
        )
    bias = stored.get("bias", 0.0)
    if not _is_number(bias) or not math.isfinite(bias):
        raise CheckpointError(
            f"{source}: damaged checkpoint: calibration.bias is {bias!r}, "
            "not a finite number"
        )
    return Calibration(float(value), float(bias))


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def calibrated_logits(
    logits: Tensor, temperature: float | Tensor, bias: float | Tensor = 0.0
) -> Tensor:
    """(examples, classes) logits divided by T, `bias` added to the second class's
    (two classes only): P(second) = sigmoid((z1 - z0) / T + b). The one place the
    stored calibration meets a classifier's scores, in fitting and in use."""
    scaled = logits / temperature  # (examples, classes)
    if isinstance(bias, float) and bias == 0.0:
        return scaled
    b = torch.as_tensor(bias, dtype=scaled.dtype, device=scaled.device)
    return scaled + torch.stack([torch.zeros_like(b), b])  # (classes,) broadcast


def fit_temperature(nll: Callable[[Tensor], Tensor]) -> float:
    """The T > 0 that minimises ``nll(T)``, a differentiable function of T (the
    summed negative log-likelihood of held-out data with every score divided by T).

    L-BFGS on log T, so T stays positive and the search is scale-free.
    """
    found = _minimise(lambda p: nll(_temperature(p[0])), size=1)
    value = float(_temperature(found[0]))
    return value if math.isfinite(value) else 1.0


def fit_logits(logits: Tensor, labels: Tensor) -> Calibration:
    """Temperature scaling of a classifier from held-out (examples, classes) logits
    and their gold class ids (or of a decoder's next-token logits, one row per
    reference token)."""
    logits = logits.detach().float()

    def nll(t: Tensor) -> Tensor:
        return F.cross_entropy(logits / t, labels, reduction="sum")

    return Calibration(fit_temperature(nll))


def fit_binary_logits(logits: Tensor, labels: Tensor) -> Calibration:
    """Temperature and bias of a two-class classifier from held-out (examples, 2)
    logits and their gold class ids, fitted together.

    Why jointly, by the held-out NLL, and not T first and then b: the two are the
    slope and intercept of one logistic model of the gold label given the logit
    difference (Platt scaling with its slope kept positive, so the ranking of
    texts never flips), and its NLL is convex in (1/T, b), so the joint fit is the
    one maximum-likelihood answer. Fitted alone, T also soaks up an off-centre
    model's errors (a shifted decision boundary looks like overconfidence) and
    comes out too large; b fitted after it cannot undo that.
    """
    logits = logits.detach().float()

    def nll(params: Tensor) -> Tensor:
        t = _temperature(params[0])
        b = params[1].clamp(-_BIAS_BOUND, _BIAS_BOUND)
        return F.cross_entropy(calibrated_logits(logits, t, b), labels, reduction="sum")

    found = _minimise(nll, size=2)
    t = float(_temperature(found[0]))
    b = float(found[1].clamp(-_BIAS_BOUND, _BIAS_BOUND))
    if not (math.isfinite(t) and math.isfinite(b)):
        return Calibration()
    return Calibration(t, b)


def _temperature(log_t: Tensor) -> Tensor:
    return log_t.clamp(-_LOG_T_BOUND, _LOG_T_BOUND).exp()


def _minimise(loss: Callable[[Tensor], Tensor], *, size: int) -> Tensor:
    """The parameters (log T first), from 0 (T = 1, b = 0), that minimise `loss`,
    by L-BFGS: a few smooth parameters, so a handful of line-searched steps."""
    params = torch.zeros(size, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [params], lr=0.5, max_iter=100, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        value = loss(params)
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(closure)
    return params.detach()
