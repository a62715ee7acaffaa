"""fit()'s linear learning-rate schedule (word2vec's), next to the plateau decay."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqcli.batching import Batch
from seqcli.config import TrainConfig
from seqcli.training import Objective, StepInfo, fit


class _Square(nn.Module):
    """loss = (w . x)^2: anything with a gradient will do."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, batch: Batch) -> torch.Tensor:
        return (batch.ids.float() @ self.w).pow(2).mean()


class _Lrs:
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        pass

    def on_step(self, info: StepInfo) -> None:
        self.lrs.append(info.lr)

    def on_eval(self, record: dict[str, float]) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


def _run(schedule: str) -> list[float]:
    cfg = TrainConfig(
        epochs=3, optimizer="sgd", lr=1.0, min_lr=0.01, clip=0.0, early_stop=0,
        lr_schedule=schedule, save_every=1e9,
    )  # fmt: skip
    reporter = _Lrs()
    fit(
        _Square(),
        batches=lambda epoch, rank, world: (
            Batch(ids=torch.ones(1, 2) * 1e-3) for _ in range(5)
        ),
        steps_per_epoch=5,
        evaluate=lambda net: {"loss": 1.0},  # never improves after the first
        objective=Objective("loss"),
        cfg=cfg,
        save=lambda kind, state, metrics: None,
        reporter=reporter,
    )
    return reporter.lrs


def test_linear_schedule_decays_to_min_lr_over_all_steps() -> None:
    lrs = _run("linear")
    assert len(lrs) == 15
    assert lrs == sorted(lrs, reverse=True) and len(set(lrs)) == 15
    # Each step reports the lr it trained with: the first the full lr, the last
    # 1/15 of it (the next, which would be 0, is held at min_lr but never taken).
    assert lrs[0] == 1.0
    assert lrs[-1] == pytest.approx(1 / 15)
    # Epoch 2's evaluation did not improve: no plateau decay on top.
    assert lrs[10] == pytest.approx(1 - 10 / 15)


def test_plateau_schedule_keeps_the_lr_within_an_epoch() -> None:
    lrs = _run("plateau")
    assert lrs[:10] == [1.0] * 10
    assert lrs[10] == 0.25  # decayed after epoch 2's evaluation without gain
