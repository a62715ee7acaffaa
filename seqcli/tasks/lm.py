"""Language modelling: `train_lm`, `stream_metrics`, `load_network`.

A corpus becomes one id stream (`lm_data`: each line tokenised and closed by
`<eos>`), trained with truncated BPTT (see `batching`). Sampling and scoring with
a trained model are in `lm_inference`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import torch

from seqcli.batching import (
    Batch,
    lm_rows,
    lm_shard,
    lm_window_count,
    lm_windows,
)
from seqcli.checkpoint import check_buildable, load_checkpoint, load_weights
from seqcli.config import ADAPTIVE_SOFTMAX_ABOVE, LMConfig, checked_from_dict
from seqcli.devices import dist_info
from seqcli.errors import ConfigError
from seqcli.memory import check_fits
from seqcli.nn.lm import LanguageModel, default_cutoffs
from seqcli.precision import choose_precision
from seqcli.reporting import Reporter
from seqcli.runs import (
    TaskRun,
    TrainOutcome,
    resume_source,
    train_task,
    uncalibrated,
)
from seqcli.tasks.lm_data import LMData, prepare_data
from seqcli.tokenizers import (
    NO_CAPITALS_NOTE,
    tokenizer_from_dict,
)
from seqcli.training import Objective
from seqcli.vocab import SPECIALS, Vocab

TASK = "lm"
EVAL_BATCH = 10
LN2 = math.log(2)
Metrics = dict[str, float]


# --- training ----------------------------------------------------------------------
def build_network(cfg: LMConfig, vocab_size: int) -> LanguageModel:
    softmax = _softmax_of(cfg, vocab_size)
    if softmax == "adaptive" and vocab_size < 4:
        raise ConfigError(
            "adaptive softmax needs a larger vocabulary; use --softmax full"
        )
    cutoffs = cfg.adaptive_cutoffs or default_cutoffs(vocab_size)
    if softmax == "adaptive" and not cutoffs:
        softmax = "full"
    if softmax == "adaptive" and (
        cutoffs != sorted(set(cutoffs)) or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size
    ):
        raise ConfigError(
            f"adaptive_cutoffs {cutoffs}: need increasing sizes from 1 to "
            f"{vocab_size - 1} (the vocabulary has {vocab_size} entries)"
        )
    return LanguageModel(
        vocab_size,
        cfg.model,
        softmax=softmax,
        cutoffs=cutoffs,
        tie_weights=cfg.tie_weights,
    )


def _softmax_of(cfg: LMConfig, vocab_size: int) -> str:
    if cfg.softmax == "auto":
        return "adaptive" if vocab_size > ADAPTIVE_SOFTMAX_ABOVE else "full"
    return cfg.softmax


def stream_metrics(
    network: LanguageModel, stream: torch.Tensor, *, bptt: int, char_level: bool
) -> dict[str, float]:
    """Mean NLL, perplexity (and bits/char) of a stream, carrying state over windows.

    The state passes from window to window here, in a local variable: a training
    run's carried state (kept by `fit`) is not touched.
    """
    device = next(network.parameters()).device
    rows = lm_rows(stream, min(EVAL_BATCH, max(1, stream.numel() // 2)))
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for batch in lm_windows(rows, bptt):
            n = batch.targets.numel()
            loss, state = network(replace(batch.to(device), state=state))
            total += float(loss) * n
            count += n
    loss = total / max(count, 1)
    metrics = {"loss": loss, "ppl": math.exp(min(loss, 700))}
    if char_level:
        metrics["bpc"] = loss / LN2
    return metrics


def setup(
    cfg: LMConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TaskRun:
    """Data, network and metrics of a language model run (see `runs.train_task`).

    A resumed run reuses its snapshot's vocabulary and tokenizer, so that ids keep
    their meaning; --init-from also takes the LM's weights and sizes.
    """
    start = resume
    if resume is not None:  # a snapshot is checked as a checkpoint is, first
        stored = check_network(resume, source=resume_source(cfg))
        cfg = replace(cfg, adaptive_cutoffs=stored.adaptive_cutoffs)
    elif cfg.init_from:
        start = load_checkpoint(cfg.init_from, task=TASK, command="--init-from")
        cfg = _network_of(cfg, start)
    given = {}
    if start is not None:
        given = {
            "tokenizer": tokenizer_from_dict(start["tokenizer"]),
            "vocab": Vocab.from_list(start["vocab"]["tokens"]),
        }
    # Refused from the config alone, before the data are read: the network with
    # the smallest vocabulary it could have; then exactly, before it is built.
    smallest = replace(cfg, softmax="full", adaptive_cutoffs=None)
    fits = {"optimizer": cfg.train.optimizer, "device": device}
    check_fits(lambda: build_network(smallest, len(SPECIALS)), **fits, lower_bound=True)
    data = prepare_data(cfg, **given)
    if reporter is not None and data.tokenizer.lowercase_detected:
        reporter.on_message(NO_CAPITALS_NOTE)
    if start is None and not cfg.adaptive_cutoffs:
        cfg = _with_cutoffs(cfg, len(data.vocab), device, reporter)
    check_fits(lambda: build_network(cfg, len(data.vocab)), **fits)
    network = build_network(cfg, len(data.vocab)).to(device)
    if resume is None and start is not None:
        load_weights(network, start["state_dict"], source=str(cfg.init_from))
        if reporter is not None:
            reporter.on_message(
                f"starting from {cfg.init_from}: its weights and vocabulary"
            )
    return _task_run(cfg, data, network)


def _with_cutoffs(
    cfg: LMConfig, vocab_size: int, device: torch.device, reporter: Reporter | None
) -> LMConfig:
    """`cfg` with the adaptive softmax's default cutoffs for the precision the run
    will train in (stored in the checkpoint, so that loading needs no probe)."""
    if _softmax_of(cfg, vocab_size) != "adaptive":
        return cfg
    cells = [cfg.model.cell]
    precision = choose_precision(cfg.train.precision, device, cells).precision
    cutoffs = default_cutoffs(vocab_size, precision)
    if reporter is not None and cutoffs and cutoffs != default_cutoffs(vocab_size):
        reporter.on_message(
            f"adaptive softmax head of the {cutoffs[0]:,} most frequent words in "
            f"{precision}: a smaller head than bf16's trains more tokens in a time "
            "budget (adaptive_cutoffs in a --config file sets them)"
        )
    return replace(cfg, adaptive_cutoffs=cutoffs)


def _task_run(cfg: LMConfig, data: LMData, network: LanguageModel) -> TaskRun:
    char = cfg.tokenizer.level == "char"
    rank, world = dist_info()
    # Each process takes `batch_size` rows of its own (see batching.lm_shard).
    train_rows = lm_shard(data.train, cfg.train.batch_size, rank, world)

    def batches(epoch: int, rank: int, world: int) -> Iterable[Batch]:
        return lm_windows(train_rows, cfg.bptt)

    def metrics_of(stream: torch.Tensor) -> Callable[[torch.nn.Module], Metrics]:
        return lambda net: stream_metrics(net, stream, bptt=cfg.bptt, char_level=char)

    s = data.summary
    return TaskRun(
        task=TASK,
        cfg=cfg,
        network=network,
        batches=batches,
        steps_per_epoch=lm_window_count(train_rows, cfg.bptt),
        evaluate=metrics_of(data.valid),
        objective=Objective("loss"),
        vocab={"tokens": data.vocab.to_list()},
        tokenizer=data.tokenizer.to_dict(),
        summary=s,
        describe=(
            f"{s['train']['tokens']:,} training tokens; vocabulary "
            f"{len(data.vocab):,} entries covering {s['train_coverage']:.2%} of them; "
            f"validation OOV rate {s['valid_oov_rate']:.2%}"
        ),
        load_network=load_network,
        test_metrics=None if data.test is None else uncalibrated(metrics_of(data.test)),
    )


def train_lm(
    cfg: LMConfig,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """Train a language model on `cfg.train_path`; returns where the best one was saved.

    Args:
        cfg: the resolved configuration.
        resume: a loaded resume snapshot (see `runs.find_resume`); its vocabulary and
            tokenizer are reused so that ids keep their meaning.
    """
    return train_task(setup, cfg, resume=resume, reporter=reporter)


def _network_of(cfg: LMConfig, start: dict[str, Any]) -> LMConfig:
    """`cfg` with the network and tokenizer settings of a stored LM, so that the
    stored weights, vocabulary and tokenizer fit (fine-tuning with --init-from)."""
    base = check_network(start, source=f"--init-from {cfg.init_from}")
    return replace(
        cfg,
        model=base.model,
        tokenizer=base.tokenizer,
        softmax=base.softmax,
        adaptive_cutoffs=base.adaptive_cutoffs,
        tie_weights=base.tie_weights,
    )


# --- loading a trained model ----------------------------------------------------
def load_network(data: dict[str, Any], *, source: str = "checkpoint") -> LanguageModel:
    """The LM of a loaded checkpoint, its stored config and every tensor's shape
    checked before the network is built (`check_network`)."""
    cfg = check_network(data, source=source)
    network = build_network(cfg, len(data["vocab"]["tokens"]))
    load_weights(network, data["state_dict"], source=source)
    return network


def check_network(data: dict[str, Any], *, source: str) -> LMConfig:
    """The stored config of an LM checkpoint, checked, and checked to describe the
    stored weights: a config edited to describe a huge network is refused before
    anything is allocated."""
    cfg = checked_from_dict(LMConfig, data["config"], source=f"{source}: config")
    vocab_size = len(data["vocab"]["tokens"])
    check_buildable(
        lambda: build_network(cfg, vocab_size), data["state_dict"], source=source
    )
    return cfg
