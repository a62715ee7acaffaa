"""The Typer application: creates `app` and registers every command.

Must not import torch: each command imports what it needs inside its body.
"""

from __future__ import annotations

from typing import Annotated

import typer

from seqcli import __version__
from seqcli.cli import bleu, inspection, lm, tokenization

app = typer.Typer(
    name="seqcli",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train and use recurrent (RNN/GRU/LSTM) models on your own text.",
)


def _version(value: bool) -> None:
    if value:
        print(f"seqcli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Train and use recurrent (RNN/GRU/LSTM) models on your own text."""


app.add_typer(tokenization.app, name="tokenize")
app.command("train-lm")(lm.train_lm)
app.command("sample")(lm.sample)
app.command("score")(lm.score)
app.command("bleu")(bleu.bleu)
app.command("info")(inspection.info)
app.command("evaluate")(inspection.evaluate)
