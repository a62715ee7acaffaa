"""`fit()`: the only training loop. It knows nothing about tasks.

A task hands it a network whose ``forward(batch)`` returns the loss (or the loss
and a state that the next batch continues from), a factory of batches for each
epoch, an ``evaluate`` callable returning metrics, and a ``save``
callback that writes checkpoints. `fit` owns the optimiser, clipping, learning-rate
decay on plateau, early stopping, time budget, seeding, device placement, resume
snapshots, Ctrl-C and SIGTERM handling, divergence and (under torchrun)
DistributedDataParallel: rank 0 alone reports and saves. Progress goes to a
`Reporter`, never to print().

Its parts live beside it: `run_state` (what a run holds and a snapshot keeps),
`schedules` (the lr schedules), `devices` (device, seeds, the process group) and
`reporting` (the `Reporter` protocol).
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqcli.batching import Batch
from seqcli.config import TrainConfig
from seqcli.errors import TrainingDiverged
from seqcli.outputs import append_line, keep_log_until
from seqcli.reporting import BOOKKEEPING, Reporter, SilentReporter, StepInfo
from seqcli.run_state import Progress, RunState
from seqcli.schedules import lr_at_floor, plateau_lr, step_lr

BatchFactory = Callable[
    [int, int, int], Iterable[Batch]
]  # (epoch, rank, world) -> batches
Evaluate = Callable[[nn.Module], dict[str, float]]


@dataclass
class FitResult:
    progress: Progress
    # epochs | early_stop | min_lr (the lr has decayed to its floor and the metric
    # still does not improve) | max_time | interrupted
    stopped_by: str
    best_metrics: dict[str, float]
    elapsed: float = 0.0  # seconds of training, across resumes (what --max-time counts)


@dataclass
class Objective:
    """The validation metric that decides best checkpoint, lr decay and early stop."""

    metric: str
    higher_is_better: bool = False

    def improved(self, value: float, best: float | None) -> bool:
        if best is None or math.isnan(best):
            return not math.isnan(value)
        return value > best if self.higher_is_better else value < best


# --- the loop ---------------------------------------------------------------------
def fit(
    network: nn.Module,
    *,
    batches: BatchFactory,
    steps_per_epoch: int | None,
    evaluate: Evaluate,
    objective: Objective,
    cfg: TrainConfig,
    save: Callable[[str, dict[str, Any] | None, dict[str, float]], Path | None],
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    log_path: Path | None = None,
) -> FitResult:
    """Train `network` until epochs, time budget, early stopping or Ctrl-C end it.

    Args:
        network: ``network(batch)`` returns the scalar loss, or (loss, state) for
            a network that carries a state from one batch to the next (a
            language model's truncated BPTT): `fit` keeps that state (in its
            `RunState` and resume snapshots) and hands it to the next batch as
            ``batch.state`` when that batch continues the previous one
            (``batch.carry``). Already on its device.
        batches: ``batches(epoch, rank, world_size)`` yields that epoch's batches in
            a deterministic order (resuming skips the ones already trained).
        steps_per_epoch: batches per epoch on this rank, for the progress bar.
        evaluate: validation metrics of the (unwrapped) network, in eval mode.
        objective: which metric picks the best checkpoint, and in which direction.
        save: ``save(kind, train_state, metrics)``; kind is "best" (weights only,
            train_state None) or "last" (resume snapshot). Called on rank 0 only;
            it may return the path it wrote, which messages then name.
        resume: the ``train_state`` of a snapshot to continue from.
        log_path: JSON Lines file that gets one record per evaluation and, every
            ``cfg.log_interval`` seconds, one of the training loss (``"kind":
            "train"``).

    Ctrl-C and SIGTERM (what schedulers and `timeout` send) both save a resume
    snapshot and return with ``stopped_by="interrupted"``. A loss that becomes inf
    or NaN raises `TrainingDiverged`.
    """
    device = next(network.parameters()).device
    run = RunState(network, cfg, device)
    save = _recording(save, run)
    # Under torchrun every rank trains, but only rank 0 talks to the user.
    reporter = reporter if reporter is not None and run.rank == 0 else SilentReporter()
    if resume is not None:
        run.restore(resume)
        _rewind_if_world_changed(run.progress, run.world, reporter)
        reporter.on_message(
            f"resuming at epoch {run.progress.epoch}, step {run.progress.step_in_epoch}"
            + _budget_note(cfg.max_time, run.progress.elapsed)
        )
    if run.rank == 0 and log_path is not None:
        # Drop what a killed run logged after its snapshot (or all of an old run's).
        keep_log_until(log_path, run.progress.global_step)
    if run.precision_choice.why:  # --precision auto: what it chose and why
        reporter.on_message(run.precision_choice.why)
    previous_sigterm = _sigterm_interrupts()
    if run.world > 1:
        reporter.on_message(
            f"data-parallel: {run.world} processes x batch size {cfg.batch_size} = "
            f"effective batch size {run.world * cfg.batch_size}; learning rate "
            f"{cfg.lr:g} (the configured one: not scaled with the processes)"
        )
    stopped_by = "epochs"
    if resume is not None and cfg.max_time is not None and run.agree(run.out_of_time()):
        # Resumed with its budget spent (--max-time counts all runs): not one step
        # more, where the check after each step would let one through.
        stopped_by = "max_time"
    try:
        while stopped_by == "epochs" and run.progress.epoch <= cfg.epochs:
            stopped_by = _train_epoch(
                run,
                batches,
                steps_per_epoch,
                evaluate,
                objective,
                save,
                reporter,
                log_path,
            )
            if stopped_by != "epochs":
                break
    except KeyboardInterrupt as exc:
        stopped_by = "interrupted"
        if run.rank == 0:
            save("last", run.train_state(), {})
        where = f" in {run.saved['last']}" if "last" in run.saved else ""
        reporter.on_message(
            f"{'terminated' if isinstance(exc, Terminated) else 'interrupted'}: "
            f"progress saved{where}; continue with --resume"
        )
    finally:
        _restore_sigterm(previous_sigterm)
    if stopped_by != "interrupted" and run.rank == 0:
        save("last", run.train_state(), {})
    if run.world > 1 and stopped_by != "interrupted":
        # No rank returns before rank 0 has written its files: a caller that reads
        # the checkpoint next (test scoring) must not find the previous one.
        torch.distributed.barrier()
    best = next(
        (
            h
            for h in run.progress.history
            if h.get("best") and h.get(objective.metric) == run.progress.best
        ),
        {},
    )
    metrics = {k: v for k, v in best.items() if k not in BOOKKEEPING}
    return FitResult(run.progress, stopped_by, metrics, run.elapsed)


def _budget_note(max_time: float | None, elapsed: float) -> str:
    """What a resumed run has left of --max-time, which counts all runs together."""
    used = f"{elapsed / 60:.1f} min"
    if max_time is None:
        return f" ({used} trained so far)"
    left = max_time * 60 - elapsed
    if left <= 0:
        return (
            f"; --max-time {max_time:g} is the total training time of all runs and "
            f"{used} are spent: nothing is left, so nothing is trained (give a "
            "larger --max-time to train longer)"
        )
    return (
        f"; --max-time {max_time:g} is the total training time of all runs: {used} "
        f"spent, {left / 60:.1f} min left"
    )


class Terminated(KeyboardInterrupt):
    """SIGTERM during fit(): handled as Ctrl-C is (snapshot saved, clean exit)."""


def _sigterm_interrupts() -> Any:
    """Make SIGTERM raise `Terminated`; return the handler it replaces.

    Only the main thread may set handlers: elsewhere (fit in a worker thread)
    SIGTERM keeps its behaviour and None is returned.
    """

    def handler(signum: int, frame: Any) -> None:
        # Once is enough: a second SIGTERM must not cut the snapshot being saved.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _recording(
    save: Callable[..., Path | None], run: RunState
) -> Callable[..., Path | None]:
    """`save`, noting in `run.saved` which file each kind went to."""

    def recorded(
        kind: str, train_state: dict[str, Any] | None, metrics: dict[str, float]
    ) -> Path | None:
        path = save(kind, train_state, metrics)
        if path is not None:
            run.saved[kind] = Path(path)
        return path

    return recorded


def _rewind_if_world_changed(p: Progress, world: int, reporter: Reporter) -> None:
    """Restart a half-done epoch when the number of processes changed.

    Each rank trains its own share of an epoch's batches, and the shares depend on
    the number of processes: `step_in_epoch` batches on each of N ranks is no
    position among the batches of M ranks. Training the whole epoch again repeats
    some batches but loses none; a snapshot taken at an epoch's end resumes exactly.
    """
    if p.world != world and p.step_in_epoch > 0:
        reporter.on_message(
            f"the snapshot was taken with {p.world} process(es), this run has "
            f"{world}: epoch {p.epoch} restarts from its first batch"
        )
        p.step_in_epoch = 0
    p.world = world


def _train_epoch(
    run: RunState,
    batches: BatchFactory,
    steps: int | None,
    evaluate: Evaluate,
    objective: Objective,
    save: Callable[..., None],
    reporter: Reporter,
    log_path: Path | None,
) -> str:
    """Train one epoch (or its rest, when resuming); return why to stop."""
    p, cfg = run.progress, run.cfg
    reporter.on_epoch_start(p.epoch, steps, p.step_in_epoch)
    run.network.train()
    window_start, window_tokens, window_steps = time.monotonic(), 0, 0
    for i, batch in enumerate(batches(p.epoch, run.rank, run.world)):
        if i < p.step_in_epoch:
            continue  # already trained before the interruption
        run.set_lr(
            step_lr(
                cfg,
                run.schedule,
                p.global_step,
                steps_per_epoch=steps,
                elapsed=run.elapsed,
                lr=run.lr,
            )
        )
        loss = _train_step(run, batch)
        p.step_in_epoch += 1
        p.global_step += 1
        p.tokens += batch.num_tokens
        window_tokens += batch.num_tokens
        window_steps += 1
        seconds = max(time.monotonic() - window_start, 1e-9)
        info = _step_info(run, steps, loss, window_tokens / seconds)
        info.steps_per_s = window_steps / seconds
        info.log = _log_training(run, info, batch.num_tokens, log_path)
        reporter.on_step(info)
        if cfg.max_time is not None and run.agree(run.out_of_time()):
            _evaluate(run, evaluate, objective, save, reporter, log_path)
            return "max_time"
        if cfg.eval_every and p.global_step % cfg.eval_every == 0:
            verdict = _evaluate(run, evaluate, objective, save, reporter, log_path)
            run.network.train()
            if verdict:
                return verdict
        if run.rank == 0 and time.monotonic() - run.last_save >= cfg.save_every * 60:
            save("last", run.train_state(), {})
            run.last_save = time.monotonic()
    run.carry = None  # the next epoch's first batch starts from zeros
    verdict = None
    # With eval_every, evaluations fall on its multiples alone, and on the run's
    # last step: one more at each epoch's end, a few steps after the previous
    # one, would count as an evaluation without gain and hasten lr decay and
    # early stopping.
    last_epoch = p.epoch >= cfg.epochs
    if _evaluates_at_epoch_end(run, last_epoch):
        verdict = _evaluate(run, evaluate, objective, save, reporter, log_path)
    p.epoch += 1
    p.step_in_epoch = 0
    if run.rank == 0:
        save("last", run.train_state(), {})
        run.last_save = time.monotonic()
    return verdict or "epochs"


def _evaluates_at_epoch_end(run: RunState, last_epoch: bool) -> bool:
    """Whether an epoch's end evaluates: each epoch's without eval_every (unless
    the budget schedule evaluates at the end alone), the last one's otherwise."""
    cfg = run.cfg
    if cfg.eval_every:
        return last_epoch and run.progress.global_step % cfg.eval_every != 0
    if run.schedule == "budget" and cfg.budget_evals == "end":
        return last_epoch
    return True


