"""`fit()`, the one training loop, on a tiny linear network and scripted metrics.

The network learns y = sum(x) from fixed batches; `evaluate` returns a scripted
sequence of validation losses, so that improvement, plateaus and early stopping
happen at known evaluations. Each test takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
import torch
from torch import nn

from seqcli.batching import Batch
from seqcli.config import TrainConfig
from seqcli.errors import SeqcliError
from seqcli.training import FitResult, Objective, StepInfo, fit

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 5  # batches per epoch


class Linear(nn.Module):
    """y = w.x + b; `forward(batch)` is the mean squared error, as `fit` wants.

    With `nan_at`, the loss of that forward call (1-based) is NaN: a divergence.
    """

    def __init__(self, nan_at: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(3, 1)
        self.nan_at = nan_at
        self.calls = 0

    def forward(self, batch: Batch) -> torch.Tensor:
        self.calls += 1
        assert batch.targets is not None
        predicted = self.layer(batch.ids.float()).squeeze(-1)  # (batch,)
        loss = ((predicted - batch.targets.float()) ** 2).mean()
        return loss * float("nan") if self.calls == self.nan_at else loss


def batches(epoch: int, rank: int, world: int) -> Iterator[Batch]:
    """The same batches for the same epoch, whenever asked (as `fit` requires)."""
    generator = torch.Generator().manual_seed(epoch)
    for _ in range(STEPS):
        ids = torch.randint(0, 4, (4, 3), generator=generator)  # (batch, features)
        yield Batch(ids=ids, targets=ids.sum(dim=1))


def scripted(losses: Sequence[float]):  # noqa: ANN201
    """An `evaluate` returning the given validation losses, one per call."""
    values = iter(losses)
    return lambda network: {"loss": next(values)}


class Saves:
    """`fit`'s save callback: each call's kind and train state, and the weights of
    `network` at that moment (a copy, as a checkpoint would hold)."""

    def __init__(self) -> None:
        self.network: nn.Module | None = None
        self.calls: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = []

    def __call__(
        self, kind: str, train_state: dict[str, Any] | None, metrics: dict[str, float]
    ) -> None:
        assert self.network is not None
        weights = {k: v.clone() for k, v in self.network.state_dict().items()}
        self.calls.append((kind, train_state, weights))

    def last(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(train_state, weights) of the latest resume snapshot."""
        _, state, weights = next(c for c in reversed(self.calls) if c[0] == "last")
        assert state is not None
        return state, weights


