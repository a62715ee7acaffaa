"""What every `train_*` task shares: one path from a config to `fit` to a checkpoint.

Each task builds its data and network; `train_task` turns them into a training run
with the usual files beside each other::

    models/lm-char-20261122-101500.pt            best weights (what inference uses)
    models/lm-char-20261122-101500.last.pt       resume snapshot (weights + optimizer)
    models/lm-char-20261122-101500.metrics.jsonl one JSON record per evaluation

A new task plugs in with one `setup` function that reads its data, builds its
network and says how to batch, evaluate and test it; everything else (device,
seeding, output files, resuming, the checkpoint payload, `fit`, re-scoring the best
checkpoint on the test set, the outcome) happens here, the same for every task::

    def setup(cfg: NerConfig, device, *, resume=None, reporter=None) -> TaskRun:
        data = prepare_data(cfg, **(stored_vocabs(resume) if resume else {}))
        network = build_network(cfg, data).to(device)
        return TaskRun(
            task="ner", cfg=cfg, network=network,
            batches=batch_factory(data.train, cfg),
            steps_per_epoch=len(data.train) // cfg.train.batch_size,
            evaluate=lambda net: span_f1(net, data.valid),
            objective=Objective("f1", higher_is_better=True),
            vocab={"tokens": data.vocab.to_list(), "labels": data.tags.to_list()},
            tokenizer=data.tokenizer.to_dict(),
            summary=data.summary,
            describe=f"{len(data.train):,} training sentences",
            load_network=load_network,
            test_metrics=None if data.test is None else uncalibrated(
                lambda best: span_f1(best, data.test)
            ),
        )

    def train_ner(cfg, *, resume=None, reporter=None) -> TrainOutcome:
        return train_task(setup, cfg, resume=resume, reporter=reporter)

`setup` must not write files (the dry run calls it too) and must not load a
resumed run's weights (`train_task` does, after `setup`); it reuses the snapshot's
vocabularies and skips what only a fresh run does (--init-from, word vectors).
`check_task(setup, cfg)` runs the same preparation and stops before training: it
is what `--dry-run` does, so a dry run checks everything a real run checks first.
On the CLI side, `seqcli.cli._training.run` is the matching one path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqcli.checkpoint import (
    DEFAULT_DIR,
    LAST_SUFFIX,
    last_path,
    load_checkpoint,
    load_weights,
    peek_task,
    save_checkpoint,
)
from seqcli.config import TrainConfig, to_dict
from seqcli.devices import (
    dist_info,
    resolve_device,
    seed_everything,
    setup_distributed,
)
from seqcli.errors import CheckpointError
from seqcli.nn.recurrent import count_parameters
from seqcli.outputs import check_output, guard_run, inputs_of, log_path
from seqcli.precision import choose_precision, recurrent_cells
from seqcli.reporting import Reporter, SilentReporter
from seqcli.temperature import Calibration, calibration_of
from seqcli.threads import set_threads, training_rows
from seqcli.training import BatchFactory, Evaluate, Objective, fit


@dataclass(frozen=True)
class RunFiles:
    out: Path  # best checkpoint
    last: Path  # resume snapshot
    log: Path  # metrics, JSON Lines


@dataclass
class TrainOutcome:
    """What a `train_*` task returns: where the best model went and its scores."""

    path: Path
    metrics: dict[str, dict[str, float]]
    stopped_by: str
    epochs: int
    elapsed: float = 0.0  # seconds of training across resumes (what --max-time counts)


def run_files(out: str | Path) -> RunFiles:
    out = Path(out)
    return RunFiles(
        out,
        last_path(out),
        log_path(out),
    )


def default_out(task: str, tag: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "-".join(part for part in (task, tag, stamp) if part)
    return DEFAULT_DIR / f"{name}.pt"


def find_resume(task: str, out: str | Path | None) -> tuple[Path, dict[str, Any]]:
    """The snapshot beside `out`, else the newest of `task` in models/."""
    if out is not None:
        path = last_path(out)
        if not path.exists():
            raise CheckpointError(f"nothing to resume: {path} does not exist")
    else:
        candidates = sorted(
            DEFAULT_DIR.glob(f"*{LAST_SUFFIX}"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        path = next((p for p in candidates if peek_task(p) == task), None)
        if path is None:
            raise CheckpointError(f"nothing to resume: no {task} run in {DEFAULT_DIR}/")
    data = load_checkpoint(path, task=task, command="--resume")
    if "train_state" not in data:
        raise CheckpointError(f"{path}: holds no training state to resume from")
    return path, data


def resume_source(cfg: Any) -> str:
    """How errors name the snapshot a run resumes: the .last.pt beside its --out
    (`cli._training.resolve` sets --out so)."""
    return f"--resume {last_path(cfg.out)}" if cfg.out else "--resume"


def out_of_snapshot(snapshot: Path) -> Path:
    """models/x.last.pt -> models/x.pt"""
    return snapshot.with_name(snapshot.name.removesuffix(LAST_SUFFIX) + ".pt")


def prepare(cfg: TrainConfig) -> torch.device:
    """Seed, set CPU threads, join torchrun's process group and pick the device."""
    rank, _ = setup_distributed()
    seed_everything(cfg.seed + rank)
    set_threads(cfg.num_threads, rows=training_rows(cfg.batch_size))
    device = resolve_device(cfg.device)
    if device.type == "cuda" and rank > 0:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def make_saver(
    files: RunFiles,
    network: nn.Module,
    payload: Callable[[], dict[str, Any]],
    *,
    split: str = "valid",
) -> Callable[[str, dict[str, Any] | None, dict[str, float]], Path]:
    """The `save` callback of `fit`: best weights to `out`, snapshots to `last`.

    `payload()` returns the task's checkpoint fields (task, config, vocab,
    tokenizer, data); weights and metrics (under `split`, what `evaluate` scored)
    are added here.
    """
    best_metrics: dict[str, float] = {}

    def save(
        kind: str, train_state: dict[str, Any] | None, metrics: dict[str, float]
    ) -> Path:
        if kind == "best":
            best_metrics.clear()
            best_metrics.update(metrics)
        record = {
            **payload(),
            "state_dict": network.state_dict(),
            "metrics": {split: dict(best_metrics)},
        }
        if kind == "best":
            return save_checkpoint(files.out, record)
        return save_checkpoint(files.last, {**record, "train_state": train_state})

    return save


