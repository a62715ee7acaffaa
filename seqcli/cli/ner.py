"""`seqcli train-ner` and `seqcli tag`: named-entity recognition.

`train-ner` goes through the one training path (`_training.run`); `tag` reads raw
text (one sentence per line) or CoNLL columns and writes CoNLL rows, bracketed
spans or JSON lines. `evaluate` (cli/inspection.py) scores NER checkpoints with
`evaluate_ner` below. Must not import torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seqcli.cli import _training
from seqcli.cli._shared import (
    CalibrateOpt,
    DeviceOpt,
    DistillTemperatureOpt,
    DistillWeightOpt,
    NetworkOpts,
    QuietOpt,
    TeacherOpt,
    ThreadsOpt,
    UnlabeledOpt,
    distill_overrides,
    handle_errors,
    inference_device,
    not_a_directory,
    note_using,
)
from seqcli.config import NerConfig, TagConfig, default_of
from seqcli.errors import ConfigError

if TYPE_CHECKING:
    from seqcli.outputs import OutputFile


def _d(key: str) -> str:
    return f"(default: {default_of(NerConfig, key)})"


def _yes(key: str) -> str:
    return f"(default: {'yes' if default_of(NerConfig, key) else 'no'})"


_net = NetworkOpts(NerConfig)
INPUTS = ("text", "conll")
FORMATS = ("conll", "spans", "json")
TaggersOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--model",
        "-m",
        help="Checkpoint to use (default: newest NER one in models/); repeat it for "
        "an ensemble of taggers of one recipe (seeds): their CRF scores are averaged.",
        callback=not_a_directory,
    ),
]


@handle_errors
@_training.training_command
def train_ner(
    train: Annotated[
        str,
        typer.Argument(
            help="Tagged training data: CoNLL-style columns, one token per line, "
            "a blank line between sentences (.gz ok)."
        ),
    ],
    valid: Annotated[
        Path | None,
        typer.Option(
            help="Tagged validation data (required): its entity F1 picks the best "
            "epoch and stops training early.",
            callback=not_a_directory,
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            help="Tagged test data, scored with the best model.",
            callback=not_a_directory,
        ),
    ] = None,
    token_column: Annotated[
        int | None,
        typer.Option(
            help=f"Token column, 1-based (negative: from the end). {_d('token_column')}"
        ),
    ] = None,
    tag_column: Annotated[
        int | None,
        typer.Option(help=f"Tag column, 1-based; -1 = the last. {_d('tag_column')}"),
    ] = None,
    scheme: Annotated[
        str | None,
        typer.Option(
            help=f"The files' tag scheme: auto, iob1, iob2 or bioes. {_d('scheme')}"
        ),
    ] = None,
    train_scheme: Annotated[
        str | None,
        typer.Option(
            help=f"The scheme the network learns (predictions are converted back). "
            f"{_d('train_scheme')}"
        ),
    ] = None,
    char_features: Annotated[
        str | None,
        typer.Option(
            help="Character features of each word: cnn, lstm or none. "
            f"{_d('char_features')}"
        ),
    ] = None,
    decoder: Annotated[
        str | None,
        typer.Option(
            help=f"crf (Viterbi over whole sequences) or softmax. {_d('decoder')}"
        ),
    ] = None,
    casing: Annotated[
        bool | None,
        typer.Option(
            "--casing/--no-casing",
            help=f"Add each word's casing category {_yes('casing')}.",
        ),
    ] = None,
    lowercase: Annotated[
        bool | None,
        typer.Option(
            "--lowercase/--keep-case",
            help="Look words up lowercased; characters keep their case "
            f"{_yes('tokenizer.lowercase')}.",
        ),
    ] = None,
    normalize_digits: Annotated[
        bool | None,
        typer.Option(
            "--normalize-digits/--keep-digits",
            help="Look words up with every digit read as 0 "
            f"{_yes('normalize_digits')}.",
        ),
    ] = None,
    word_dropout: Annotated[
        float | None,
        typer.Option(
            help="Read training words seen once as <unk> with this probability. "
            f"{_d('word_dropout')}"
        ),
    ] = None,
    max_vocab: _net.max_vocab = None,
    cell: _net.cell = None,
    emb_size: _net.emb_size = None,
    hidden_size: _net.hidden_size = None,
    num_layers: _net.num_layers = None,
    dropout: _net.dropout = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start the words and the encoder from a seqcli word LM (its sizes; "
            "its vocabulary, extended with the training words).",
            callback=not_a_directory,
        ),
    ] = None,
    init_from_backward: Annotated[
        Path | None,
        typer.Option(
            help="With --init-from: a backward word LM (train-lm --reverse) of the "
            "same vocabulary and sizes, for the backward direction (the word "
            "vectors become both LMs' side by side).",
            callback=not_a_directory,
        ),
    ] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(
            help="Word vectors, word2vec/GloVe text format.", callback=not_a_directory
        ),
    ] = None,
    freeze_embeddings: Annotated[
        bool | None,
        typer.Option("--freeze-embeddings", help="Do not train the word embeddings."),
    ] = None,
    teacher: TeacherOpt = None,
    distill_weight: DistillWeightOpt = None,
    distill_temperature: DistillTemperatureOpt = None,
    unlabeled: UnlabeledOpt = None,
    calibrate: CalibrateOpt = None,
    batch_size: _net.batch_size = None,
    lr: _net.lr = None,
    run_flags: _training.RunFlags = None,
) -> None:
    """Train a named-entity tagger (BiLSTM, character features, CRF) on CoNLL data.

    Example: seqcli train-ner train.txt --valid valid.txt --test test.txt
    """
    flags = dict(locals())  # the shared flags are read from here by name
    from seqcli.tasks import ner as task

    own = {
        "train_path": train,
        "valid_path": valid,
        "test_path": test,
        "token_column": token_column,
        "tag_column": tag_column,
        "scheme": scheme,
        "train_scheme": train_scheme,
        "char_features": char_features,
        "decoder": decoder,
        "casing": casing,
        "normalize_digits": normalize_digits,
        "word_dropout": word_dropout,
        "init_from": init_from,
        "init_from_backward": init_from_backward,
        "embeddings": embeddings,
        "freeze_embeddings": freeze_embeddings,
        **distill_overrides(teacher, distill_weight, distill_temperature, unlabeled),
        "calibrate": calibrate,
    }
    _training.run(
        NerConfig, task.TASK, flags, own, setup=task.setup, train=task.train_ner
    )


@handle_errors
def tag(
    file: Annotated[
        str,
        typer.Argument(
            help="Text to tag, one sentence per line, or CoNLL columns "
            "(--input conll); - for stdin."
        ),
    ],
    model: TaggersOpt = None,
    input_format: Annotated[
        str, typer.Option("--input", help="text (one sentence per line) or conll.")
    ] = "text",
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="conll (token TAB tag), spans ([PER John Smith] lives ...) or json.",
        ),
    ] = "conll",
    n_best: Annotated[
        int,
        typer.Option(
            "--n-best", help="The K best tag sequences with their scores (CRF models)."
        ),
    ] = TagConfig.n_best,
    probs: Annotated[
        bool,
        typer.Option(
            "--probs", help="Add each token's marginal probability of its tag."
        ),
    ] = False,
    scheme: Annotated[
        str | None,
        typer.Option(
            help="Write tags in iob1, iob2 or bioes (default: the scheme of the "
            "model's training data)."
        ),
    ] = None,
    token_column: Annotated[
        int, typer.Option(help="--input conll: the token column, 1-based.")
    ] = 1,
    batch_size: Annotated[
        int, typer.Option(help="Sentences per batch.", min=1)
    ] = TagConfig.batch_size,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Tag named entities: CoNLL rows, bracketed spans or JSON lines on stdout.

    Example: seqcli tag news.txt --format spans -m models/ner.pt
    """
    _check_choice("--input", input_format, INPUTS)
    _check_choice("--format", output_format, FORMATS)
    if scheme is not None:
        _check_choice("--scheme", scheme, ("iob1", "iob2", "bioes"))
    from seqcli.checkpoint import find_latest
    from seqcli.tasks import ner_inference as inference

    if not model:
        model = [find_latest("ner")]
        note_using(model[0], quiet=quiet)
    dev = inference_device(device, threads, rows=batch_size)
    loaded = inference.load_taggers(model, device=dev, command="`seqcli tag`")
    sentences = inference.read_input(
        file, loaded.tokenizer, fmt=input_format, token_column=token_column
    )
    tagged = inference.tag(
        loaded,
        sentences,
        n_best=n_best,
        probs=probs,
        scheme=scheme,
        batch_size=batch_size,
    )
    for t in tagged:
        if output_format == "json":
            print(json.dumps(inference.json_record(t), ensure_ascii=False))
        elif output_format == "spans":
            print("\n".join(inference.span_lines(t)))
        else:
            print("\n".join(inference.conll_lines(t)))


