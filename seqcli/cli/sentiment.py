"""`seqcli train-sentiment` and `seqcli classify`: text classifiers.

Must not import torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from seqcli.cli import _training
from seqcli.cli._shared import (
    CalibrateOpt,
    DeviceOpt,
    DistillTemperatureOpt,
    DistillWeightOpt,
    ModelsOpt,
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
from seqcli.config import ClassifyConfig, SentimentConfig, default_of

_net = NetworkOpts(SentimentConfig)
_d = _net.default  # "(default: X)" of a SentimentConfig key, for help texts


@handle_errors
@_training.training_command
def train_sentiment(
    train: Annotated[
        str,
        typer.Argument(
            help="Labelled training data: TSV, CSV, JSON Lines or FASTA (.gz ok).",
        ),
    ],
    valid: Annotated[
        Path | None,
        typer.Option(
            help="Labelled validation data (picks the best epoch; default: "
            f"{default_of(SentimentConfig, 'valid_fraction'):.0%} of TRAIN, "
            "stratified by label).",
            callback=not_a_directory,
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            help="Labelled test data, scored with the best model.",
            callback=not_a_directory,
        ),
    ] = None,
    data_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="tsv, csv, jsonl or fasta (default: by extension)."
        ),
    ] = None,
    fasta_labels: Annotated[
        Path | None,
        typer.Option(
            help="FASTA: the labels, 'id<TAB>label' lines (one file for every "
            "split), when the headers are not '>id label'.",
            callback=not_a_directory,
        ),
    ] = None,
    text_column: Annotated[
        str | None,
        typer.Option(help="Text column: name or 1-based position (default: auto)."),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(help="Label column: name or 1-based position (default: auto)."),
    ] = None,
    header: Annotated[
        str | None, typer.Option(help=f"yes, no or auto. {_d('header')}")
    ] = None,
    level: _net.level = None,
    lowercase: _net.lowercase = None,
    word_tokenizer: _net.word_tokenizer = None,
    clean: Annotated[
        bool | None,
        typer.Option(
            "--clean",
            help="Raw web text: strip HTML tags, split off punctuation and "
            "clitics (don't -> do n't, as in SST and the Penn Treebank).",
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(help="Keep the first N tokens of each text (0 = all)."),
    ] = None,
    max_vocab: _net.max_vocab = None,
    cell: _net.cell = None,
    emb_size: _net.emb_size = None,
    hidden_size: _net.hidden_size = None,
    num_layers: _net.num_layers = None,
    bidirectional: Annotated[
        bool | None,
        typer.Option(
            "--bidirectional/--unidirectional",
            help="Read both ways (default: yes); one way costs about half.",
        ),
    ] = None,
    dropout: _net.dropout = None,
    pooling: Annotated[
        str | None,
        typer.Option(
            help=f"last, max, mean, attention or concat (the first three side by "
            f"side). {_d('pooling')}"
        ),
    ] = None,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="rnn, or average: the mean of the word embeddings, then the output "
            f"layer (no recurrent layer; --pooling unused). {_d('text_encoder')}"
        ),
    ] = None,
    position_size: Annotated[
        int | None,
        typer.Option(
            help="Learn an embedding of this size for each token's position, read "
            "beside the token's: for fixed-length windows (DNA) where a motif's "
            f"place matters. {_d('position_size')}"
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from a seqcli LM (its vocab, tokenizer, sizes; a "
            "bidirectional model gets it in the forward direction only).",
            callback=not_a_directory,
        ),
    ] = None,
    extend_vocab: Annotated[
        bool | None,
        typer.Option(
            "--extend-vocab/--lm-vocab",
            help="--init-from: add the training words the LM lacks, or keep "
            "its vocabulary alone (default).",
        ),
    ] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(
            help="Word vectors: a word2vec/GloVe text file or a seqcli checkpoint.",
            callback=not_a_directory,
        ),
    ] = None,
    freeze_embeddings: Annotated[
        bool | None,
        typer.Option("--freeze-embeddings", help="Do not train the embeddings."),
    ] = None,
    class_weights: Annotated[
        str | None,
        typer.Option(help="none, or auto: weigh rare classes up in the loss."),
    ] = None,
    select: Annotated[
        str | None,
        typer.Option(
            help=f"accuracy or macro_f1: picks the best epoch. {_d('select_metric')}"
        ),
    ] = None,
    bucket: Annotated[
        bool | None,
        typer.Option("--bucket/--no-bucket", help="Batch texts of similar length."),
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
    """Train a sentence or document classifier on labelled text.

    Example: seqcli train-sentiment train.tsv --valid valid.tsv --test test.tsv
    """
    flags = dict(locals())  # the shared flags are read from here by name
    from seqcli.tasks import sentiment as task

    own = {
        "train_path": train,
        "valid_path": valid,
        "test_path": test,
        "data_format": data_format,
        "fasta_labels": fasta_labels,
        "text_column": text_column,
        "label_column": label_column,
        "header": header,
        "clean": clean,
        "max_tokens": max_tokens,
        "pooling": pooling,
        "text_encoder": encoder,
        "position_size": position_size,
        "class_weights": class_weights,
        "select_metric": select,
        "init_from": init_from,
        "extend_vocab": extend_vocab,
        "embeddings": embeddings,
        "freeze_embeddings": freeze_embeddings,
        "bucket": bucket,
        "calibrate": calibrate,
        "model.bidirectional": bidirectional,
        **distill_overrides(teacher, distill_weight, distill_temperature, unlabeled),
    }
    _training.run(
        SentimentConfig,
        task.TASK,
        flags,
        own,
        setup=task.setup,
        train=task.train_sentiment,
        nll=False,
    )


@handle_errors
def classify(
    file: Annotated[
        str,
        typer.Argument(help="Texts, one per line; - for stdin."),
    ],
    model: ModelsOpt = None,
    probs: Annotated[
        bool, typer.Option("--probs", help="Add each class's probability.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(help="Texts per batch.", min=1)
    ] = ClassifyConfig.batch_size,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Label texts with a trained classifier: one label per input line on stdout.

    A blank input line gets an empty output line, so the lines stay aligned.

    Example: seqcli classify reviews.txt --probs -m models/sentiment.pt
    """
    from seqcli.checkpoint import find_latest
    from seqcli.readers import read_text
    from seqcli.tasks.sentiment_inference import classify as run
    from seqcli.tasks.sentiment_inference import load_classifier

    if not model:
        model = [find_latest("sentiment")]
        note_using(model[0], quiet=quiet)
    dev = inference_device(device, threads, rows=batch_size)
    command = "`seqcli classify`"
    loaded = [load_classifier(m, device=dev, command=command) for m in model]
    texts = [line.text for line in read_text(file)]
    kept = [i for i, text in enumerate(texts) if text.strip()]
    result = run(loaded, [texts[i] for i in kept], batch_size=batch_size)
    labels: list[str | None] = [None] * len(texts)  # a blank line stays blank
    probabilities: list[list[float]] = [[] for _ in texts]
    for i, label, p in zip(kept, result.labels, result.probs, strict=True):
        labels[i], probabilities[i] = label, p
    for label, p in zip(labels, probabilities, strict=True):
        if label is None:
            print(json.dumps({"label": None, "score": None}) if as_json else "")
            continue
        scores = dict(zip(result.classes, p, strict=True))
        if as_json:
            # The label's own probability always, as a classification pipeline's
            # "score" (a probability, 0-1, not a metric); every class's with --probs.
            record = {"label": label, "score": scores[label]}
            record.update({"probs": scores} if probs else {})
            print(json.dumps(record, ensure_ascii=False))
        elif probs:
            print("\t".join([label, *(f"{c}:{v:.4f}" for c, v in scores.items())]))
        else:
            print(label)