def update_metrics(path: Path, task: str, extra: dict[str, dict[str, float]]) -> None:
    """Add metrics (test scores) to a saved checkpoint, rewriting it atomically."""
    data = load_checkpoint(path, task=task)
    update_checkpoint(path, task, {"metrics": {**data.get("metrics", {}), **extra}})


def update_checkpoint(path: Path, task: str, entries: dict[str, Any]) -> None:
    """Set top-level entries of a saved checkpoint, rewriting it atomically."""
    data = load_checkpoint(path, task=task)
    data.update(entries)
    for key in ("format", "format_version", "seqcli_version", "created", "digest"):
        data.pop(key, None)
    save_checkpoint(path, data)


# --- the one path from a prepared task to a trained checkpoint --------------------
@dataclass
class TaskRun:
    """What a task's `setup` hands to `train_task`: its own data, network, metrics.

    Attributes:
        task: the checkpoint's task name ("lm", "sentiment", ...).
        cfg: the task's resolved config as it will be stored (after --init-from
            changes); needs `out`, `train` (a TrainConfig) and `tokenizer.level`.
        network: built, on its device, with any starting weights but a resumed
            run's (`train_task` loads those).
        batches, steps_per_epoch, evaluate, objective: passed to `fit` as they are.
        vocab, tokenizer: the checkpoint's `vocab` and `tokenizer` entries.
        summary: what the run trains on (the checkpoint's `data`; --dry-run shows it).
        describe: one line about the data for the start message; the parameter
            count and device are added to it.
        load_network: builds the network of a loaded checkpoint, weights in place
            (`load_network(data, source=...)`), to re-score the best one.
        test_metrics: the test-set metrics of the best network given its stored
            calibration (which moves a two-class classifier's decisions by its
            bias; `uncalibrated` wraps the metrics of a task it does not), or
            None (no test).
        calibrate: fits the best network's temperature (and a two-class
            classifier's bias) on held-out data and returns the checkpoint's
            ``calibration`` entry, or None (not asked for).
        evaluated_on: what `evaluate` scores, as summaries and checkpoints name it
            ("valid"; skip-gram vectors watch a sample of training pairs: "train").
    """

    task: str
    cfg: Any
    network: nn.Module
    batches: BatchFactory
    steps_per_epoch: int | None
    evaluate: Evaluate
    objective: Objective
    vocab: dict[str, Any]
    tokenizer: dict[str, Any]
    summary: dict[str, Any]
    describe: str
    load_network: Callable[..., nn.Module]
    test_metrics: Callable[[nn.Module, Calibration], dict[str, float]] | None = None
    calibrate: Callable[[nn.Module], dict[str, Any]] | None = None
    evaluated_on: str = "valid"


# setup(cfg, device, resume=snapshot or None, reporter=...) -> TaskRun
Setup = Callable[..., TaskRun]


