"""`seqcli info` and `seqcli evaluate`: commands that work on any task's checkpoint.

Must not import torch at module level.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

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

if TYPE_CHECKING:
    from seqcli.metrics.classification import ClassificationReport

CkptArg = Annotated[
    Path | None,
    typer.Argument(
        help="Checkpoint (default: newest in models/).", callback=not_a_directory
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]

# Tasks whose checkpoints `evaluate` understands (later tasks add themselves).
EVALUATED_TASKS = ("lm", "sentiment", "translation", "ner")


@handle_errors
def info(
    checkpoint: CkptArg = None, model: ModelOpt = None, as_json: JsonOpt = False
) -> None:
    """Show what a checkpoint holds: task, sizes, parameters, metrics, training data.

    Example: seqcli info models/lm-char-20261122-101500.pt  (or -m FILE)
    """
    from seqcli.checkpoint import find_latest, load_checkpoint

    tasks = ("lm", "sentiment", "ner", "translation", "embeddings")
    path = model or checkpoint or find_latest(tasks)
    data = load_checkpoint(path)
    summary = _summary(path, data)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    table = Table(title=str(path), show_header=False, title_justify="left")
    for key, value in summary.items():
        if isinstance(value, dict):
            value = "  ".join(f"{k}={_fmt(v)}" for k, v in value.items())
        table.add_row(key, str(_fmt(value)))
    out_console.print(table)


def _tokenizer(stored: dict[str, Any]) -> dict[str, Any]:
    """How the model reads raw text (a checkpoint from before normalisation was
    recorded splits words on whitespace and cleans as its config said)."""
    shown = {k: v for k, v in stored.items() if k != "model"}
    if stored["kind"] == "word":
        shown.setdefault("split", "whitespace")
    return shown


def _summary(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    cfg = data.get("config", {})
    params = sum(t.numel() for k, t in data["state_dict"].items())
    vocab = data.get("vocab", {})
    return {
        "task": data["task"],
        "format": f"{data['format']} v{data['format_version']}",
        "saved by": f"seqcli {data['seqcli_version']}",
        "created": data.get("created"),
        "file size": f"{path.stat().st_size / 1e6:.1f} MB",
        "tokenizer": _tokenizer(data["tokenizer"]),
        "vocabulary": {k: len(v) for k, v in vocab.items()},
        "network": _network(cfg),
        "parameters": data.get("data", {}).get("parameters", params),
        "metrics": {
            f"{split}.{k}": v
            for split, m in data.get("metrics", {}).items()
            for k, v in m.items()
        },
        "training data": {
            k: v for k, v in data.get("data", {}).items() if k != "parameters"
        },
        "resumable": "train_state" in data,
    }


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


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


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
) -> None:
    """Score a model on data: perplexity for language models, task metrics otherwise.

    Example: seqcli evaluate corpora/fables.txt -m models/lm.pt
    """
    if conlleval:
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
    dev = inference_device(device, threads)
    if len(paths) > 1 and task not in ("sentiment", "ner"):
        raise ConfigError(
            f"{path}: only classifiers and taggers form ensembles; give one -m for "
            f"a {task} model"
        )
    if task == "lm":
        from seqcli.tasks.lm_inference import evaluate_lm, load_lm

        metrics = evaluate_lm(
            load_lm(path, device=dev, command="`seqcli evaluate`"), data
        )
        _render({"metrics": metrics}, as_json)
        return
    if task == "sentiment":
        from seqcli.tasks.sentiment_inference import (
            evaluate_classifier,
            load_classifier,
        )

        loaded = [
            load_classifier(p, device=dev, command="`seqcli evaluate`") for p in paths
        ]
        _render_classification(evaluate_classifier(loaded, data), as_json)
        return
    if task == "translation":
        from seqcli.cli.translation import evaluate_files

        _render({"metrics": evaluate_files(path, data, target, dev)}, as_json)
        return
    if task == "ner":
        from seqcli.cli.ner import evaluate_ner

        evaluate_ner(paths, data, dev, as_json)
        return
    if task is None:
        from seqcli.checkpoint import load_checkpoint

        load_checkpoint(path)  # raises the precise reason it cannot be read
    raise CheckpointError(
        f"{path}: `seqcli evaluate` does not support {task} checkpoints yet"
    )


def _render(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for title, values in result.items():
        table = Table(title=title, title_justify="left", show_header=False)
        for key, value in values.items():
            table.add_row(key, str(_fmt(value)))
        out_console.print(table)


def _render_classification(report: ClassificationReport, as_json: bool) -> None:
    """Accuracy and macro-F1, per-class scores, and the confusion matrix."""
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
        print(json.dumps(result, indent=2))
        return
    _render({"metrics": summary}, as_json=False)
    table = Table(title="per class", title_justify="left")
    for column in ("label", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, scores in per_class.items():
        table.add_row(label, *(str(_fmt(v)) for v in scores.values()))
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
