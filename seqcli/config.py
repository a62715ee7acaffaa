"""Every tunable value of every task, as dataclasses, and `load_config`.

Must not import torch.

Defaults live here and only here. Precedence: dataclass defaults < YAML file given
with ``--config`` < flags given on the command line. YAML mirrors the nesting of the
dataclasses (``model: {cell: gru}``, ``train: {epochs: 5}``); overrides use dotted
keys (``model.cell``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from seqcli.errors import ConfigError

C = TypeVar("C")


@dataclass
class RecurrentConfig:
    """The shared backbone: embedding + a stack of RNN/GRU/LSTM layers."""

    cell: str = "lstm"  # rnn (Elman, tanh) | gru | lstm
    emb_size: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    dropout: float = 0.2
    bidirectional: bool = False


@dataclass
class TrainConfig:
    """The one training loop's settings, shared by every task."""

    epochs: int = 20
    batch_size: int = 20
    optimizer: str = "adam"  # adam | sgd
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip: float = 0.25  # max gradient norm; 0 turns clipping off
    lr_decay: float = 0.25  # multiply the lr by this when the metric stops improving
    plateau_patience: int = 0  # evaluations without improvement before decaying
    min_lr: float = 1e-5
    early_stop: int = 3  # evaluations without improvement before stopping; 0 = never
    max_time: float | None = None  # minutes
    eval_every: int = 0  # steps between evaluations (and the last); 0 = each epoch
    save_every: float = 2.0  # minutes between resume snapshots (.last.pt)
    seed: int = 1
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    num_threads: int = 0  # torch CPU threads; 0 = measured (seqcli/threads.py)
    # plateau: decay on evaluations without gain (lr_decay, plateau_patience);
    # linear: from lr down to min_lr over all epochs' steps (word2vec's SGD schedule);
    # budget: warm up, hold lr, then decay linearly to min_lr over the last
    # `cooldown` share of max_time (a run cut by its time budget ends at a small lr
    # instead of wherever plateau decay had got to);
    # auto: budget when max_time is set, else plateau
    lr_schedule: str = "plateau"
    warmup: float = 0.02  # budget schedule: share of max_time spent warming up
    cooldown: float = 0.3  # budget schedule: share of max_time spent decaying


# A language model's softmax "auto" turns adaptive above this many vocabulary
# entries: below it a full softmax costs little and predicts slightly better.
ADAPTIVE_SOFTMAX_ABOVE = 10_000


@dataclass
class TokenizerConfig:
    """How text becomes tokens and tokens become ids."""

    level: str = "word"  # word | char | subword
    lowercase: bool | None = None  # None: if the training text has no capitals
    word_split: str = "ptb"  # ptb (punctuation and clitics split off) | whitespace
    reverse: bool = False  # read each line right to left (a backward LM)
    min_freq: int = 1
    max_size: int = 0  # 0 = no limit
    sp_model_type: str = "bpe"  # bpe | unigram (subword level)
    sp_vocab_size: int = 4000  # the one default: train-lm and `tokenize train`
    sp_character_coverage: float = 1.0


def _lm_model() -> RecurrentConfig:
    # Light dropout: a run of a few epochs (what a CPU budget buys) underfits more
    # than it overfits (5-minute WikiText-2 probes: lower perplexity per token seen
    # with 0.1 than with 0.2; exploratory, not a benchmark figure).
    return RecurrentConfig(dropout=0.1)


def _lm_train() -> TrainConfig:
    # Batch 40 trained more tokens/s than 20 in CPU probes (fewer per-step costs:
    # the dense Adam update of the 33k-word embedding); "auto" holds the lr and
    # cools it down over the last 30% of --max-time when one is given.
    return TrainConfig(batch_size=40, lr_schedule="auto")


@dataclass
class LMConfig:
    """A language model: `seqcli train-lm`."""

    train_path: str = ""
    valid_path: str | None = None
    test_path: str | None = None
    valid_fraction: float = 0.05  # carved from the end of train when no valid file
    out: str | None = None
    bptt: int = 35
    softmax: str = "auto"  # auto | full | adaptive
    adaptive_cutoffs: list[int] = field(
        default_factory=list
    )  # [] = chosen from vocab size
    tie_weights: bool = True
    init_from: str | None = None  # a seqcli LM to fine-tune on this corpus
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: RecurrentConfig = field(default_factory=_lm_model)
    train: TrainConfig = field(default_factory=_lm_train)


@dataclass
class SampleConfig:
    """Drawing text from a language model: `seqcli sample`, `lm_inference.sample`."""

    num: int = 1
    max_length: int = 100  # tokens generated at most
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = all tokens
    top_p: float = 1.0
    min_length: int = 1  # shortest sample in tokens, the prompt's included


@dataclass
class ClassifyConfig:
    """Labelling texts with a trained classifier: `seqcli classify`."""

    # Inference holds no gradients: batches much larger than training's are cheap.
    batch_size: int = 256