class Losses:
    """A reporter that keeps every step's loss; with `stop_at`, Ctrl-C at that step."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.stop_at = stop_at

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        pass

    def on_step(self, info: StepInfo) -> None:
        self.losses.append(info.loss)
        self.lrs.append(info.lr)
        if len(self.losses) == self.stop_at:
            raise KeyboardInterrupt

    def on_eval(self, record: dict[str, float]) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


def train(
    network: Linear,
    evaluate,  # noqa: ANN001
    *,
    saves: Saves | None = None,
    reporter: Losses | None = None,
    resume: dict[str, Any] | None = None,
    **settings: Any,
) -> FitResult:
    settings = {"epochs": 6, "lr": 0.01, "clip": 0.0, "early_stop": 0, **settings}
    saves = saves or Saves()
    saves.network = network
    return fit(
        network,
        batches=batches,
        steps_per_epoch=STEPS,
        evaluate=evaluate,
        objective=Objective("loss"),
        cfg=TrainConfig(save_every=60.0, device="cpu", **settings),
        save=saves,
        resume=resume,
        reporter=reporter,
    )


def lrs(result: FitResult) -> list[float]:
    return [record["lr"] for record in result.progress.history]


def test_early_stopping_after_evaluations_without_improvement() -> None:
    saves = Saves()
    result = train(
        Linear(),
        scripted([1.0, 0.9, 0.95, 0.96, 0.5, 0.4]),
        saves=saves,
        early_stop=2,
        plateau_patience=100,
    )
    assert result.stopped_by == "early_stop"
    assert len(result.progress.history) == 4  # two evaluations without gain
    assert result.progress.global_step == 4 * STEPS
    assert result.best_metrics == {"loss": 0.9}
    assert [kind for kind, _, _ in saves.calls].count("best") == 2


def test_learning_rate_decays_on_a_plateau() -> None:
    result = train(
        Linear(),
        scripted([1.0, 1.1, 0.9, 1.2, 1.3, 1.4]),
        lr=0.1,
        lr_decay=0.5,
        plateau_patience=0,
        min_lr=1e-6,
    )
    assert result.stopped_by == "epochs"
    # Each record holds the lr its epoch trained with; every evaluation without gain
    # halves it for the next.
    assert lrs(result) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125])


def test_patience_waits_before_decaying() -> None:
    result = train(
        Linear(),
        scripted([1.0, 1.1, 1.2, 1.3, 1.4, 1.5]),
        lr=0.1,
        lr_decay=0.5,
        plateau_patience=1,
        min_lr=1e-6,
    )
    assert lrs(result) == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.025, 0.0125])


def test_warmup_ramps_to_the_full_lr_then_the_plateau_decays_it() -> None:
    steps = Losses()
    cfg = TrainConfig(epochs=1, lr=0.1, lr_decay=0.5, plateau_patience=0, min_lr=1e-6,
                      clip=0.0, early_stop=0, eval_every=1, warmup_steps=4,
                      save_every=60.0, device="cpu")  # fmt: skip
    fit(
        Linear(),
        batches=lambda epoch, rank, world: (
            b for _ in range(2) for b in batches(epoch, rank, world)
        ),  # fmt: skip
        steps_per_epoch=2 * STEPS,  # 10: a warm-up of 4 fits in half an epoch
        evaluate=scripted([1.0 + i / 10 for i in range(10)]),  # never better
        objective=Objective("loss"),
        cfg=cfg,
        save=lambda kind, state, metrics: None,
        reporter=steps,
    )
    # The ramp goes on to the full lr whatever the evaluations said; from then on
    # each evaluation without gain halves it, the plateau's way.
    assert steps.lrs == pytest.approx(
        [0.025, 0.05, 0.075, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625]
    )


def test_warmup_is_at_most_half_the_first_epoch() -> None:
    steps = Losses()
    train(Linear(), scripted([1.0] * 6), reporter=steps, lr=0.1, warmup_steps=200)
    assert steps.lrs[:4] == pytest.approx([0.05, 0.1, 0.1, 0.1])  # 5 steps: ramp of 2


def test_min_lr_stops_a_run_that_still_does_not_improve() -> None:
    settings = {"lr": 0.1, "lr_decay": 0.5, "min_lr": 0.025, "plateau_patience": 0}
    result = train(Linear(), scripted([1.0, 1.1, 1.2, 1.3, 1.4, 1.5]), early_stop=10,
                   **settings)  # fmt: skip
    assert result.stopped_by == "min_lr"
    # 0.1 -> 0.05 -> 0.025 (the floor) -> one more evaluation without gain: stop.
    assert lrs(result) == pytest.approx([0.1, 0.1, 0.05, 0.025])
    # Early stopping off (0 = never stop early): the run goes on at the floor.
    result = train(Linear(), scripted([1.0, 1.1, 1.2, 1.3, 1.4, 1.5]), **settings)
    assert result.stopped_by == "epochs"
    assert lrs(result)[-1] == pytest.approx(0.025)


def test_max_time_stops_after_the_step_that_used_it_up() -> None:
    result = train(Linear(), scripted([1.0]), max_time=1e-9)
    assert result.stopped_by == "max_time"
    assert result.progress.global_step == 1
    assert len(result.progress.history) == 1  # evaluated once before stopping


def test_divergence_stops_and_names_the_step() -> None:
    saves = Saves()
    with pytest.raises((FloatingPointError, SeqcliError), match=r"step 8\b"):
        train(Linear(nan_at=8), scripted([1.0] * 6), saves=saves)
    # The run stopped there: no further step, no evaluation of epoch 2.
    assert [kind for kind, _, _ in saves.calls] == ["best", "last"]


@pytest.mark.parametrize(
    ("stop_at", "warmup"),
    [(7, 0), (STEPS, 0), (1, 2)],  # mid-epoch, at an epoch's end, inside the ramp
)
def test_resumed_run_ends_where_an_uninterrupted_one_does(
    stop_at: int, warmup: int
) -> None:
    losses = [1.0, 0.9, 0.8]
    settings = {"epochs": 3, "optimizer": "adam", "warmup_steps": warmup}
    straight_net, whole = Linear(), Losses()
    straight = train(straight_net, scripted(losses), reporter=whole, **settings)
    saves, cut = Saves(), Losses(stop_at=stop_at)
    stopped = train(Linear(), scripted(losses), saves=saves, reporter=cut, **settings)
    assert stopped.stopped_by == "interrupted"
    state, weights = saves.last()
    network, rest = Linear(), Losses()
    network.load_state_dict(weights)
    done = len(stopped.progress.history)
    resumed = train(network, scripted(losses[done:]), reporter=rest, resume=state,
                    **settings)  # fmt: skip
    assert resumed.stopped_by == "epochs"
    assert resumed.progress.global_step == straight.progress.global_step == 3 * STEPS
    assert cut.losses[:stop_at] + rest.losses == whole.losses  # the same steps, once
    assert cut.lrs[:stop_at] + rest.lrs == whole.lrs
    assert _without_time(resumed) == _without_time(straight)
    for name, value in straight_net.state_dict().items():
        assert torch.equal(network.state_dict()[name], value), name


def _without_time(result: FitResult) -> list[dict[str, float]]:
    return [
        {k: v for k, v in record.items() if k != "elapsed_s"}
        for record in result.progress.history
    ]


class Carrying(Linear):
    """`Linear` whose forward also returns a state, as a language model does: the
    number of batches read in a row. It records the state each training batch
    started from (None: from zeros)."""

    def __init__(self) -> None:
        super().__init__()
        self.started_from: list[float | None] = []

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        state = batch.state
        if self.training:
            self.started_from.append(None if state is None else float(state))
        start = torch.zeros(()) if state is None else state
        return super().forward(batch), start + 1


def carried_batches(epoch: int, rank: int, world: int) -> Iterator[Batch]:
    """`batches`, each one after the first continuing the previous one."""
    for i, batch in enumerate(batches(epoch, rank, world)):
        yield replace(batch, carry=i > 0)


def fit_carrying(
    network: Carrying,
    reporter: Losses,
    saves: Saves,
    *,
    resume: dict[str, Any] | None = None,
    **settings: Any,
) -> FitResult:
    """`fit` on `carried_batches`; each evaluation runs the network from its own
    state, as an LM's evaluation runs its own windows."""

    def evaluate(net: nn.Module) -> dict[str, float]:
        ids = torch.ones(2, 3, dtype=torch.long)
        _, state = net(Batch(ids=ids, targets=ids.sum(dim=1), state=torch.ones(())))
        return {"loss": float(state)}

    saves.network = network
    return fit(
        network,
        batches=carried_batches,
        steps_per_epoch=STEPS,
        evaluate=evaluate,
        objective=Objective("loss"),
        cfg=TrainConfig(
            epochs=2, early_stop=0, save_every=60.0, device="cpu", **settings
        ),
        save=saves,
        reporter=reporter,
        resume=resume,
    )


