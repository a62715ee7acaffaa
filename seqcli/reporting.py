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
    epoch: int
    step_in_epoch: int
    steps_in_epoch: int | None
    loss: float
    lr: float
    tokens_per_s: float
    elapsed: float


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
