"""The time-budget lr schedule: warm-up, hold, cool-down, paced by the clock."""

from __future__ import annotations

import pytest

from seqcli.config import LMConfig, TrainConfig, load_config
from seqcli.errors import ConfigError
from seqcli.schedules import budget_lr, resolve_schedule, step_lr


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (0.01, 0.55),  # halfway through the warm-up (2%), started just above 0
        (0.5, 1.0),  # held
        (0.69, 1.0),  # just before the cool-down (the last 30%)
        (0.85, 0.5),  # halfway down
        (1.0, 0.0),  # the end: min_lr
    ],
)
def test_budget_lr_follows_the_clock(share: float, expected: float) -> None:
    cfg = TrainConfig(lr=0.01, min_lr=1e-5, max_time=10, lr_schedule="budget")
    lr = budget_lr(cfg, share * 600)
    assert lr == pytest.approx(max(0.01 * expected, 1e-5), rel=0.02, abs=1e-6)


def test_auto_is_budget_only_under_a_time_limit() -> None:
    assert resolve_schedule(TrainConfig(lr_schedule="auto", max_time=5)) == "budget"
    assert resolve_schedule(TrainConfig(lr_schedule="auto")) == "plateau"
    assert resolve_schedule(TrainConfig(lr_schedule="budget")) == "plateau"
    assert resolve_schedule(TrainConfig(lr_schedule="linear")) == "linear"


def test_lm_defaults_to_auto_and_bad_cooldown_is_refused() -> None:
    assert LMConfig().train.lr_schedule == "auto"
    with pytest.raises(ConfigError, match="cooldown"):
        load_config(LMConfig, None, {"train.cooldown": 1.5})


@pytest.mark.parametrize("schedule", ["plateau", "budget", "linear"])
def test_step_warmup_scales_every_schedule_then_lets_it_be(schedule: str) -> None:
    cfg = TrainConfig(lr=0.01, min_lr=0.0, max_time=10, epochs=1, warmup_steps=4,
                      warmup=0.0, cooldown=0.0, lr_schedule=schedule)  # fmt: skip

    def lr(step: int, current: float = 0.01) -> float:
        return step_lr(cfg, schedule, step, steps_per_epoch=100, elapsed=60.0,
                       lr=current)  # fmt: skip

    ramp = [lr(step) for step in range(4)]
    unscaled = 0.01 * (1 - 3 / 100) if schedule == "linear" else 0.01
    assert ramp[:3] == pytest.approx([0.0025, 0.005, 0.0075], rel=0.05)
    assert ramp[3] == pytest.approx(unscaled, rel=0.001)  # the ramp's last step: 1x
    if schedule == "plateau":  # after the ramp, the plateau's own (decayed) lr
        assert lr(4, current=0.002) == 0.002
    else:  # the schedule's own value from then on
        assert lr(50, current=0.002) == pytest.approx(
            0.005 if schedule == "linear" else 0.01
        )