def _sentiment_model() -> RecurrentConfig:
    # Reading a whole sentence before deciding: both directions help.
    return RecurrentConfig(
        emb_size=100, hidden_size=128, num_layers=1, dropout=0.5, bidirectional=True
    )


def _sentiment_train() -> TrainConfig:
    return TrainConfig(epochs=10, batch_size=32, lr=1e-3, clip=5.0, early_stop=3)


@dataclass
class SentimentConfig:
    """A sentence/document classifier: `seqcli train-sentiment`."""

    train_path: str = ""
    valid_path: str | None = None
    test_path: str | None = None
    valid_fraction: float = 0.1  # held out of train (per label) when no valid file
    out: str | None = None
    data_format: str = "auto"  # auto (by extension) | tsv | csv | jsonl | fasta
    fasta_labels: str | None = None  # id<TAB>label lines, for FASTA without labels
    text_column: str = "auto"  # a name, a 1-based position, or auto
    label_column: str = "auto"
    header: str = "auto"  # auto | yes | no
    clean: bool = False  # web text: strip HTML, split punctuation and clitics (PTB)
    max_tokens: int = 0  # keep the first N tokens of each text; 0 = all
    pooling: str = "max"  # last | max | mean | attention | concat
    text_encoder: str = "rnn"  # rnn | average (mean of the embeddings, no RNN)
    position_size: int = 0  # a learnt position embedding beside each token; 0 = none
    class_weights: str = "none"  # none | auto (inverse class frequency)
    select_metric: str = "accuracy"  # accuracy | macro_f1
    init_from: str | None = None  # a seqcli language-model checkpoint
    extend_vocab: bool = False  # init_from: add training words the LM never saw
    embeddings: str | None = None  # word vectors, word2vec/GloVe text format
    freeze_embeddings: bool = False
    bucket: bool = True  # batch texts of similar length together
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: RecurrentConfig = field(default_factory=_sentiment_model)
    train: TrainConfig = field(default_factory=_sentiment_train)


def _embeddings_train() -> TrainConfig:
    # word2vec's recipe: plain SGD (sparse updates) decayed linearly, a few epochs,
    # no clipping, no early stopping. lr is per pair, as word2vec's (nn/skipgram.py).
    return TrainConfig(
        epochs=5,
        batch_size=4096,
        optimizer="sgd",
        lr=0.025,
        clip=0.0,
        early_stop=0,
        lr_schedule="linear",
    )


@dataclass
class EmbeddingsConfig:
    """Word vectors by skip-gram with negative sampling: `seqcli train-embeddings`."""

    train_path: str = ""
    out: str | None = None
    emb_size: int = 100
    window: int = 5  # context words each side at most (shrunk at random per word)
    negatives: int = 5  # negative samples per pair, from unigram counts ^ 3/4
    subsample: float = 1e-4  # frequent-word subsampling threshold t; 0 = off
    tokenizer: TokenizerConfig = field(
        default_factory=lambda: TokenizerConfig(min_freq=5)
    )
    train: TrainConfig = field(default_factory=_embeddings_train)


def _translation_tokenizer() -> TokenizerConfig:
    # Words seen once are mostly names and typos: <unk> costs less than their rows.
    return TokenizerConfig(min_freq=2)


def _translation_model() -> RecurrentConfig:
    # One GRU layer each way of 256 units: on a CPU, the best quality per second
    # of training on a Multi30k-sized corpus (docs/BENCHMARKS.md).
    return RecurrentConfig(
        cell="gru", emb_size=256, hidden_size=256, num_layers=1, dropout=0.2
    )


def _translation_train() -> TrainConfig:
    return TrainConfig(
        epochs=30, lr=2e-3, clip=1.0, lr_decay=0.5, plateau_patience=0, early_stop=4
    )


@dataclass
class TranslationConfig:
    """An attentional encoder-decoder: `seqcli train-translate`."""

    src_path: str = ""  # parallel files, one sentence per line ...
    tgt_path: str = ""
    pairs_path: str | None = None  # ... or one two-column TSV/CSV/JSONL file
    valid_src_path: str = ""
    valid_tgt_path: str = ""
    test_src_path: str | None = None
    test_tgt_path: str | None = None
    data_format: str = "auto"  # of a pairs file: auto | tsv | csv | jsonl
    out: str | None = None
    max_len: int = 80  # drop training pairs with a side longer (tokens); 0 = none
    # Target tokens per training batch. A CPU computes a token about as fast in
    # small batches as in large ones, and small ones give more updates.
    batch_tokens: int = 600
    # bahdanau | dot | general. Bahdanau's additive attention reads the source
    # before each step, so the decoder knows where it is: it learns alignments
    # in far fewer updates than Luong's without input feeding, for ~5% more time.
    attention: str = "bahdanau"
    input_feeding: bool = False  # Luong's; slower on a CPU (a loop over time)
    tie_embeddings: bool = True  # output layer shares the target embeddings
    label_smoothing: float = 0.1
    select: str = "bleu"  # bleu | loss: the validation metric that picks the best
    joint_vocab: bool = False  # subword: one SentencePiece model for both sides
    show_examples: int = 3  # validation translations shown at each evaluation
    tokenizer: TokenizerConfig = field(default_factory=_translation_tokenizer)
    model: RecurrentConfig = field(default_factory=_translation_model)
    train: TrainConfig = field(default_factory=_translation_train)