def check_task(
    setup: Setup,
    cfg: Any,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TaskRun:
    """Everything a run does before training (device, start weights, data, network,
    precision), and nothing after: what --dry-run checks. Writes no file. The
    `reporter` hears only what --precision auto chose and why."""
    if cfg.out:  # what guard_run refuses, refused without writing anything
        check_output(cfg.out, inputs_of(cfg))
    device = prepare(cfg.train)
    run = setup(cfg, device, resume=resume, reporter=SilentReporter())
    why = probe_precision(run, device)
    if why and reporter is not None:
        reporter.on_message(why)
    return run


def probe_precision(run: TaskRun, device: torch.device) -> str:
    """Try the run's precision with its network's own cells on `device` (cached, so
    `fit` asks again for nothing); what auto chose and why, or "".

    Raises:
        ConfigError: --precision bf16 where a bf16 training step fails here.
    """
    cells = recurrent_cells(run.network)
    return choose_precision(run.cfg.train.precision, device, cells).why


def train_task(
    setup: Setup,
    cfg: Any,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """Prepare the task with `setup`, train it with `fit`, and test the best model.

    Args:
        setup: the task's ``setup(cfg, device, *, resume, reporter) -> TaskRun``.
        cfg: the resolved config.
        resume: a loaded resume snapshot (see `find_resume`); its weights and
            training state are restored here, its vocabularies by `setup`.
    """
    reporter = reporter or SilentReporter()
    with ExitStack() as guards:
        # An output given with -o is checked and locked before the data are read,
        # so a clash costs nothing; a default name is new, and is held once known.
        files = run_files(cfg.out) if cfg.out else None
        if files is not None:
            guards.enter_context(_guard(files, cfg, reporter))
        device = prepare(cfg.train)
        run = setup(cfg, device, resume=resume, reporter=reporter)
        probe_precision(run, device)  # fit says what auto chose, beside its start
        if files is None:
            files = run_files(default_out(run.task, run.cfg.tokenizer.level))
            guards.enter_context(_guard(files, run.cfg, reporter))
        return _train(run, files, device, resume, reporter)


def _guard(files: RunFiles, cfg: Any, reporter: Reporter) -> AbstractContextManager:
    return guard_run(files.out, inputs_of(cfg), note=reporter.on_message)


def _train(
    run: TaskRun,
    files: RunFiles,
    device: torch.device,
    resume: dict[str, Any] | None,
    reporter: Reporter,
) -> TrainOutcome:
    """`fit` the prepared task, then score the best checkpoint on the test set."""
    parameters = count_parameters(run.network)
    reporter.on_message(f"{run.describe}; {parameters:,} parameters on {device}")
    if resume is not None:
        load_weights_of(run.network, resume)
    payload = {
        "task": run.task,
        "config": to_dict(run.cfg),
        "vocab": run.vocab,
        "tokenizer": run.tokenizer,
        "data": {**run.summary, "parameters": parameters},
    }
    result = fit(
        run.network,
        batches=run.batches,
        steps_per_epoch=run.steps_per_epoch,
        evaluate=run.evaluate,
        objective=run.objective,
        cfg=run.cfg.train,
        save=make_saver(files, run.network, lambda: payload, split=run.evaluated_on),
        resume=None if resume is None else resume["train_state"],
        reporter=reporter,
        log_path=files.log,
    )
    metrics = {run.evaluated_on: result.best_metrics}
    # All ranks have finished fit (it ends with a barrier); rank 0 alone
    # calibrates and scores the best checkpoint and rewrites it.
    rank0_best = files.out.exists() and dist_info()[0] == 0
    if run.calibrate is not None and rank0_best:
        _calibrate_best(run, files.out, device, reporter)
    if run.test_metrics is not None and rank0_best:
        metrics["test"] = _test_best(run, files.out, device)
        update_metrics(files.out, run.task, {"test": metrics["test"]})
    epochs = result.progress.epoch - 1
    return TrainOutcome(files.out, metrics, result.stopped_by, epochs, result.elapsed)


def load_weights_of(network: nn.Module, snapshot: dict[str, Any]) -> None:
    """A resume snapshot's weights into the freshly built network."""
    load_weights(network, snapshot["state_dict"], source="--resume snapshot")


def _calibrate_best(
    run: TaskRun, path: Path, device: torch.device, reporter: Reporter
) -> None:
    """Fit the best checkpoint's temperature (Guo et al., 2017), and a two-class
    classifier's bias, and store them there."""
    assert run.calibrate is not None
    stored = load_checkpoint(path, task=run.task)
    best = run.load_network(stored, source=str(path)).to(device).eval()
    entry = run.calibrate(best)
    update_checkpoint(path, run.task, {"calibration": entry})
    bias = f", bias {entry['bias']:+.3f}" if "bias" in entry else ""
    reporter.on_message(
        f"calibrated on the {run.evaluated_on} set: temperature "
        f"{entry['temperature']:.3f}{bias}"
    )


def _test_best(run: TaskRun, path: Path, device: torch.device) -> dict[str, float]:
    """The test metrics of the best checkpoint as saved (not the last weights)."""
    assert run.test_metrics is not None
    stored = load_checkpoint(path, task=run.task)
    best = run.load_network(stored, source=str(path)).to(device).eval()
    return run.test_metrics(best, calibration_of(stored, source=str(path)))


def uncalibrated(
    metrics: Callable[[nn.Module], dict[str, float]],
) -> Callable[[nn.Module, Calibration], dict[str, float]]:
    """A task's test metrics that a stored calibration cannot change (an LM's
    perplexity, a tagger's Viterbi path, a beam's output), as TaskRun takes them."""
    return lambda network, _calibration: metrics(network)
