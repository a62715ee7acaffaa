"""The Typer application: builds `app` from the command table and runs it.

Must not import torch: each command imports what it needs inside its body. The
command modules themselves are imported only when needed: `seqcli bleu ...` loads
the bleu module alone (start-up time is what a user of `bleu` feels), while
`seqcli --help` and `seqcli.cli.app` (tests, `python -m seqcli`) load them all.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer

from seqcli import __version__

# command name -> (module under seqcli.cli, attribute). A Typer sub-app (`tokenize`)
# is registered as a group; everything else as a command, in this order in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "tokenize": ("tokenization", "app"),
    "train-lm": ("lm", "train_lm"),
    "sample": ("lm", "sample"),
    "score": ("lm", "score"),
    "train-sentiment": ("sentiment", "train_sentiment"),
    # The same command: DNA, topics, ... are classified too, not only sentiment.
    "train-classifier": ("sentiment", "train_sentiment"),
    "classify": ("sentiment", "classify"),
    "train-embeddings": ("embeddings", "train_embeddings"),
    "embeddings": ("embeddings", "app"),
    "train-translate": ("translation", "train_translate"),
    "translate": ("translation", "translate"),
    "train-ner": ("ner", "train_ner"),
    "tag": ("ner", "tag"),
    "bleu": ("bleu", "bleu"),
    "info": ("inspection", "info"),
    "evaluate": ("inspection", "evaluate"),
    "plot": ("plotting", "plot"),
}


def _version(value: bool) -> None:
    if value:
        print(f"seqcli {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Train and use recurrent (RNN/GRU/LSTM) models on your own text."""


def _one_suggestion() -> dict[str, Any]:
    """Settings that make a mistyped command get one "Did you mean ...?", not two.

    Typer 0.20+ adds a suggestion to the "No such command" error, and Click 8.4+
    (whose error is then a NoSuchCommand) already has one: keep Click's alone.
    """
    import inspect

    import click

    click_suggests = hasattr(click.exceptions, "NoSuchCommand")
    typer_suggests = "suggest_commands" in inspect.signature(typer.Typer).parameters
    return {"suggest_commands": False} if click_suggests and typer_suggests else {}


def build_app(names: list[str] | None = None) -> typer.Typer:
    """A Typer app with the given commands (all of them by default)."""
    app = typer.Typer(
        name="seqcli",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
        help="Train and use recurrent (RNN/GRU/LSTM) models on your own text.",
        **_one_suggestion(),
    )
    # A callback keeps the app a group even with one command registered.
    app.callback()(_root)
    for name in names or list(COMMANDS):
        module, attr = COMMANDS[name]
        target = getattr(importlib.import_module(f"seqcli.cli.{module}"), attr)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    return app


def main() -> Any:
    """Console-script entry point: load only the command being run, if any."""
    name = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        return build_app([name] if name in COMMANDS else None)()
    except KeyboardInterrupt:
        # Ctrl-C while the command modules load: no traceback (in a command,
        # handle_errors reports it; in training, fit saves a snapshot first).
        sys.exit(130)


def __getattr__(attr: str) -> Any:
    # `seqcli.cli.app`, the full app, is built on first use (PEP 562).
    if attr == "app":
        app = build_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
