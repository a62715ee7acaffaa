"""`seqcli train-embeddings` and `seqcli embeddings ...`: word vectors.

Must not import torch: each command imports the task modules inside its body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqcli.cli import _training
from seqcli.cli._shared import (
    ModelOpt,
    QuietOpt,
    ThreadsOpt,
    err_console,
    handle_errors,
    inference_device,
    not_a_directory,
    note_using,
)
from seqcli.config import EmbeddingsConfig, default_of
from seqcli.errors import SeqcliError
from seqcli.outputs import OutputFile


def _d(key: str) -> str:
    return f"(default: {default_of(EmbeddingsConfig, key)})"


@handle_errors
@_training.training_command
def train_embeddings(
    corpus: Annotated[
        str, typer.Argument(help="Training text, words separated by spaces.")
    ],
    emb_size: Annotated[
        int | None, typer.Option(help=f"Dimensions. {_d('emb_size')}")
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(help=f"Context words each side at most. {_d('window')}"),
    ] = None,
    negatives: Annotated[
        int | None, typer.Option(help=f"Negative samples per pair. {_d('negatives')}")
    ] = None,
    subsample: Annotated[
        float | None,
        typer.Option(
            help=f"Frequent-word subsampling threshold, 0 = off. {_d('subsample')}"
        ),
    ] = None,
    min_count: Annotated[
        int | None, typer.Option(help=f"Drop rarer words. {_d('tokenizer.min_freq')}")
    ] = None,
    lowercase: Annotated[
        bool | None, typer.Option("--lowercase/--keep-case", help="Lowercase the text.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help=f"Pairs per step. {_d('train.batch_size')}")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help=f"Learning rate. {_d('train.lr')}")
    ] = None,
    optimizer: Annotated[
        str | None,
        typer.Option(help=f"sgd, or adam (with --lr 0.002). {_d('train.optimizer')}"),
    ] = None,
    run_flags: _training.RunFlags = None,
) -> None:
    """Train word vectors: word2vec skip-gram with negative sampling.

    Example: seqcli train-embeddings corpus.txt --emb-size 100 --epochs 5
    """
    flags = dict(locals())
    from seqcli.tasks import embeddings as task

    own = {
        "train_path": corpus,
        "emb_size": emb_size,
        "window": window,
        "negatives": negatives,
        "subsample": subsample,
        "tokenizer.min_freq": min_count,
        "tokenizer.lowercase": lowercase,
        "train.batch_size": batch_size,
        "train.lr": lr,
        "train.optimizer": optimizer,
    }
    _training.run(
        EmbeddingsConfig,
        task.TASK,
        flags,
        own,
        setup=task.setup,
        train=task.train_embeddings,
    )


# --- seqcli embeddings ... ---------------------------------------------------------
app = typer.Typer(
    no_args_is_help=True,
    help="Query word vectors: neighbours, analogies, evaluation, a map, export.",
)

VectorsOpt = Annotated[
    Path | None,
    typer.Option(
        "--vectors",
        help="Word vectors in word2vec/GloVe text format (.gz ok), instead of -m.",
        callback=not_a_directory,
    ),
]
SideOpt = Annotated[
    str | None,
    typer.Option(help="src or tgt: which vocabulary of a two-vocabulary model."),
]
MethodOpt = Annotated[
    str, typer.Option("--method", help="3cosadd (b - a + c) or 3cosmul.")
]


def _words_of(path: Path) -> list[str]:
    """The words of a file, any number per line (read through the readers)."""
    from seqcli.readers import read_text

    return [word for line in read_text(path) for word in line.text.split()]


def _source(
    model: Path | None, vectors: Path | None, *, quiet: bool = False
) -> tuple[Path | None, Path | None]:
    """The checkpoint or vectors file to read (-m defaults to the newest model)."""
    if model is not None and vectors is not None:
        raise SeqcliError("give -m MODEL or --vectors FILE, not both")
    if model is None and vectors is None:
        from seqcli.checkpoint import find_latest

        model = find_latest("embeddings")
        note_using(model, quiet=quiet)
    return model, vectors


def _load(  # noqa: ANN202
    model: Path | None, vectors: Path | None, side: str | None, *, quiet: bool
):
    from seqcli.tasks import embeddings_inference as inference

    model, vectors = _source(model, vectors, quiet=quiet)
    if vectors is not None:
        return inference.load_vectors(vectors)
    return inference.load_model_vectors(model, side=side)


def _claim(
    out: Path,
    model: Path | None,
    vectors: Path | None,
    words: Path | None = None,
    *,
    quiet: bool = False,
) -> tuple[OutputFile, Path | None, Path | None]:
    """Claim `out` before any vectors are read: it may be none of the inputs.

    Returns the claim and the resolved sources (-m defaults to the newest model).
    """
    model, vectors = _source(model, vectors, quiet=quiet)
    inputs = {"-m/--model": model, "--vectors": vectors, "--words": words}
    return OutputFile(out, inputs=inputs), model, vectors


@app.command()
@handle_errors
def neighbors(
    words: Annotated[list[str], typer.Argument(help="Words to look up.")],
    k: Annotated[int, typer.Option("-k", help="Neighbours per word.", min=1)] = 10,
    model: ModelOpt = None,
    vectors: VectorsOpt = None,
    side: SideOpt = None,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Print the nearest words by cosine similarity: word, neighbour, similarity.

    Example: seqcli embeddings neighbors king paris -m models/vectors.pt
    """
    from seqcli.tasks.embeddings_inference import neighbors as nearest

    inference_device("cpu", threads)  # the vectors are searched on the CPU
    emb = _load(model, vectors, side, quiet=quiet)
    for word in words:
        for other, sim in nearest(emb, word, k):
            print(f"{word}\t{other}\t{sim:.4f}")


