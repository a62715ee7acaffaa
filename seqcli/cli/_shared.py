"""Options, consoles and the error wrapper that every command shares.

Each shared option is defined once here as an ``Annotated`` alias so that every
command spells it the same way. Must not import torch.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from seqcli.errors import SeqcliError


# Results go to stdout as plain text (pipes); everything else goes to stderr.
class _LazyConsole:
    """A rich Console created on first use: importing rich.console costs ~30 ms,
    which `seqcli bleu` would otherwise pay at every start."""

    def __init__(self, *, stderr: bool):
        self._stderr = stderr
        self._real: Any = None

    @property
    def real(self) -> Any:
        """The rich.console.Console itself (for APIs that need the real object)."""
        if self._real is None:
            self._real = _make_console(stderr=self._stderr)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


# Wide enough for any table we print; text lines do not wrap at all (soft wrap).
_UNWRAPPED_WIDTH = 10_000


def _make_console(*, stderr: bool) -> Any:
    """A rich Console; off a terminal (a pipe, a log file) it writes whole lines.

    Off a terminal rich lays text out 80 columns wide (or $COLUMNS), which breaks
    each record of a training log in the middle; a file wants one record per line.
    """
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if console.is_terminal:
        return console
    return Console(
        stderr=stderr, highlight=False, width=_UNWRAPPED_WIDTH, soft_wrap=True
    )


err_console = _LazyConsole(stderr=True)
out_console = _LazyConsole(stderr=False)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn a SeqcliError into one red line on stderr and exit code 2.

    A failed write to stdout arrives here as an OutputError too: `seqcli.__main__`
    guards stdout once for every command.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SeqcliError as exc:
            print_error(str(exc))
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(code=130) from None
        except BrokenPipeError:
            # `seqcli sample | head` closes the pipe early: that is not an error.
            sys.stderr.close()
            raise typer.Exit(code=0) from None

    return wrapper  # type: ignore[return-value]


class OneLineErrors(TyperGroup):
    """The app's command group: a value its option's type refuses (`min=1` given 0,
    `abc` for a number) is the one `error: ...` line and exit 2, as a SeqcliError
    is, not Click's usage box. Every command and sub-command is invoked through
    here, so an option declared with `min=`/`max=` keeps the promise by itself.

    A missing argument and an unknown option keep Click's usage text: there the
    usage is the answer.
    """

    def invoke(self, ctx: Any) -> Any:
        import click

        try:
            return super().invoke(ctx)
        except click.BadParameter as exc:
            if isinstance(exc, click.MissingParameter):
                raise
            print_error(bad_value_message(exc))
            raise typer.Exit(code=2) from None


def bad_value_message(exc: Any) -> str:
    """``--max-length: 0 is not in the range x>=1`` from Click's BadParameter."""
    param = exc.param
    if param is not None and getattr(param, "opts", None):
        flag = max(param.opts, key=len)
        if getattr(param, "param_type_name", "") == "argument":
            flag = param.human_readable_name
    else:
        flag = exc.param_hint or "a value"
    return f"{flag}: {exc.message.rstrip('.')}"


def print_error(message: str) -> None:
    """The one `error: ...` line on stderr.

    The message is shown as it is, never read as markup (a file named ``[/]x``
    would otherwise crash rich), and on one line: a line break in quoted user text
    (a flag value, a YAML string, a file name) is shown escaped, as repr shows it.
    """
    from rich.text import Text

    line = Text.assemble(("error:", "bold red"), " ", one_line(message))
    err_console.print(line, soft_wrap=True)


def note_using(path: Path | str, *, quiet: bool) -> None:
    """``using models/x.pt``: the checkpoint a command picked itself (the newest
    that fits), said on stderr unless -q."""
    if not quiet:
        print_dim(f"using {path}")


def print_dim(message: str) -> None:
    """A side note on stderr (``using models/x.pt``), its text never read as markup."""
    from rich.text import Text

    err_console.print(Text(message, style="dim"), soft_wrap=True)


# What str.splitlines() breaks a line at.
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def one_line(text: str) -> str:
    """`text` with each line break written as an escape (``\\n``): one line."""
    if not any(c in _LINE_BREAKS for c in text):
        return text
    return "".join(repr(c)[1:-1] if c in _LINE_BREAKS else c for c in text)


