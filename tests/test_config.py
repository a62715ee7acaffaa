"""Configuration: defaults < base < YAML < overrides, and every kind of bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seqcli.config import (
    LMConfig,
    RecurrentConfig,
    TrainConfig,
    default_of,
    from_dict,
    load_config,
    to_dict,
)
from seqcli.errors import ConfigError


def yaml_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_dataclasses():
    cfg = load_config(LMConfig)
    assert cfg == LMConfig()
    assert default_of(LMConfig, "model.cell") == RecurrentConfig().cell
    assert default_of(LMConfig, "train.epochs") == TrainConfig().epochs


def test_precedence_defaults_base_yaml_overrides(tmp_path: Path):
    base = {"bptt": 10, "model": {"cell": "rnn", "emb_size": 7}}
    path = yaml_file(tmp_path, "bptt: 20\nmodel:\n  cell: gru\n")
    cfg = load_config(
        LMConfig, path, {"model.cell": "lstm", "train.lr": None}, base=base
    )
    assert cfg.bptt == 20  # yaml over base
    assert cfg.model.cell == "lstm"  # override over yaml
    assert cfg.model.emb_size == 7  # base survives a yaml that does not set it
    assert cfg.train.lr == LMConfig().train.lr  # None means "not given"
    assert base == {"bptt": 10, "model": {"cell": "rnn", "emb_size": 7}}


def test_nested_keys_and_int_to_float(tmp_path: Path):
    path = yaml_file(
        tmp_path,
        "train:\n  lr: 1\n  max_time: 2\nadaptive_cutoffs: [10, 20]\n"
        "tokenizer:\n  level: char\n",
    )
    cfg = load_config(LMConfig, path)
    assert cfg.train.lr == 1.0
    assert isinstance(cfg.train.lr, float)
    assert cfg.train.max_time == 2.0
    assert cfg.adaptive_cutoffs == [10, 20]
    assert cfg.tokenizer.level == "char"


def test_round_trip_through_a_plain_dict():
    cfg = load_config(LMConfig, None, {"model.hidden_size": 16, "valid_path": "v"})
    assert from_dict(LMConfig, to_dict(cfg)) == cfg


def test_empty_yaml_is_the_defaults(tmp_path: Path):
    assert load_config(LMConfig, yaml_file(tmp_path, "")) == LMConfig()


def test_unknown_key_lists_the_valid_keys(tmp_path: Path):
    path = yaml_file(tmp_path, "model:\n  cells: gru\n")
    with pytest.raises(ConfigError) as info:
        load_config(LMConfig, path)
    message = str(info.value)
    assert "cells" in message
    assert str(path) in message
    for key in ("cell", "emb_size", "hidden_size", "num_layers", "dropout"):
        assert key in message


def test_unknown_top_level_override_is_rejected():
    with pytest.raises(ConfigError, match="unknown key 'nonsense'"):
        load_config(LMConfig, None, {"nonsense": 1})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("bptt: ten\n", "bptt"),
        ("bptt: 3.5\n", "bptt"),
        ("tie_weights: 1\n", "tie_weights"),
        ("train:\n  epochs: true\n", "train.epochs"),
        ("train:\n  lr: fast\n", "train.lr"),
        ("adaptive_cutoffs: 10\n", "adaptive_cutoffs"),
        ("adaptive_cutoffs: [10, x]\n", "adaptive_cutoffs[1]"),
        ("model: gru\n", "model"),
        ("valid_path: 3\n", "valid_path"),
    ],
)
def test_wrong_types_are_rejected_naming_the_key(tmp_path: Path, text: str, key: str):
    with pytest.raises(ConfigError, match=re.escape(f".{key}: ")):
        load_config(LMConfig, yaml_file(tmp_path, text))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model.cell": "foo"}, "--cell must be one of rnn, gru, lstm (got 'foo')"),
        ({"tokenizer.level": "byte"}, "--level must be one of word, char, subword"),
        ({"train.optimizer": "rmsprop"}, "--optimizer must be one of adam, sgd"),
        ({"softmax": "sparse"}, "--softmax must be one of auto, full, adaptive"),
        ({"model.dropout": 1.0}, "--dropout must be in [0, 1) (got 1.0)"),
        ({"model.dropout": -0.1}, "--dropout must be in [0, 1) (got -0.1)"),
        ({"model.hidden_size": 0}, "--hidden-size must be >= 1 (got 0)"),
        ({"model.emb_size": -3}, "--emb-size must be >= 1 (got -3)"),
        ({"model.num_layers": 0}, "--num-layers must be >= 1 (got 0)"),
        ({"train.batch_size": 0}, "--batch-size must be >= 1 (got 0)"),
        ({"bptt": 0}, "--bptt must be >= 1 (got 0)"),
        ({"train.epochs": 0}, "--epochs must be >= 1 (got 0)"),
        ({"train.max_time": -1.0}, "--max-time must be > 0 (got -1.0)"),
        ({"train.max_time": 0.0}, "--max-time must be > 0 (got 0.0)"),
        ({"tokenizer.min_freq": 0}, "--min-freq must be >= 1 (got 0)"),
        ({"tokenizer.max_size": -5}, "--max-vocab must be >= 0 (got -5)"),
        ({"tokenizer.sp_vocab_size": 0}, "--sp-vocab-size must be >= 1 (got 0)"),
        ({"train.clip": -1.0}, "--clip must be >= 0 (got -1.0)"),
        ({"train.lr": -1.0}, "--lr must be > 0 (got -1.0)"),
        ({"train.lr": 0.0}, "--lr must be > 0 (got 0.0)"),
        ({"train.lr": float("nan")}, "--lr must be a finite number (got nan)"),
        ({"train.lr": float("inf")}, "--lr must be a finite number (got inf)"),
        ({"train.seed": -1}, "--seed must be >= 0 (got -1)"),
        ({"train.device": "tpu"}, "--device must be auto, cpu, cuda, cuda:N or mps"),
        ({"train.device": "cuda:x"}, "--device must be auto, cpu, cuda, cuda:N"),
        ({"adaptive_cutoffs": [50, 20]}, "--adaptive-cutoffs must be positive and"),
    ],
)
def test_impossible_values_are_rejected_naming_the_flag(overrides: dict, message: str):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(LMConfig, None, overrides)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train:\n  save_every: -1\n", "train.save_every in {} must be >= 0 (got -1"),
        ("train:\n  lr: 0\n", "train.lr in {} must be > 0 (got 0"),
        ("train:\n  lr_decay: 1.5\n", "train.lr_decay in {} must be in (0, 1]"),
        ("train:\n  early_stop: -1\n", "train.early_stop in {} must be >= 0"),
        ("train:\n  weight_decay: -1\n", "train.weight_decay in {} must be >= 0"),
        ("valid_fraction: 1.0\n", "valid_fraction in {} must be in (0, 1)"),
        ("model:\n  cell: foo\n", "model.cell in {} must be one of rnn, gru, lstm"),
    ],
)
def test_bad_yaml_values_name_the_key_and_file(tmp_path: Path, text: str, message: str):
    path = yaml_file(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(message.format(path))):
        load_config(LMConfig, path)


def test_a_flag_is_named_rather_than_the_yaml_key_it_overrides(tmp_path: Path):
    path = yaml_file(tmp_path, "train:\n  lr: 0.1\n  epochs: 0\n")
    with pytest.raises(ConfigError, match=re.escape("--lr must be > 0")):
        load_config(LMConfig, path, {"train.lr": -2.0, "train.epochs": 3})
    with pytest.raises(ConfigError, match=re.escape(f"train.epochs in {path}")):
        load_config(LMConfig, path, {"train.lr": 2.0})


def test_a_resumed_runs_stored_value_is_named_as_such():
    with pytest.raises(ConfigError, match=re.escape("train.lr (stored in the resumed")):
        load_config(LMConfig, None, {}, base={"train": {"lr": -1.0}})


def test_choices_are_accepted_in_any_case_and_stored_lower_case():
    cfg = load_config(
        LMConfig,
        None,
        {
            "model.cell": "LSTM",
            "tokenizer.level": "Char",
            "train.optimizer": "SGD",
            "softmax": "Full",
            "train.device": "CPU",
        },
    )
    assert (cfg.model.cell, cfg.tokenizer.level, cfg.train.optimizer) == (
        "lstm",
        "char",
        "sgd",
    )
    assert (cfg.softmax, cfg.train.device) == ("full", "cpu")


def test_a_bidirectional_language_model_is_a_config_error(tmp_path: Path):
    path = yaml_file(tmp_path, "model:\n  bidirectional: true\n")
    with pytest.raises(ConfigError) as info:
        load_config(LMConfig, path)
    assert str(info.value) == (
        "a language model reads left to right: "
        f"model.bidirectional in {path} must be false"
    )


def test_cuda_index_is_a_valid_device():
    assert load_config(LMConfig, None, {"train.device": "cuda:1"}).train.device == (
        "cuda:1"
    )


def test_override_below_a_non_mapping_yaml_value(tmp_path: Path):
    # A flag (model.cell) must not hide that the file's `model:` is not a mapping.
    path = yaml_file(tmp_path, "model: gru\n")
    with pytest.raises(ConfigError, match="model: expected a mapping"):
        load_config(LMConfig, path, {"model.cell": "lstm"})


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("model: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_yaml_files(tmp_path: Path, content: str, fragment: str):
    with pytest.raises(ConfigError, match=fragment):
        load_config(LMConfig, yaml_file(tmp_path, content))


def test_missing_and_non_utf8_yaml(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(LMConfig, tmp_path / "missing.yaml")
    path = tmp_path / "latin1.yaml"
    path.write_bytes("bptt: 5 # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(LMConfig, path)


# --- every default written once, in the config dataclasses ------------------------
def _defaults(func) -> dict[str, object]:
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_sentencepiece_defaults_are_the_configs() -> None:
    from seqcli.cli.tokenization import train as cli_train
    from seqcli.config import TokenizerConfig
    from seqcli.tokenizers import train_sentencepiece

    tok = TokenizerConfig()
    for func in (cli_train, train_sentencepiece):
        got = _defaults(func)
        assert got["vocab_size"] == tok.sp_vocab_size
        assert got["model_type"] == tok.sp_model_type
        assert got["character_coverage"] == tok.sp_character_coverage


def test_sampling_and_classify_defaults_are_the_configs() -> None:
    from seqcli.cli.lm import sample as cli_sample
    from seqcli.cli.sentiment import classify as cli_classify
    from seqcli.config import ClassifyConfig, SampleConfig
    from seqcli.tasks.lm_inference import sample
    from seqcli.tasks.sentiment_inference import classify

    wanted = to_dict(SampleConfig())
    for func in (cli_sample, sample):
        got = _defaults(func)
        assert {key: got[key] for key in wanted} == wanted
    batch = ClassifyConfig().batch_size
    assert _defaults(cli_classify)["batch_size"] == batch
    assert _defaults(classify)["batch_size"] == batch


def test_adaptive_softmax_threshold_is_one_constant() -> None:
    from typer.testing import CliRunner

    from seqcli.cli import app
    from seqcli.config import ADAPTIVE_SOFTMAX_ABOVE
    from seqcli.tasks.lm import build_network

    cfg = LMConfig(model=RecurrentConfig(emb_size=4, hidden_size=4, num_layers=1))
    assert build_network(cfg, ADAPTIVE_SOFTMAX_ABOVE).adaptive is None
    assert build_network(cfg, ADAPTIVE_SOFTMAX_ABOVE + 1).adaptive is not None
    result = CliRunner().invoke(app, ["train-lm", "--help"], env={"COLUMNS": "200"})
    assert f"adaptive above {ADAPTIVE_SOFTMAX_ABOVE:,} entries" in result.stdout


def test_config_changes_name_each_differing_setting_in_field_order() -> None:
    from seqcli.config import config_changes

    old = to_dict(LMConfig(train_path="a.txt"))
    new = to_dict(
        LMConfig(
            train_path="b.txt", model=RecurrentConfig(dropout=0.5, locked_dropout=True)
        )
    )
    new["train"]["epochs"] = 30
    assert config_changes(old, new) == [
        ("train_path", "a.txt", "b.txt"),
        ("model.dropout", 0.1, 0.5),
        ("train.epochs", 20, 30),
    ]
    assert config_changes(old, old) == []