@app.command()
@handle_errors
def analogy(
    a: Annotated[str, typer.Argument(help="a, in a : b :: c : ?")],
    b: Annotated[str, typer.Argument(help="b")],
    c: Annotated[str, typer.Argument(help="c")],
    k: Annotated[int, typer.Option("-k", help="Answers to show.", min=1)] = 5,
    method: MethodOpt = "3cosadd",
    model: ModelOpt = None,
    vectors: VectorsOpt = None,
    side: SideOpt = None,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Complete a : b :: c : ? (the query words excluded): answer and score.

    Example: seqcli embeddings analogy man king woman
    """
    from seqcli.tasks.embeddings_inference import analogy as complete

    inference_device("cpu", threads)
    for word, score in complete(
        _load(model, vectors, side, quiet=quiet), a, b, c, k=k, method=method
    ):
        print(f"{word}\t{score:.4f}")


@app.command()
@handle_errors
def evaluate(
    analogies: Annotated[
        Path | None,
        typer.Option(
            help="Analogy questions (': section', then 'a b c d').",
            callback=not_a_directory,
        ),
    ] = None,
    similarity: Annotated[
        list[Path] | None,
        typer.Option(
            help="Word pairs with human scores; repeatable.",
            callback=not_a_directory,
        ),
    ] = None,
    method: MethodOpt = "3cosadd",
    model: ModelOpt = None,
    vectors: VectorsOpt = None,
    side: SideOpt = None,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score vectors on analogy questions (accuracy) and word similarity (Spearman).

    Example: seqcli embeddings evaluate --analogies questions-words.txt
    --similarity wordsim353.tsv
    """
    from seqcli.metrics.embeddings import read_analogies, read_similarity
    from seqcli.tasks import embeddings_inference as inference

    if analogies is None and not similarity:
        raise SeqcliError("give --analogies FILE and/or --similarity FILE")
    inference_device("cpu", threads)
    emb = _load(model, vectors, side, quiet=quiet)
    if analogies is not None:
        report = inference.evaluate_analogies(
            emb, read_analogies(analogies), method=method
        )
        print("section\tcorrect\tanswered\ttotal\taccuracy\taccuracy_with_oov_wrong")
        for s in [*report.sections, report.semantic, report.syntactic, report.overall]:
            print(
                f"{s.section}\t{s.correct}\t{s.answered}\t{s.total}\t"
                f"{s.accuracy:.2f}\t{s.accuracy_all:.2f}"
            )
        if not quiet:
            err_console.print(
                f"{report.overall.skipped:,} of {report.overall.total:,} questions "
                "skipped: a word outside the vocabulary"
            )
    for path in similarity or []:
        score = inference.evaluate_similarity(emb, read_similarity(path), path.name)
        print(
            f"{score.name}\tspearman\t{score.spearman:.4f}\tpairs\t{score.pairs}\toov_pairs\t{score.oov_pairs}"
        )


@app.command()
@handle_errors
def plot(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="PNG file to write.", callback=not_a_directory
        ),
    ],
    words: Annotated[
        Path | None,
        typer.Option(
            help="Words to place, whitespace separated.", callback=not_a_directory
        ),
    ] = None,
    top: Annotated[
        int, typer.Option(help="Else the N first (most frequent) words.", min=3)
    ] = 300,
    method: Annotated[str, typer.Option(help="tsne or pca.")] = "tsne",
    model: ModelOpt = None,
    vectors: VectorsOpt = None,
    side: SideOpt = None,
    quiet: QuietOpt = False,
) -> None:
    r"""Draw a labelled 2-D map of words (t-SNE or PCA); needs seqcli\[plot].

    Example: seqcli embeddings plot -o map.png --top 500
    """
    from seqcli.tasks.embeddings_inference import plot_words

    target, model, vectors = _claim(out, model, vectors, words, quiet=quiet)
    emb = _load(model, vectors, side, quiet=quiet)
    chosen = _words_of(words) if words else emb.words[:top]
    placed, missing = plot_words(emb, chosen, target, method=method)
    if missing:
        err_console.print(f"not in the vocabulary, left out: {' '.join(missing[:20])}")
    if not quiet:
        err_console.print(f"{placed} words placed in {out}")


@app.command()
@handle_errors
def export(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Text file to write.", callback=not_a_directory
        ),
    ],
    model: ModelOpt = None,
    vectors: VectorsOpt = None,
    side: SideOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Write the vectors in word2vec text format (gensim, spaCy read it).

    Example: seqcli embeddings export -m models/lm.pt -o vectors.txt
    """
    from seqcli.tasks.embeddings_inference import export_vectors

    target, model, vectors = _claim(out, model, vectors, quiet=quiet)
    count = export_vectors(_load(model, vectors, side, quiet=quiet), target)
    if not quiet:
        err_console.print(f"{count:,} vectors written to {out}")