def test_fit_hands_the_returned_state_to_the_batch_that_continues() -> None:
    network = Carrying()
    fit_carrying(network, Losses(), Saves(), eval_every=2)
    # Each epoch starts from zeros; evaluations (after steps 2, 4, ...) change
    # nothing of the state the next training batch starts from.
    assert network.started_from == [None, 1.0, 2.0, 3.0, 4.0] * 2


def test_a_mid_epoch_snapshot_keeps_the_carried_state_and_resume_uses_it() -> None:
    network, saves = Carrying(), Saves()
    fit_carrying(network, Losses(stop_at=3), saves)
    state, weights = saves.last()
    assert float(state["carry"]) == 3.0  # three batches read in a row
    resumed, resumed_saves = Carrying(), Saves()
    resumed.load_state_dict(weights)
    fit_carrying(resumed, Losses(), resumed_saves, resume=state)
    assert resumed.started_from == [3.0, 4.0, None, 1.0, 2.0, 3.0, 4.0]
    # After an epoch's last batch nothing is carried: the next epoch starts afresh.
    assert resumed_saves.last()[0]["carry"] is None


class DtypeProbe(Linear):
    """`Linear` that records the dtype of its layer's output at each training step."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: list[torch.dtype] = []

    def forward(self, batch: Batch) -> torch.Tensor:
        self.dtypes.append(self.layer(batch.ids.float()).dtype)
        return super().forward(batch)


@pytest.mark.parametrize(
    ("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)]
)
def test_precision_sets_the_dtype_of_the_training_steps(
    precision: str, dtype: torch.dtype
) -> None:
    network, losses = DtypeProbe(), Losses()
    train(network, scripted([1.0] * 6), reporter=losses, precision=precision)
    assert network.dtypes and set(network.dtypes) == {dtype}
    # Mixed precision keeps the weights and their updates in fp32, and still learns.
    assert all(p.dtype == torch.float32 for p in network.parameters())
    assert sum(losses.losses[-STEPS:]) < 0.99 * sum(losses.losses[:STEPS])


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_trains_in_bf16_only_on_bf16_hardware(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    from seqcli import devices

    # No recurrent cell: its probe, a linear layer, runs on any x86-64 CPU.
    monkeypatch.setattr(devices, "cpu_bf16_flags", lambda: ["amx_bf16"] * native)
    network = DtypeProbe()
    train(network, scripted([1.0] * 6), precision="auto")
    assert set(network.dtypes) == {torch.bfloat16 if native else torch.float32}


class Messages(Losses):
    """A reporter that keeps fit's messages."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def on_message(self, text: str) -> None:
        self.messages.append(text)


@pytest.mark.parametrize(
    ("max_time", "said"),
    [
        (0.5, "1.0 min are spent: nothing is left"),
        (3.0, "1.0 min spent, 2.0 min left"),
    ],
)
def test_resume_says_what_is_left_of_max_time(max_time: float, said: str) -> None:
    saves = Saves()
    train(Linear(), scripted([1.0]), saves=saves, epochs=1)
    state, weights = saves.last()
    state["progress"]["elapsed"] = 60.0  # as if the first run trained a minute
    network, reporter = Linear(), Messages()
    network.load_state_dict(weights)
    result = train(network, scripted([1.0] * 3), reporter=reporter, resume=state,
                   epochs=3, max_time=max_time)  # fmt: skip
    [line] = [m for m in reporter.messages if m.startswith("resuming")]
    assert f"--max-time {max_time:g} is the total training time of all runs" in line
    assert said in line
    assert result.elapsed >= 60.0  # training time counts across resumes
    if max_time < 1:  # the budget was spent: not one step more
        assert result.progress.global_step == STEPS
        assert result.stopped_by == "max_time"
    else:
        assert result.progress.global_step > STEPS
