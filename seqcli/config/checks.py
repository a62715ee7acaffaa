"""Allowed values of settings: choices, ranges, device names, cutoffs.

`check_config` rejects a value outside its set or range with a `ConfigError`
that names the setting. Must not import torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from seqcli.config.settings import DistillConfig, LMConfig
from seqcli.errors import ConfigError

# Per-field rules, keyed by field name (the same name means the same thing in every
# config). A choice is matched in any case and stored in lower case.
_CHOICES: dict[str, tuple[str, ...]] = {
    "cell": ("rnn", "gru", "lstm"),
    "optimizer": ("adam", "sgd"),
    "lr_schedule": ("plateau", "linear", "budget", "auto"),
    "budget_evals": ("epoch", "end"),
    "level": ("word", "char", "subword"),
    "word_split": ("ptb", "whitespace"),
    "sp_model_type": ("bpe", "unigram"),
    "softmax": ("auto", "full", "adaptive"),
    "data_format": ("auto", "tsv", "csv", "jsonl", "fasta"),
    "header": ("auto", "yes", "no"),
    "pooling": ("last", "max", "mean", "attention", "concat"),
    "text_encoder": ("rnn", "average"),
    "class_weights": ("none", "auto"),
    "select_metric": ("accuracy", "macro_f1"),
    "select": ("bleu", "loss"),
    "attention": ("bahdanau", "dot", "general"),
    "scheme": ("auto", "iob1", "iob2", "bioes"),
    "train_scheme": ("iob1", "iob2", "bioes"),
    "char_features": ("cnn", "lstm", "none"),
    "decoder": ("crf", "softmax"),
    "precision": ("auto", "fp32", "bf16"),
}

# (lowest, lowest allowed?, highest, highest allowed?); None = unbounded.
_Range = tuple[float | None, bool, float | None, bool]
_AT_LEAST_1: _Range = (1, True, None, False)
_AT_LEAST_0: _Range = (0, True, None, False)
_ABOVE_0: _Range = (0, False, None, False)
_RANGES: dict[str, _Range] = {
    # sizes and counts
    "emb_size": _AT_LEAST_1,
    "hidden_size": _AT_LEAST_1,
    "num_layers": _AT_LEAST_1,
    "batch_size": _AT_LEAST_1,
    "bptt": _AT_LEAST_1,
    "epochs": _AT_LEAST_1,
    "min_freq": _AT_LEAST_1,
    "sp_vocab_size": _AT_LEAST_1,
    "max_size": _AT_LEAST_0,  # 0 = no limit
    "max_tokens": _AT_LEAST_0,  # 0 = all
    "position_size": _AT_LEAST_0,  # 0 = none
    "plateau_patience": _AT_LEAST_0,
    "early_stop": _AT_LEAST_0,  # 0 = never
    "eval_every": _AT_LEAST_0,  # 0 = each epoch
    "warmup_steps": _AT_LEAST_0,  # 0 = no step warm-up
    "num_threads": _AT_LEAST_0,  # 0 = automatic
    "seed": _AT_LEAST_0,
    # rates, fractions, times
    "lr": _ABOVE_0,
    "min_lr": _AT_LEAST_0,
    "weight_decay": _AT_LEAST_0,
    "clip": _AT_LEAST_0,  # 0 = no clipping
    "max_time": _ABOVE_0,  # None = no limit
    "save_every": _AT_LEAST_0,  # 0 = a snapshot after every step
    "log_interval": _AT_LEAST_0,  # 0 = no progress lines nor training-loss records
    "lr_decay": (0, False, 1, True),
    "warmup": (0, True, 1, False),
    "cooldown": (0, True, 1, True),
    "dropout": (0, True, 1, False),
    "valid_fraction": (0, False, 1, False),
    "sp_character_coverage": (0, False, 1, True),
    # NER
    "char_emb_size": _AT_LEAST_1,
    "char_hidden_size": _AT_LEAST_1,
    "word_dropout": (0, True, 1, False),
    # translation
    "batch_tokens": _AT_LEAST_1,
    "max_len": _AT_LEAST_0,  # 0 = no limit
    "label_smoothing": (0, True, 1, False),
    "show_examples": _AT_LEAST_0,
    # distillation (`temperature` is DistillConfig's alone: sampling's may be 0)
    "weight": (0, True, 1, True),
    "distill_beam": _AT_LEAST_1,
}

_DEVICES = "auto, cpu, cuda, cuda:N or mps"


def check_config(
    cfg: Any,
    prefix: str = "",
    name_of: Callable[[str], str] | None = None,
    skip: tuple[str, ...] = (),
) -> None:
    """Reject values outside their allowed set or range, naming the setting.

    Choices are normalised to lower case in place. `name_of` turns a dotted key
    into the name the user gave it (a flag, or the key in a YAML file); by default
    the key itself. `skip` names dotted keys (or whole sections) left unchecked.
    """
    name_of = name_of or (lambda key: key)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        if key in skip:
            continue
        if dataclasses.is_dataclass(value):
            check_config(value, prefix=f"{key}.", name_of=name_of, skip=skip)
        elif value is None or isinstance(value, bool):
            continue
        elif f.name in _CHOICES or f.name == "device":
            setattr(cfg, f.name, _check_choice(f.name, value, name_of(key)))
        elif f.name in _RANGES:
            _check_range(value, _RANGES[f.name], name_of(key))
        elif f.name == "adaptive_cutoffs":
            _check_cutoffs(value, name_of(key))
    if isinstance(cfg, DistillConfig):
        _check_distill(cfg, prefix, name_of)
    if isinstance(cfg, LMConfig) and cfg.model.bidirectional:
        raise ConfigError(
            "a language model reads left to right: "
            f"{name_of(prefix + 'model.bidirectional')} must be false"
        )


def _check_distill(
    cfg: DistillConfig, prefix: str, name_of: Callable[[str], str]
) -> None:
    if not cfg.temperature > 0:
        name = name_of(prefix + "temperature")
        raise ConfigError(f"{name} must be above 0, got {cfg.temperature}")
    if cfg.unlabeled_path and not cfg.teachers:
        raise ConfigError(
            f"{name_of(prefix + 'unlabeled_path')}: unlabeled text needs teachers "
            "to label it (--teacher)"
        )


def _check_choice(field_name: str, value: str, name: str) -> str:
    lowered = value.strip().lower()
    if field_name == "device":
        if not valid_device(lowered):
            raise device_error(value, name)
        return lowered
    choices = _CHOICES[field_name]
    if lowered not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return lowered


def _check_range(value: float, rule: _Range, name: str) -> None:
    low, low_ok, high, high_ok = rule
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number (got {value})")
    bad_low = low is not None and (value < low if low_ok else value <= low)
    bad_high = high is not None and (value > high if high_ok else value >= high)
    if not (bad_low or bad_high):
        return
    if high is None:
        raise ConfigError(
            f"{name} must be {'>=' if low_ok else '>'} {low} (got {value})"
        )
    interval = f"{'[' if low_ok else '('}{low}, {high}{']' if high_ok else ')'}"
    raise ConfigError(f"{name} must be in {interval} (got {value})")


def _check_cutoffs(value: list[int], name: str) -> None:
    if any(c < 1 for c in value) or any(
        a >= b for a, b in zip(value, value[1:], strict=False)
    ):
        raise ConfigError(f"{name} must be positive and increasing (got {value})")


def valid_device(value: str) -> bool:
    """Whether `value` (lower case) names a device form seqcli knows."""
    if value in ("auto", "cpu", "cuda", "mps"):
        return True
    return value.startswith("cuda:") and value[5:].isdigit()


def device_error(value: str, name: str = "--device") -> ConfigError:
    """The error for a device name that is not one seqcli knows."""
    return ConfigError(f"{name} must be {_DEVICES} (got {value!r})")