def _step_info(
    run: RunState, steps: int | None, loss: float, tokens_per_s: float
) -> StepInfo:
    """What the reporter hears after a step, with the limits that end the run."""
    p, cfg = run.progress, run.cfg
    return StepInfo(
        p.epoch,
        p.step_in_epoch,
        steps,
        loss,
        run.lr,
        tokens_per_s,
        run.elapsed,
        global_step=p.global_step,
        epochs=cfg.epochs,
        max_time_s=None if cfg.max_time is None else cfg.max_time * 60,
    )


def _log_training(
    run: RunState, info: StepInfo, tokens: int, log_path: Path | None
) -> dict[str, float | str] | None:
    """Every `log_interval` seconds, the training-loss record (mean over the steps
    since the previous one), appended to the metrics log; None between records."""
    window = run.loss_window
    window.add(info.loss, tokens)
    now = time.monotonic()
    if not window.due(now):
        return None
    loss, rate = window.take(now)
    record: dict[str, float | str] = {
        "kind": "train",
        "epoch": round(info.epoch_fraction, 4),
        "step": info.global_step,
        "loss": loss,
        "lr": info.lr,
        "elapsed_s": round(info.elapsed, 1),
        "tokens": run.progress.tokens,
        "tokens_per_s": round(rate, 1),
    }
    if run.rank == 0 and log_path is not None:
        append_line(log_path, json.dumps(record))
    return record