@dataclass
class TranslateConfig:
    """Decoding with a trained translation model: `seqcli translate`."""

    beam: int = 5  # 1 = greedy search
    alpha: float = 1.0  # length normalisation: score = log P / T^alpha
    max_len_ratio: float = 2.0  # output tokens at most: ratio x source tokens + 10
    min_len: int = 1  # output tokens before <eos> is allowed
    n_best: int = 1
    batch_size: int = 64  # most sentences decoded together (batches share them evenly)


def _ner_model() -> RecurrentConfig:
    # One bidirectional layer over 100-d words (Lample et al., 2016): a second layer
    # costs twice the CPU time for little gain on CoNLL-2003.
    return RecurrentConfig(
        emb_size=100, hidden_size=200, num_layers=1, dropout=0.5, bidirectional=True
    )


def _ner_tokenizer() -> TokenizerConfig:
    # Words are looked up lowercased; characters and the casing feature keep case.
    return TokenizerConfig(lowercase=True)


def _ner_train() -> TrainConfig:
    # Batches of 32 sentences train ~50% more tokens per CPU-second than 16 (see
    # docs/BENCHMARKS.md); the lr halves after two validations without a gain.
    return TrainConfig(
        epochs=50,
        batch_size=32,
        lr=2e-3,
        clip=5.0,
        lr_decay=0.5,
        plateau_patience=1,
        early_stop=5,
    )


@dataclass
class NerConfig:
    """A named-entity tagger: `seqcli train-ner`."""

    train_path: str = ""
    valid_path: str = ""
    test_path: str | None = None
    out: str | None = None
    token_column: int = 1  # 1-based; negative counts from the end
    tag_column: int = -1  # 1-based; -1 = the last column
    scheme: str = "auto"  # the files' tag scheme: auto | iob1 | iob2 | bioes
    train_scheme: str = "bioes"  # the scheme the network predicts
    char_features: str = "cnn"  # cnn | lstm | none
    char_emb_size: int = 30
    char_hidden_size: int = 50  # CNN filters, or LSTM units per direction
    casing: bool = True  # the small casing feature of each word
    decoder: str = "crf"  # crf | softmax
    normalize_digits: bool = True  # words are looked up with every digit read as 0
    word_dropout: float = 0.5  # p of reading a training singleton as <unk>
    init_from: str | None = None  # a seqcli word language model
    init_from_backward: str | None = None  # a backward one (train-lm --reverse)
    embeddings: str | None = None  # word vectors, word2vec/GloVe text format
    freeze_embeddings: bool = False
    tokenizer: TokenizerConfig = field(default_factory=_ner_tokenizer)
    model: RecurrentConfig = field(default_factory=_ner_model)
    train: TrainConfig = field(default_factory=_ner_train)


@dataclass
class TagConfig:
    """Tagging text with a trained NER model: `seqcli tag`."""

    batch_size: int = 64  # sentences per batch (64 tagged faster than 128 or 256)
    n_best: int = 1


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

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
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


# --- validation ------------------------------------------------------------------
# Per-field rules, keyed by field name (the same name means the same thing in every
# config). A choice is matched in any case and stored in lower case.
_CHOICES: dict[str, tuple[str, ...]] = {
    "cell": ("rnn", "gru", "lstm"),
    "optimizer": ("adam", "sgd"),
    "lr_schedule": ("plateau", "linear", "budget", "auto"),
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
    "num_threads": _AT_LEAST_0,  # 0 = automatic
    "seed": _AT_LEAST_0,
    # rates, fractions, times
    "lr": _ABOVE_0,
    "min_lr": _AT_LEAST_0,
    "weight_decay": _AT_LEAST_0,
    "clip": _AT_LEAST_0,  # 0 = no clipping
    "max_time": _ABOVE_0,  # None = no limit
    "save_every": _AT_LEAST_0,  # 0 = a snapshot after every step
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
    if isinstance(cfg, LMConfig) and cfg.model.bidirectional:
        raise ConfigError(
            "a language model reads left to right: "
            f"{name_of(prefix + 'model.bidirectional')} must be false"
        )


def checked_from_dict(cls: type[C], data: dict[str, Any], *, source: str) -> C:
    """`from_dict` and `check_config` of stored settings (a checkpoint's config).

    The training settings are not checked: they do not shape the network, and a
    run started through the Python API may have used values the CLI refuses.
    """
    cfg = from_dict(cls, data, source=source)
    check_config(cfg, name_of=lambda key: f"{source}: {key}", skip=("train",))
    return cfg


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


def device_error(value: str, name: str = "--device") -> ConfigError:
    """The error for a device name that is not one seqcli knows."""
    return ConfigError(f"{name} must be {_DEVICES} (got {value!r})")


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
