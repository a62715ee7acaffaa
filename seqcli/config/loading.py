"""From YAML, flags and stored configs to a checked config dataclass, and back.

`load_config` resolves defaults < a stored config (a resumed run's) < the YAML
file given with ``--config`` < flags, naming a bad setting as the user gave it.
Keys and types are checked here, values by `seqcli.config.checks`. Must not
import torch.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from seqcli.config.checks import check_config
from seqcli.errors import ConfigError

C = TypeVar("C")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a config (what the checkpoint stores)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[C], data: dict[str, Any], *, source: str = "config") -> C:
    """Build a config dataclass from nested plain data, checking keys and types."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of settings, got {type(data).__name__}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            valid = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key {key!r}; valid keys: {valid}")
        value = _with_field_defaults(fields[key], value)
        kwargs[key] = _coerce(hints[key], value, f"{source}.{key}" if source else key)
    return cls(**kwargs)


def _with_field_defaults(f: dataclasses.Field, value: Any) -> Any:
    """A partial nested mapping on top of the field's own default instance.

    A task may give a nested config task-specific defaults (the classifier's
    backbone is bidirectional); ``model: {cell: gru}`` must keep them rather than
    fall back to the nested class's defaults.
    """
    factory = f.default_factory
    if not isinstance(value, dict) or factory is dataclasses.MISSING:
        return value
    default = factory()
    if not dataclasses.is_dataclass(default):
        return value
    merged = dataclasses.asdict(default)
    _merge(merged, value)
    return merged


def load_config(
    cls: type[C],
    yaml_path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    base: dict[str, Any] | None = None,
) -> C:
    """Resolve a config: defaults < `base` < YAML file < overrides.

    Args:
        base: a stored config (a resumed run's), as nested plain data.
        overrides: dotted keys (``model.cell``); None values mean "not given".
    """
    data: dict[str, Any] = copy.deepcopy(base) if base else {}
    yaml_data = _read_yaml(Path(yaml_path)) if yaml_path is not None else {}
    _merge(data, copy.deepcopy(yaml_data))
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    cfg = from_dict(cls, data, source=str(yaml_path) if yaml_path else "config")
    given = {k for k, v in (overrides or {}).items() if v is not None}

    def name_of(key: str) -> str:
        # Name a setting as the user gave it: the flag, the YAML key and its file,
        # or the key of the resumed run's stored config.
        if key in given:
            return flag_of(key)
        if _has_dotted(yaml_data, key):
            return f"{key} in {yaml_path}"
        if base and _has_dotted(base, key):
            return f"{key} (stored in the resumed run)"
        return key

    check_config(cfg, name_of=name_of)
    return cfg


# The flags whose names are not their config key's last part, dashed.
_FLAG_NAMES = {
    "train_path": "the training file",
    "valid_path": "--valid",
    "test_path": "--test",
    "data_format": "--format",
    "select_metric": "--select",
    "text_encoder": "--encoder",
    "tokenizer.max_size": "--max-vocab",
    "tokenizer.word_split": "--word-tokenizer",
    "src_path": "SRC_FILE",
    "tgt_path": "TGT_FILE",
    "pairs_path": "--pairs",
    "valid_src_path": "--valid-src",
    "valid_tgt_path": "--valid-tgt",
    "test_src_path": "--test-src",
    "test_tgt_path": "--test-tgt",
    "distill.teachers": "--teacher",
    "distill.weight": "--distill-weight",
    "distill.temperature": "--distill-temperature",
    "distill.unlabeled_path": "--unlabeled",
}


def flag_of(key: str) -> str:
    """The command-line flag that sets a dotted config key (``train.lr`` -> --lr)."""
    return _FLAG_NAMES.get(key, "--" + key.rsplit(".", 1)[-1].replace("_", "-"))


def _has_dotted(data: dict[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    from seqcli.errors import DataFormatError
    from seqcli.readers import read_lines

    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:  # the one read path: a byte-order mark dropped, NUL and bad bytes refused
        text = "\n".join(line.text for line in read_lines(path))
    except DataFormatError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML") from None
    except RecursionError:  # PyYAML builds nested collections recursively
        raise ConfigError(f"{path}: not valid YAML (nested too deeply)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return  # the YAML put a non-mapping here; from_dict reports it by name
    node[last] = value


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check `value` against a type hint; convert only int -> float."""
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, source=where)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(hint)}, got {value!r}")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _type_name(hint: Any) -> str:
    return " or ".join(
        "null" if a is type(None) else getattr(a, "__name__", str(a))
        for a in typing.get_args(hint)
    )


def checked_from_dict(cls: type[C], data: dict[str, Any], *, source: str) -> C:
    """`from_dict` and `check_config` of stored settings (a checkpoint's config).

    The training settings are not checked: they do not shape the network, and a
    run started through the Python API may have used values the CLI refuses.
    """
    cfg = from_dict(cls, data, source=source)
    check_config(cfg, name_of=lambda key: f"{source}: {key}", skip=("train",))
    return cfg


def config_changes(
    old: dict[str, Any], new: dict[str, Any], prefix: str = ""
) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) of every setting that differs between two
    configs as nested plain data (`to_dict`), e.g. a snapshot's and a resumed run's."""
    changes: list[tuple[str, Any, Any]] = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append((f"{prefix}{key}", a, b))
    return changes


def has_key(cls: type, dotted: str) -> bool:
    """Whether a config class has the (nested) field `dotted`."""
    obj: Any = cls()
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(obj) or not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def default_of(cls: type, dotted: str) -> Any:
    """The default of a (nested) field, for help texts (dotted key)."""
    obj = cls()
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