def _train_step(run: RunState, batch: Batch) -> float:
    batch = batch.to(run.device)
    if batch.carry:  # it continues the previous batch: start where that one ended
        batch = replace(batch, state=run.carry)
    run.optimizer.zero_grad(set_to_none=True)
    with _autocast(run):
        loss, run.carry = _loss_and_state(run.model(batch))
    _check_finite(run, loss)
    loss.backward()
    if run.cfg.clip > 0:
        nn.utils.clip_grad_norm_(run.network.parameters(), run.cfg.clip)
    run.optimizer.step()
    return float(loss.detach())


def _loss_and_state(output: Any) -> tuple[torch.Tensor, Any]:
    """What a network returned for a batch: the loss alone, or (loss, state), the
    state being what a next batch with ``carry`` set starts from."""
    if isinstance(output, tuple):
        loss, state = output
        return loss, state
    return output, None


def _autocast(run: RunState) -> torch.autocast:
    """The forward pass's precision. Under bf16, autocast runs the matrix products
    (linear layers, and those inside every recurrent cell) in bfloat16 and
    cross-entropy in fp32 (on a CPU it leaves log_softmax in bf16: a module that
    needs fp32 there converts itself). What a recurrent layer's state and outputs
    hold depends on the cell and device (docs/PRECISION.md): on a CPU the fused
    LSTM and the Elman RNN keep them in bf16, the GRU and a packed LSTM in fp32; on
    CUDA, PyTorch runs every cuDNN recurrent layer in fp16 whatever the autocast
    dtype. Backward follows the forward's dtypes; the parameters and their
    gradients stay fp32, so the optimizer (and clipping) is untouched. No loss
    scaling: bf16 has fp32's range (cuDNN's fp16 layers do not; see the doc)."""
    return torch.autocast(
        run.device.type,
        dtype=torch.bfloat16,
        enabled=run.precision == "bf16",
    )