def _check_choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{flag}: '{value}' is not one of {', '.join(choices)}")


# --- evaluate: NER checkpoints and conlleval files ---------------------------------
def evaluate_ner(
    paths: Sequence[Path] | None,
    data: str,
    device: str,
    as_json: bool,
    picture: OutputFile | None = None,
) -> None:
    """`seqcli evaluate`'s NER scores: the predictions of the model (or ensemble)
    on `data` (a tagged file), with the per-token calibration of its marginals, or,
    with `paths` None, the gold and predicted columns of `data` itself
    (`--conlleval`); conlleval's figures and layout."""
    from seqcli.cli._calibration import (
        calibration_record,
        plot_reliability,
        render_calibration,
    )

    calibration = None
    if paths is None:
        from seqcli.metrics.ner import conlleval_file

        report = conlleval_file(data)
    else:
        from seqcli.tasks.ner_calibration import tagger_calibration
        from seqcli.tasks.ner_inference import evaluate_tagger, load_taggers

        tagger = load_taggers(paths, device=device, command="`seqcli evaluate`")
        report = evaluate_tagger(tagger, data)
        calibration = tagger_calibration(tagger, data)
        calibrations = [tagger.calibration]
    if as_json:
        record = report_dict(report)
        if calibration is not None:
            record["calibration"] = calibration_record(calibration, calibrations)
        print(json.dumps(record, indent=2))
    else:
        print("\n".join(report.lines()))
        if calibration is not None:
            render_calibration(calibration, calibrations)
    if picture is not None and calibration is not None:
        plot_reliability(calibration, picture)


def report_dict(report: Any) -> dict[str, Any]:
    def scores(s: Any) -> dict[str, Any]:
        return {
            "precision": s.precision,
            "recall": s.recall,
            "f1": s.f1,
            "gold": s.gold,
            "predicted": s.predicted,
            "correct": s.correct,
        }

    return {
        "metrics": {
            **scores(report.overall),
            "accuracy": report.accuracy,
            "tokens": report.tokens,
        },
        "per_type": {k: scores(v) for k, v in report.by_type.items()},
    }
