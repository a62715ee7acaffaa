"""The options of `seqcli` itself (``--version``), for the app's callback.

Must not import torch. A module of its own so that `seqcli.cli` imports typer only
when it builds the app (`seqcli --help` lists the commands without it).
"""

from __future__ import annotations

from typing import Annotated

import typer

from seqcli import __version__


def _version(value: bool) -> None:
    if value:
        print(f"seqcli {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Train and use recurrent (RNN/GRU/LSTM) models on your own text."""
