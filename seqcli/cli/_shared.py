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
            from rich.console import Console

            self._real = Console(stderr=self._stderr, highlight=False)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


err_console = _LazyConsole(stderr=True)
out_console = _LazyConsole(stderr=False)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn a SeqcliError into one red line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SeqcliError as exc:
            from rich.markup import escape

            # escape: a message may hold brackets ("pip install seqcli[plot]").
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, markup=True
            )
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(code=130) from None
        except BrokenPipeError:
            # `seqcli sample | head` closes the pipe early: that is not an error.
            sys.stderr.close()
            raise typer.Exit(code=0) from None

    return wrapper  # type: ignore[return-value]


# --- options shared by the training commands ------------------------------------
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML file of settings; flags override it.",
        dir_okay=False,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Checkpoint to write (default: models/<task>-<time>.pt).",
        dir_okay=False,  # else training would fail at its first save
    ),
]
EpochsOpt = Annotated[
    int | None, typer.Option("--epochs", help="Maximum passes over the data.")
]
MaxTimeOpt = Annotated[
    float | None,
    typer.Option("--max-time", help="Stop training after this many minutes."),
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
    bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")
]

# --- options shared by the inference commands -----------------------------------
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Checkpoint to use (default: newest fitting one in models/).",
        dir_okay=False,
    ),
]
ModelsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--model",
        "-m",
        help="Checkpoint to use (default: newest fitting one in models/); repeat "
        "it to average the class probabilities of an ensemble.",
        dir_okay=False,
    ),
]


# --- network and optimiser options of the training commands ----------------------
class NetworkOpts:
    """The tokenizer, network and optimiser options every `train-*` command has, as
    aliases whose help shows the defaults of the task's own config (`cls`)."""

    def __init__(self, cls: type) -> None:
        from seqcli.config import default_of

        def d(key: str) -> str:
            return f"(default: {default_of(cls, key)})"

        self.level = Annotated[
            str | None,
            typer.Option(help=f"word, char or subword. {d('tokenizer.level')}"),
        ]
        self.lowercase = Annotated[
            bool | None,
            typer.Option(
                "--lowercase/--keep-case", help="Lowercase text before tokenizing."
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