def _check_finite(run: RunState, loss: torch.Tensor) -> None:
    """Raise `TrainingDiverged` on every rank if the loss is inf or NaN on any.

    Under torchrun a rank that stopped alone would leave the others waiting in
    backward's gradient all-reduce, to end in a timeout or a lost-connection
    traceback instead of the one-line error. So the ranks first share their losses
    (one number each) and all stop, with the same message, if one diverged.
    """
    if run.world == 1:
        if not torch.isfinite(loss):
            raise _diverged(run, loss.item())
        return
    losses = [torch.empty(1, device=run.device) for _ in range(run.world)]
    torch.distributed.all_gather(losses, loss.detach().float().reshape(1))
    bad = (~torch.isfinite(torch.cat(losses))).nonzero()  # (ranks diverged, 1)
    if len(bad):
        rank = int(bad[0, 0])
        raise _diverged(run, losses[rank].item(), rank=rank)


def _diverged(
    run: RunState, loss: float, *, rank: int | None = None
) -> TrainingDiverged:
    """One line: where it happened, what is kept, what to try.

    Under torchrun every rank raises it, with the same text: `rank` is the one
    whose loss diverged, and the files kept are rank 0's, the one that saves.
    """
    step = run.progress.global_step + 1
    what = {"best": "best weights", "last": "resume snapshot"}
    saved = _saved_on_rank0(run)
    kept = " and ".join(f"{path} ({what[k]})" for k, path in sorted(saved.items()))
    kept = f"kept: {kept}" if kept else "no checkpoint was saved in this run before it"
    where = f" on rank {rank}" if rank is not None else ""
    clip = run.cfg.clip
    tighter = f"a smaller --clip (now {clip:g})" if clip > 0 else "--clip 1"
    return TrainingDiverged(
        f"training diverged: the loss is {loss}{where} at step {step} (epoch "
        f"{run.progress.epoch}); {kept}; try a lower --lr (now {run.lr:g}) or "
        f"{tighter}",
        step,
    )


def _saved_on_rank0(run: RunState) -> dict[str, Path]:
    """The files rank 0 has written (`run.saved`), known on every rank."""
    if run.world == 1:
        return run.saved
    shared: list[Any] = [run.saved]
    torch.distributed.broadcast_object_list(shared, src=0)
    return shared[0]


def _evaluate(
    run: RunState,
    evaluate: Evaluate,
    objective: Objective,
    save: Callable[..., None],
    reporter: Reporter,
    log_path: Path | None,
) -> str | None:
    """Validate, keep the best weights, decay the lr or stop early (return why)."""
    p, cfg = run.progress, run.cfg
    run.network.eval()
    with torch.no_grad():
        metrics = evaluate(run.network)
    value = metrics[objective.metric]
    record = {
        "epoch": p.epoch,
        "step": p.global_step,
        "lr": run.lr,
        "elapsed_s": round(run.elapsed, 1),
        "tokens": p.tokens,
        **metrics,
    }
    p.history.append(record)
    if objective.improved(value, p.best):
        p.best, p.best_epoch, p.bad_evals = value, p.epoch, 0
        record["best"] = 1.0
        if run.rank == 0:
            save("best", None, metrics)
    else:
        p.bad_evals += 1
        record["best"] = 0.0
        at_floor = lr_at_floor(cfg, run.lr)
        if (
            run.schedule == "plateau"
            and cfg.plateau_patience is not None
            and p.bad_evals > cfg.plateau_patience
        ):
            run.set_lr(plateau_lr(cfg, run.lr))
    if run.rank == 0:
        reporter.on_eval(record)
        if log_path is not None:
            append_line(log_path, json.dumps(record))
    if cfg.early_stop and p.bad_evals >= cfg.early_stop:
        return "early_stop"
    if cfg.early_stop and record["best"] == 0.0 and at_floor:
        return "min_lr"
    return None
