"""How `fit` reports progress: the `Reporter` protocol the CLI renders, and the
`StepInfo` it hears at each step. The library never prints.

Must not import torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

# fit's messages, logged under the name of the module that says them.
log = logging.getLogger("seqcli.training")


@dataclass
class StepInfo:
    """One training step, as `fit` reports it.

    `elapsed` is training time across resumes (what --max-time counts); `log` is
    set every `TrainConfig.log_interval` seconds to the training-loss record that
    also went to the metrics log (its loss a mean over the steps since the last).
    """

    epoch: int
    step_in_epoch: int
    steps_in_epoch: int | None
    loss: float
    lr: float
    tokens_per_s: float
    elapsed: float
    global_step: int = 0
    epochs: int | None = None  # the run's epoch limit
    max_time_s: float | None = None  # the run's time budget (--max-time), seconds
    steps_per_s: float = 0.0
    log: dict[str, float | str] | None = None

    @property
    def epoch_fraction(self) -> float:
        """Epochs done, as a fraction (2.5: half of the third epoch)."""
        if not self.steps_in_epoch:
            return float(self.epoch - 1)
        return self.epoch - 1 + self.step_in_epoch / self.steps_in_epoch

    def time_left(self) -> tuple[float, str] | None:
        """Seconds to the first limit that ends the run, and its name."""
        total = None
        if self.epochs is not None and self.steps_in_epoch:
            total = self.epochs * self.steps_in_epoch
        done = (self.epoch - 1) * (self.steps_in_epoch or 0) + self.step_in_epoch
        return time_left(
            elapsed=self.elapsed,
            steps_done=done,
            steps_total=total,
            steps_per_s=self.steps_per_s,
            budget_s=self.max_time_s,
        )


def time_left(
    *,
    elapsed: float,
    steps_done: int,
    steps_total: int | None,
    steps_per_s: float,
    budget_s: float | None,
) -> tuple[float, str] | None:
    """Seconds until the first of the run's limits ends it, and which limit.

    The epochs end when the remaining steps are done at the current speed; the
    time budget when training time reaches it. Early stopping cannot be foreseen.

    Returns:
        (seconds, "epochs" | "max-time"), or None when neither can be told (no
        time budget and an unknown number of steps or no speed measured yet).
    """
    limits = []
    if steps_total is not None and steps_per_s > 0:
        limits.append((max(steps_total - steps_done, 0) / steps_per_s, "epochs"))
    if budget_s is not None:
        limits.append((max(budget_s - elapsed, 0.0), "max-time"))
    return min(limits) if limits else None


# Fields of an evaluation record that describe the run, not the model's quality.
BOOKKEEPING = ("epoch", "step", "lr", "elapsed_s", "tokens", "best")


class LossWindow:
    """The training loss averaged between two progress records, and their timing.

    `fit` adds each step's loss; once `interval` seconds have passed since the last
    record (or the start), `take` returns the mean and starts a new window.
    """

    def __init__(self, interval: float, now: float) -> None:
        self.interval = interval
        self.start = now
        self.total = 0.0
        self.steps = 0
        self.tokens = 0

    def add(self, loss: float, tokens: int) -> None:
        self.total += loss
        self.steps += 1
        self.tokens += tokens

    def due(self, now: float) -> bool:
        return (
            self.interval > 0 and self.steps > 0 and now - self.start >= self.interval
        )

    def take(self, now: float) -> tuple[float, float]:
        """(mean loss, tokens per second) of the window, which then starts anew."""
        mean = self.total / self.steps
        rate = self.tokens / max(now - self.start, 1e-9)
        self.start, self.total, self.steps, self.tokens = now, 0.0, 0, 0
        return mean, rate


class Reporter(Protocol):
    """What the CLI renders; the library never prints."""

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None: ...

    def on_step(self, info: StepInfo) -> None: ...

    def on_eval(self, record: dict[str, float]) -> None: ...

    def on_message(self, text: str) -> None: ...


class SilentReporter:
    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        pass

    def on_step(self, info: StepInfo) -> None:
        pass

    def on_eval(self, record: dict[str, float]) -> None:
        pass

    def on_message(self, text: str) -> None:
        log.info(text)
