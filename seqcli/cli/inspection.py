"""`seqcli info` and `seqcli evaluate`: commands that work on any task's checkpoint.

Must not import torch at module level.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seqcli.cli._calibration import claim_picture, plot_only_for
from seqcli.cli._shared import (
    DeviceOpt,
    ModelOpt,
    ModelsOpt,
    QuietOpt,
    ThreadsOpt,
    handle_errors,
    inference_device,
    not_a_directory,
    note_using,
    out_console,
)
from seqcli.config import TranslateConfig
from seqcli.errors import a_or_an
from seqcli.metrics.scales import format_metric

if TYPE_CHECKING:
    from seqcli.metrics.classification import ClassificationReport
    from seqcli.outputs import OutputFile

CkptArg = Annotated[
    Path | None,
    typer.Argument(
        help="Checkpoint (default: newest in models/).", callback=not_a_directory
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]

# The decoding defaults `evaluate` shows for a translation model.
_SEARCH = TranslateConfig()

# Tasks whose checkpoints `evaluate` understands (later tasks add themselves).
EVALUATED_TASKS = ("lm", "sentiment", "translation", "ner")


@handle_errors
def info(
    checkpoint: CkptArg = None, model: ModelOpt = None, as_json: JsonOpt = False
) -> None:
    """Show what a checkpoint holds: task, sizes, parameters, metrics, training data.

    Example: seqcli info models/lm-char-20261122-101500.pt  (or -m FILE)
    """
    path = model or checkpoint
    if path is None:
        from seqcli.checkpoint import find_latest

        tasks = ("lm", "sentiment", "ner", "translation", "embeddings")
        path = find_latest(tasks)
    summary = _summary(path, _metadata_of(path))
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    width = shutil.get_terminal_size((INFO_WIDTH, 24)).columns
    if not sys.stdout.isatty():
        width = INFO_WIDTH
    print("\n".join(describe_lines(str(path), summary, width=max(width, 40))))


# Lines of `info` written to a pipe or a file are at most this wide.
INFO_WIDTH = 100


def _metadata_of(path: Path) -> dict[str, Any]:
    """The checkpoint's metadata record, read without torch where the file has one;
    else (an older checkpoint, or one that cannot be read: the load says why) from
    the whole checkpoint."""
    from seqcli.checkpoint_meta import metadata, read_metadata

    record = read_metadata(path) if path.is_file() else None
    if record is None:
        from seqcli.checkpoint import load_checkpoint

        record = metadata(load_checkpoint(path))
    return record


def _tokenizer(stored: dict[str, Any]) -> dict[str, Any]:
    """How the model reads raw text: one tokenizer, or one per side of a
    translation model (a checkpoint from before normalisation was recorded splits
    words on whitespace and cleans as its config said)."""
    if isinstance(stored.get("src"), dict) and isinstance(stored.get("tgt"), dict):
        return {side: _tokenizer(stored[side]) for side in ("src", "tgt")}
    shown = {k: v for k, v in stored.items() if k != "model"}
    if shown.get("kind") == "word":
        shown.setdefault("split", "whitespace")
    return shown


def _summary(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """What `info` shows, from a checkpoint's metadata record."""
    trained_on = meta.get("data", {})
    return {
        "task": meta["task"],
        "format": f"{meta['format']} v{meta['format_version']}",
        "saved by": f"seqcli {meta['seqcli_version']}",
        "created": meta.get("created"),
        "file size": f"{path.stat().st_size / 1e6:.1f} MB",
        "tokenizer": _tokenizer(meta.get("tokenizer", {})),
        "vocabulary": meta.get("vocab_sizes", {}),
        "network": _network(meta.get("config", {})),
        "parameters": trained_on.get("parameters", meta.get("parameters")),
        "metrics": {
            f"{split}.{k}": v
            for split, m in meta.get("metrics", {}).items()
            for k, v in m.items()
        },
        "calibration": meta.get("calibration", {}),
        "training data": {k: v for k, v in trained_on.items() if k != "parameters"},
        "resumable": meta.get("resumable", False),
    }


def describe_lines(title: str, summary: dict[str, Any], *, width: int) -> list[str]:
    """`summary` as indented ``key: value`` lines at most `width` wide: a nested
    dict one level further in, a list as one comma-separated value, long values
    wrapped under their key."""
    lines = [title]
    for key, value in summary.items():
        lines += _entry(key, value, indent=2, width=width)
    return lines


