"""Learning-rate schedules: which one a run follows, and the lr each gives.

Each is a function of the config and of where the run stands (its step, its
clock, its lr); `fit` sets the lr it returns. Must not import torch.
"""

from __future__ import annotations

from seqcli.config import TrainConfig


def resolve_schedule(cfg: TrainConfig) -> str:
    """The lr schedule a run follows: "auto" is "budget" under a time limit."""
    if cfg.lr_schedule == "auto":
        return "budget" if cfg.max_time is not None else "plateau"
    if cfg.lr_schedule == "budget" and cfg.max_time is None:
        return "plateau"  # nothing to pace the decay by
    return cfg.lr_schedule


def linear_lr(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Decay the lr linearly from cfg.lr at the first step to cfg.min_lr at the last."""
    done = step / (steps_per_epoch * cfg.epochs)
    return max(cfg.lr * (1.0 - done), cfg.min_lr)


def budget_lr(cfg: TrainConfig, elapsed: float) -> float:
    """Warm up over the first `warmup` share of the time budget, hold the lr, then
    decay it linearly to min_lr over the last `cooldown` share. The clock, not the
    step count, sets the pace: a run's speed is not known in advance, and its
    budget is what a CPU user sets.

    Args:
        elapsed: seconds of training so far, across resumes.
    """
    assert cfg.max_time is not None  # resolve_schedule: no budget, no schedule
    done = min(elapsed / (cfg.max_time * 60), 1.0)
    scale = 1.0
    if done < cfg.warmup:
        scale = (done + 1e-3) / cfg.warmup
    if cfg.cooldown > 0 and done > 1.0 - cfg.cooldown:
        scale = (1.0 - done) / cfg.cooldown
    return max(cfg.lr * min(scale, 1.0), cfg.min_lr)


def step_lr(
    cfg: TrainConfig,
    schedule: str,
    step: int,
    *,
    steps_per_epoch: int | None,
    elapsed: float,
    lr: float,
) -> float:
    """The lr of the optimizer step about to run, `step` steps into the run.

    The budget and linear schedules follow from the step or the clock; the plateau
    schedule keeps `lr` (its decays happen at evaluations). Over the warm-up every
    schedule is scaled by a linear ramp towards its own value (for the plateau,
    cfg.lr: a decay during the ramp does not count), computed from the step alone
    so that a resumed run picks it up.
    """
    if schedule == "linear" and steps_per_epoch:
        lr = linear_lr(cfg, step, steps_per_epoch)
    elif schedule == "budget":
        lr = budget_lr(cfg, elapsed)
    elif in_warmup(cfg, step, steps_per_epoch):
        lr = cfg.lr  # plateau: the ramp's target (its last step reaches it)
    return lr * warmup_scale(cfg, step, steps_per_epoch)


def warmup_length(cfg: TrainConfig, steps_per_epoch: int | None) -> int:
    """Steps of the lr ramp: `warmup_steps`, but at most half the first epoch, so
    that a small corpus is not trained at a fraction of its lr for whole epochs."""
    if steps_per_epoch:
        return min(cfg.warmup_steps, steps_per_epoch // 2)
    return cfg.warmup_steps


def warmup_scale(cfg: TrainConfig, step: int, steps_per_epoch: int | None) -> float:
    """The share of the lr that step `step` (0 = the first) takes in the warm-up."""
    length = warmup_length(cfg, steps_per_epoch)
    return 1.0 if step >= length else (step + 1) / length


def in_warmup(cfg: TrainConfig, step: int, steps_per_epoch: int | None) -> bool:
    """Whether step `step` is one of the ramp's."""
    return step < warmup_length(cfg, steps_per_epoch)


def plateau_lr(cfg: TrainConfig, lr: float) -> float:
    """The lr after an evaluation without gain, once patience has run out."""
    return max(lr * cfg.lr_decay, cfg.min_lr)


def lr_at_floor(cfg: TrainConfig, lr: float) -> bool:
    """The lr has decayed from above `min_lr` down to it: no smaller steps are left
    to try, so another evaluation without gain ends the run (unless early stopping
    is off)."""
    return lr <= cfg.min_lr < cfg.lr