def not_a_directory(ctx: Any, param: Any, value: Any) -> Any:
    """Typer callback of a file option: a folder given there is the one-line error,
    naming the flag and saying what to give instead."""
    flag = max(param.opts, key=len) if param.opts else param.name
    if getattr(param, "param_type_name", "") == "argument":
        flag = param.human_readable_name  # an argument is named as --help shows it
    for path in value if isinstance(value, list | tuple) else [value]:
        if path is not None and Path(path).is_dir():
            print_error(f"{flag} {path}: is a directory; give a file path")
            raise typer.Exit(code=2)
    return value


# --- options shared by the training commands ------------------------------------
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML file of settings; flags override it.",
        callback=not_a_directory,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Checkpoint to write (default: models/<task>-<level>-<time>.pt).",
        callback=not_a_directory,  # else training would fail at its first save
    ),
]
EpochsOpt = Annotated[
    int | None, typer.Option("--epochs", help="Maximum passes over the data.")
]
MaxTimeOpt = Annotated[
    float | None,
    typer.Option(
        "--max-time",
        help="Stop training after this many minutes of training (loading and the "
        "final evaluations come on top; with --resume, the total of all runs).",
    ),
]
LogIntervalOpt = Annotated[
    float | None,
    typer.Option(
        "--log-interval",
        help="Seconds between progress lines (when stderr is no terminal) and "
        "training-loss records in the metrics log; 0 = none (default: 30).",
    ),
]
TensorBoardOpt = Annotated[
    Path | None,
    typer.Option(
        "--tensorboard",
        help="Also write the training and validation scalars to this folder for "
        "TensorBoard (needs: pip install 'seqcli[tensorboard]').",
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option("--resume", help="Continue the run saved in --out (or its .last.pt)."),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Random seed, for reproducible runs.")
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")
]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Check the inputs, print the resolved config, exit."
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress, notes or tables on stderr."),
]


def not_negative(ctx: Any, param: Any, value: Any) -> Any:
    """Typer callback of a count option: a negative one is the one-line error,
    saying that 0 means automatic."""
    if value is not None and value < 0:
        flag = max(param.opts, key=len) if param.opts else param.name
        print_error(f"{flag} {value}: must be 0 (automatic) or more")
        raise typer.Exit(code=2)
    return value


ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="CPU threads for torch (default 0: the count measured fastest now).",
        callback=not_negative,
    ),
]

PrecisionOpt = Annotated[
    str | None,
    typer.Option(
        "--precision",
        help="fp32; bf16: training steps' matrix products in bfloat16 (mixed "
        "precision; fast on CPUs with AVX-512 BF16/AMX and recent GPUs; refused "
        "where a probe step fails); auto: bf16 where the hardware has it and the "
        "probe runs, else fp32 (language models' default). See docs/PRECISION.md.",
    ),
]


def plain(value: Any) -> Any:
    """A flag's value as a config holds it: a path becomes its string."""
    return str(value) if isinstance(value, Path) else value


# --- options shared by the inference commands -----------------------------------
def inference_device(
    device: str | None, threads: int | None, *, rows: int | None = None
) -> str:
    """Where an inference command computes: its --device (default cpu), with torch's
    CPU threads set from --threads (0 or not given: measured, for steps of `rows`
    rows, by the one function that sets them for training too)."""
    from seqcli.devices import resolve_device
    from seqcli.threads import PROBE_ROWS, set_threads

    set_threads(threads or 0, rows=rows or PROBE_ROWS)
    return str(resolve_device(device or "cpu"))


ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Checkpoint to use (default: newest fitting one in models/).",
        callback=not_a_directory,
    ),
]
ModelsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--model",
        "-m",
        help="Checkpoint to use (default: newest fitting one in models/); repeat "
        "it for an ensemble of classifiers (class probabilities averaged), of "
        "taggers (CRF scores averaged) or of translation models (next-token "
        "probabilities averaged).",
        callback=not_a_directory,
    ),
]


# --- network and optimiser options of the training commands ----------------------
# The config key of each flag every `train-*` command shares, by parameter name:
# a command names its parameters so, and `NetworkOpts.overrides` maps them.
SHARED_KEYS: dict[str, str] = {
    "out": "out",
    "epochs": "train.epochs",
    "max_time": "train.max_time",
    "log_interval": "train.log_interval",
    "seed": "train.seed",
    "device": "train.device",
    "threads": "train.num_threads",
    "precision": "train.precision",
    "level": "tokenizer.level",
    "lowercase": "tokenizer.lowercase",
    "word_tokenizer": "tokenizer.word_split",
    "max_vocab": "tokenizer.max_size",
    "cell": "model.cell",
    "emb_size": "model.emb_size",
    "hidden_size": "model.hidden_size",
    "num_layers": "model.num_layers",
    "dropout": "model.dropout",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
}


