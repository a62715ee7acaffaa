"""Every tunable value of every task, as dataclasses, and `load_config`.

Must not import torch.

Defaults live here and only here. Precedence: dataclass defaults < YAML file given
with ``--config`` < flags given on the command line. YAML mirrors the nesting of the
dataclasses (``model: {cell: gru}``, ``train: {epochs: 5}``); overrides use dotted
keys (``model.cell``).

settings  the dataclasses and their defaults (one config per task)
loading   load_config: YAML, flags and stored configs -> a checked dataclass
checks    the allowed values of settings (choices, ranges, devices)

Every public name is importable from here (``from seqcli.config import LMConfig,
load_config``).
"""

from seqcli.config.checks import check_config, device_error, valid_device
from seqcli.config.loading import (
    checked_from_dict,
    config_changes,
    default_of,
    flag_of,
    from_dict,
    has_key,
    load_config,
    to_dict,
)
from seqcli.config.settings import (
    ADAPTIVE_SOFTMAX_ABOVE,
    ClassifyConfig,
    DistillConfig,
    EmbeddingsConfig,
    LMConfig,
    NerConfig,
    RecurrentConfig,
    SampleConfig,
    SentimentConfig,
    TagConfig,
    TokenizerConfig,
    TrainConfig,
    TranslateConfig,
    TranslationConfig,
)

__all__ = [
    "ADAPTIVE_SOFTMAX_ABOVE",
    "ClassifyConfig",
    "DistillConfig",
    "EmbeddingsConfig",
    "LMConfig",
    "NerConfig",
    "RecurrentConfig",
    "SampleConfig",
    "SentimentConfig",
    "TagConfig",
    "TokenizerConfig",
    "TrainConfig",
    "TranslateConfig",
    "TranslationConfig",
    "check_config",
    "checked_from_dict",
    "config_changes",
    "default_of",
    "device_error",
    "flag_of",
    "from_dict",
    "has_key",
    "load_config",
    "to_dict",
    "valid_device",
]