def _entry(key: str, value: Any, *, indent: int, width: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [f"{pad}{key}: none"]
        lines = [f"{pad}{key}:"]
        for k, v in value.items():
            lines += _entry(str(k), v, indent=indent + 2, width=width)
        return lines
    if isinstance(value, list | tuple):
        text = ", ".join(format_metric("", v) for v in value) or "none"
    else:
        text = "none" if value is None else format_metric(key, value)
    return textwrap.wrap(
        f"{key}: {text}",
        width=width,
        initial_indent=pad,
        subsequent_indent=pad + "    ",
        break_on_hyphens=False,
    ) or [f"{pad}{key}:"]


def _network(cfg: dict[str, Any]) -> dict[str, Any]:
    """The sizes a config gives its network: the recurrent backbone's, or a
    task's own (skip-gram vectors have no recurrent layer, only `emb_size`)."""
    model = cfg.get("model", {})
    keys = ("cell", "emb_size", "hidden_size", "num_layers", "dropout")
    shown = {k: model[k] for k in keys if k in model}
    if cfg.get("src_path") is not None or "attention" in cfg:
        shown["bidirectional"] = "encoder"  # an encoder-decoder's encoder always is
        shown["attention"] = cfg.get("attention")
    elif "bidirectional" in model:
        shown["bidirectional"] = model["bidirectional"]
    for key in ("emb_size", "window", "negatives"):
        if key in cfg and not model:
            shown[key] = cfg[key]
    return shown


@handle_errors
def evaluate(
    data: Annotated[
        str,
        typer.Argument(
            help="Labelled data (or text, for a language model); - for stdin.",
        ),
    ],
    target: Annotated[
        str | None,
        typer.Argument(
            help="Reference translations of DATA, for a translation model "
            "(without it, DATA is a file of pairs).",
        ),
    ] = None,
    model: ModelsOpt = None,
    as_json: JsonOpt = False,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
    conlleval: Annotated[
        bool,
        typer.Option(
            "--conlleval",
            help="DATA holds token, gold and predicted tag columns (conlleval's "
            "input): score it as conlleval does, with no model.",
        ),
    ] = False,
    beam: Annotated[
        int | None,
        typer.Option(help=f"Translation: beam size. (default: {_SEARCH.beam})"),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option(
            help=f"Translation: length normalisation. (default: {_SEARCH.alpha})"
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help=f"Translation: most sentences decoded together. "
            f"(default: {_SEARCH.batch_size})"
        ),
    ] = None,
    plot_reliability: Annotated[
        Path | None,
        typer.Option(
            help="Classifiers, taggers, translation: draw the reliability diagram "
            "(before and after calibration) to this PNG; needs seqcli[plot].",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Score a model on data: perplexity for language models, task metrics otherwise.

    Classifiers, taggers and translation models add their calibration: ECE and
    Brier score (per token for taggers, per reference token for translation) at
    T = 1 and at the temperature (and a two-class classifier's bias) their
    training fitted.

    Example: seqcli evaluate corpora/fables.txt -m models/lm.pt
    """
    search = {"beam": beam, "alpha": alpha, "batch_size": batch_size}
    search = {key: value for key, value in search.items() if value is not None}
    if conlleval:
        _search_only_for("ner", search, "--conlleval scores a file, with no model")
        plot_only_for("", plot_reliability, "--conlleval reads no probabilities")
        from seqcli.cli.ner import evaluate_ner

        evaluate_ner(None, data, "cpu", as_json)
        return
    from seqcli.checkpoint import find_latest, peek_task
    from seqcli.errors import CheckpointError, ConfigError

    paths = model or [find_latest(EVALUATED_TASKS)]
    if not model:
        note_using(paths[0], quiet=quiet)
    path = paths[0]
    task = peek_task(path) if path.exists() else None
    if task is not None:
        _search_only_for(task, search, f"{path} is {a_or_an(task)} checkpoint")
        plot_only_for(task, plot_reliability, f"{path} is {a_or_an(task)} checkpoint")
    picture = claim_picture(plot_reliability, data, paths)
    dev = inference_device(device, threads)
    if len(paths) > 1 and task not in ("sentiment", "ner", "translation"):
        raise ConfigError(
            f"{path}: only classifiers, taggers and translation models form "
            "ensembles; give one -m for "
            f"{a_or_an(str(task))} model"
        )
    if task == "lm":
        from seqcli.tasks.lm_inference import evaluate_lm, load_lm

        metrics = evaluate_lm(
            load_lm(path, device=dev, command="`seqcli evaluate`"), data
        )
        _render({"metrics": metrics}, as_json)
        return
    if task == "sentiment":
        _evaluate_classifier(paths, data, dev, as_json, picture)
        return
    if task == "translation":
        _evaluate_translation(paths, (data, target), dev, search, as_json, picture)
        return
    if task == "ner":
        from seqcli.cli.ner import evaluate_ner

        evaluate_ner(paths, data, dev, as_json, picture)
        return
    if task is None:
        from seqcli.checkpoint import load_checkpoint

        load_checkpoint(path)  # raises the precise reason it cannot be read
    raise CheckpointError(
        f"{path}: `seqcli evaluate` does not support {task} checkpoints yet"
    )


def _evaluate_classifier(
    paths: list[Path], data: str, dev: str, as_json: bool, picture: OutputFile | None
) -> None:
    """Scores, then calibration, of a classifier (or an ensemble) on DATA."""
    from seqcli.cli._calibration import (
        calibration_record,
        plot_reliability,
        render_calibration,
    )
    from seqcli.tasks.sentiment_inference import evaluate_calibration, load_classifier

    command = "`seqcli evaluate`"
    loaded = [load_classifier(p, device=dev, command=command) for p in paths]
    report, calibration = evaluate_calibration(loaded, data)
    calibrations = [m.calibration for m in loaded]
    if as_json:
        extra = {"calibration": calibration_record(calibration, calibrations)}
        _render_classification(report, as_json, extra=extra)
    else:
        _render_classification(report, as_json)
        render_calibration(calibration, calibrations)
    if picture is not None:
        plot_reliability(calibration, picture)


def _evaluate_translation(
    paths: list[Path],
    files: tuple[str, str | None],
    dev: str,
    search: dict[str, Any],
    as_json: bool,
    picture: OutputFile | None,
) -> None:
    """Scores, then token-level calibration, of a translation model (or an
    ensemble) on DATA (and TARGET)."""
    from seqcli.cli._calibration import (
        calibration_record,
        plot_reliability,
        render_calibration,
    )
    from seqcli.cli.translation import evaluate_files

    metrics, calibration, calibrations = evaluate_files(
        paths, *files, dev, search=search
    )
    if as_json:
        record = calibration_record(calibration, calibrations)
        _render({"metrics": metrics, "calibration": record}, as_json)
    else:
        _render({"metrics": metrics}, as_json)
        render_calibration(calibration, calibrations)
    if picture is not None:
        plot_reliability(calibration, picture)


def _search_only_for(task: str, search: dict[str, Any], why: str) -> None:
    """Refuse translation's search flags where no translation model decodes."""
    from seqcli.errors import ConfigError

    if task != "translation" and search:
        flags = ", ".join("--" + key.replace("_", "-") for key in search)
        raise ConfigError(f"{flags}: only for translation models ({why})")


def _render(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for title, values in result.items():
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_header=False)
        for key, value in values.items():
            table.add_row(key, format_metric(key, value))
        out_console.print(table)


def _render_classification(
    report: ClassificationReport,
    as_json: bool,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Accuracy and macro-F1, per-class scores, and the confusion matrix (and the
    JSON's `extra` entries)."""
    summary = {
        "accuracy": report.accuracy,
        "macro_f1": report.macro_f1,
        "examples": report.examples,
    }
    per_class = {
        c.label: {
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
            "support": c.support,
        }
        for c in report.classes
    }
    if as_json:
        confusion = {
            gold: dict(zip(report.labels, row, strict=True))
            for gold, row in zip(report.labels, report.confusion, strict=True)
        }
        result = {"metrics": summary, "per_class": per_class, "confusion": confusion}
        result.update(extra or {})
        print(json.dumps(result, indent=2))
        return
    from rich.table import Table

    _render({"metrics": summary}, as_json=False)
    table = Table(title="per class", title_justify="left")
    for column in ("label", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, scores in per_class.items():
        table.add_row(label, *(format_metric(k, v) for k, v in scores.items()))
    out_console.print(table)
    matrix = Table(
        title="confusion (rows: gold, columns: predicted)", title_justify="left"
    )
    matrix.add_column("gold")
    for label in report.labels:
        matrix.add_column(label, justify="right")
    for label, row in zip(report.labels, report.confusion, strict=True):
        matrix.add_row(label, *map(str, row))
    out_console.print(matrix)
