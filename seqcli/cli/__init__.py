"""The Typer application: builds `app` from the command table and runs it.

Must not import torch: each command imports what it needs inside its body. The
command modules themselves are imported only when needed: `seqcli bleu ...` loads
the bleu module alone (start-up time is what a user of `bleu` feels), and
`seqcli --help` lists the commands from the table below without importing typer
or any command module; `seqcli.cli.app` (tests) loads them all.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

# command name -> (module under seqcli.cli, attribute, summary). A Typer sub-app
# (`tokenize`) is registered as a group; everything else as a command, in this order
# in --help. The summary is what `seqcli --help` lists (tests/test_startup.py checks
# it against the first line of the command's own help), kept here so that listing
# the commands imports none of their modules.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "tokenize": (
        "tokenization",
        "app",
        "Tokenize text, train SentencePiece models and build vocabularies.",
    ),
    "train-lm": (
        "lm",
        "train_lm",
        "Train a word, character or subword language model.",
    ),
    "sample": (
        "lm",
        "sample",
        "Generate text from a language model, streaming it to stdout.",
    ),
    "score": (
        "lm",
        "score",
        "Score sentences: log P(sentence) under the model, and the file's perplexity.",
    ),
    "train-sentiment": (
        "sentiment",
        "train_sentiment",
        "Train a sentence or document classifier on labelled text.",
    ),
    # The same command: DNA, topics, ... are classified too, not only sentiment.
    "train-classifier": (
        "sentiment",
        "train_sentiment",
        "Train a sentence or document classifier on labelled text.",
    ),
    "classify": (
        "sentiment",
        "classify",
        "Label texts with a trained classifier: one label per input line on stdout.",
    ),
    "train-embeddings": (
        "embeddings",
        "train_embeddings",
        "Train word vectors: word2vec skip-gram with negative sampling.",
    ),
    "embeddings": (
        "embeddings",
        "app",
        "Query word vectors: neighbours, analogies, evaluation, a map, export.",
    ),
    "train-translate": (
        "translation",
        "train_translate",
        "Train an attentional encoder-decoder on parallel text.",
    ),
    "translate": (
        "translation",
        "translate",
        "Translate sentences with a trained model: one line out per line in.",
    ),
    "train-ner": (
        "ner",
        "train_ner",
        "Train a named-entity tagger (BiLSTM, character features, CRF) on CoNLL data.",
    ),
    "tag": (
        "ner",
        "tag",
        "Tag named entities: CoNLL rows, bracketed spans or JSON lines on stdout.",
    ),
    "bleu": (
        "bleu",
        "bleu",
        "Score hypotheses against references with sacreBLEU (BLEU, chrF, TER).",
    ),
    "info": (
        "inspection",
        "info",
        "Show what a checkpoint holds: task, sizes, parameters, metrics, training "
        "data.",
    ),
    "evaluate": (
        "inspection",
        "evaluate",
        "Score a model on data: perplexity for language models, task metrics "
        "otherwise.",
    ),
    "plot": (
        "plotting",
        "plot",
        "Draw training and validation curves against steps and training time.",
    ),
}
ABOUT = "Train and use recurrent (RNN/GRU/LSTM) models on your own text."


def _one_suggestion() -> dict[str, Any]:
    """Settings that make a mistyped command get one "Did you mean ...?", not two.

    Typer 0.20+ adds a suggestion to the "No such command" error, and Click 8.4+
    (whose error is then a NoSuchCommand) already has one: keep Click's alone.
    """
    import inspect

    import click
    import typer

    click_suggests = hasattr(click.exceptions, "NoSuchCommand")
    typer_suggests = "suggest_commands" in inspect.signature(typer.Typer).parameters
    return {"suggest_commands": False} if click_suggests and typer_suggests else {}


def build_app(names: list[str] | None = None) -> typer.Typer:
    """A Typer app with the given commands (all of them by default)."""
    import typer

    from seqcli.cli._root import root
    from seqcli.cli._shared import OneLineErrors

    app = typer.Typer(
        name="seqcli",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
        cls=OneLineErrors,  # a refused option value is one line, not a usage box
        context_settings={"help_option_names": ["-h", "--help"]},
        help=ABOUT,
        **_one_suggestion(),
    )
    # A callback keeps the app a group even with one command registered.
    app.callback()(root)
    for name in names or list(COMMANDS):
        module, attr, summary = COMMANDS[name]
        target = getattr(importlib.import_module(f"seqcli.cli.{module}"), attr)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name, short_help=summary)
        else:
            app.command(name, short_help=summary)(target)
    return app


def root_help(width: int = 80) -> str:
    """`seqcli --help`: usage, options and the command table, as plain text."""
    import textwrap

    name_width = max(map(len, COMMANDS)) + 2
    lines = [
        "Usage: seqcli [OPTIONS] COMMAND [ARGS]...",
        "",
        f"  {ABOUT}",
        "",
        "Options:",
        f"  {'--version':<{name_width}}Print the version.",
        f"  {'-h, --help':<{name_width}}Show this message and exit.",
        "",
        "Commands:",
    ]
    for name, (_, _, summary) in COMMANDS.items():
        lines += textwrap.wrap(
            summary,
            width=max(width, 60),
            initial_indent=f"  {name:<{name_width}}",
            subsequent_indent=" " * (name_width + 2),
        )
    lines += ["", "Run 'seqcli COMMAND --help' for the options of a command."]
    return "\n".join(lines)


def main() -> Any:
    """Console-script entry point: load only the command being run, if any."""
    args = sys.argv[1:]
    if args in (["--help"], ["-h"]):
        # What a new user runs first: no typer, no rich, no command module.
        import shutil

        print(root_help(min(shutil.get_terminal_size().columns, 100)))
        return None
    name = args[0] if args else None
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