# --- distillation: train-ner and train-sentiment --------------------------------
def _distill_default(key: str) -> str:
    from seqcli.config import DistillConfig, default_of

    return f"(default: {default_of(DistillConfig, key)}, provisional until measured)"


CalibrateOpt = Annotated[
    bool | None,
    typer.Option(
        "--calibrate/--no-calibrate",
        help="Fit a temperature (and a two-class classifier's bias) on the "
        "validation set after training so that the probabilities match accuracy "
        "(default: on with a validation set).",
    ),
]
TeacherOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--teacher",
        help="A trained checkpoint of this task and label set to learn from; "
        "repeat it for an ensemble (its predictions averaged).",
        callback=not_a_directory,
    ),
]
DistillWeightOpt = Annotated[
    float | None,
    typer.Option(
        help="Share of the loss that follows the teachers (0 = gold labels "
        f"only, 1 = teachers only). {_distill_default('weight')}"
    ),
]
DistillTemperatureOpt = Annotated[
    float | None,
    typer.Option(
        help="Softens the teachers' and the student's distributions. "
        f"{_distill_default('temperature')}"
    ),
]
UnlabeledOpt = Annotated[
    Path | None,
    typer.Option(
        help="Raw text, one sentence per line, that the teachers label for the "
        "student (it learns from the teachers alone there).",
        callback=not_a_directory,
    ),
]


def distill_overrides(
    teacher: list[Path] | None,
    weight: float | None,
    temperature: float | None,
    unlabeled: Path | None,
) -> dict[str, Any]:
    """The config overrides of the distillation flags (None = not given)."""
    return {
        "distill.teachers": [str(t) for t in teacher] if teacher else None,
        "distill.weight": weight,
        "distill.temperature": temperature,
        "distill.unlabeled_path": plain(unlabeled),
    }


class NetworkOpts:
    """The tokenizer, network and optimiser options every `train-*` command has, as
    aliases whose help shows the defaults of the task's own config (`cls`)."""

    @staticmethod
    def overrides(flags: dict[str, Any], cls: type | None = None) -> dict[str, Any]:
        """The config overrides of the shared flags among a command's parameters
        (``locals()`` of its body): dotted config keys, paths as strings.

        With `cls`, only the keys that config has: a task whose own flag has a
        shared flag's name (train-embeddings' --emb-size is no `model.` setting)
        maps it itself.
        """
        from seqcli.config import has_key

        return {
            key: plain(flags[name])
            for name, key in SHARED_KEYS.items()
            if name in flags and (cls is None or has_key(cls, key))
        }

    def __init__(self, cls: type) -> None:
        self.cls = cls
        d = self.default

        self.level = Annotated[
            str | None,
            typer.Option(help=f"word, char or subword. {d('tokenizer.level')}"),
        ]
        self.lowercase = Annotated[
            bool | None,
            typer.Option(
                "--lowercase/--keep-case",
                help="Lowercase text before tokenizing (default: when the training "
                "text has no capitals).",
            ),
        ]
        self.word_tokenizer = Annotated[
            str | None,
            typer.Option(
                help="ptb (split punctuation and clitics: it's -> it 's) or "
                f"whitespace. {d('tokenizer.word_split')}"
            ),
        ]
        self.max_vocab = Annotated[
            int | None, typer.Option(help="Vocabulary size cap (0 = none).")
        ]
        self.cell = Annotated[
            str | None, typer.Option(help=f"rnn, gru or lstm. {d('model.cell')}")
        ]
        self.emb_size = Annotated[int | None, typer.Option(help=d("model.emb_size"))]
        self.hidden_size = Annotated[
            int | None, typer.Option(help=d("model.hidden_size"))
        ]
        self.num_layers = Annotated[
            int | None, typer.Option(help=d("model.num_layers"))
        ]
        self.dropout = Annotated[float | None, typer.Option(help=d("model.dropout"))]
        self.batch_size = Annotated[
            int | None, typer.Option(help=d("train.batch_size"))
        ]
        self.lr = Annotated[
            float | None, typer.Option(help=f"Learning rate. {d('train.lr')}")
        ]

    def default(self, key: str) -> str:
        """``(default: X)`` for a help text: `key`'s default in the task's config."""
        from seqcli.config import default_of

        return f"(default: {default_of(self.cls, key)})"
