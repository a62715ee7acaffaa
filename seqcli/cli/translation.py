"""`seqcli train-translate` and `translate`: encoder-decoder translation.

Must not import torch.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seqcli.cli import _training
from seqcli.cli._shared import (
    CalibrateOpt,
    DeviceOpt,
    ModelsOpt,
    NetworkOpts,
    QuietOpt,
    ThreadsOpt,
    err_console,
    handle_errors,
    inference_device,
    not_a_directory,
    note_using,
)
from seqcli.config import TranslateConfig, TranslationConfig, default_of
from seqcli.errors import ConfigError
from seqcli.outputs import OutputFile

if TYPE_CHECKING:
    from seqcli.metrics.calibration import CalibrationReport
    from seqcli.tasks.translation_inference import Translator
    from seqcli.temperature import Calibration


def _d(key: str) -> str:
    return f"(default: {default_of(TranslationConfig, key)})"


def _t(key: str) -> str:
    return f"(default: {default_of(TranslateConfig, key)})"


_net = NetworkOpts(TranslationConfig)
# A folder given as a file is the one-line error, not a usage box.
_FILE = {"callback": not_a_directory}


@handle_errors
@_training.training_command
def train_translate(
    src: Annotated[
        str | None, typer.Argument(help="Source sentences, one per line.")
    ] = None,
    tgt: Annotated[
        str | None, typer.Argument(help="Their translations, line by line.")
    ] = None,
    pairs: Annotated[
        str | None,
        typer.Option(help="Or one file of pairs: TSV/CSV columns 1-2, JSONL src/tgt."),
    ] = None,
    valid_src: Annotated[
        str | None, typer.Option(help="Validation source sentences.")
    ] = None,
    valid_tgt: Annotated[
        str | None, typer.Option(help="Validation translations (BLEU picks the best).")
    ] = None,
    test_src: Annotated[str | None, typer.Option(help="Test source sentences.")] = None,
    test_tgt: Annotated[str | None, typer.Option(help="Test translations.")] = None,
    data_format: Annotated[
        str | None,
        typer.Option("--format", help="Of --pairs: tsv, csv or jsonl (default: auto)."),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(
            help="word: words under --min-freq become <unk> (translate copies the "
            "source word in their place); subword: SentencePiece pieces spell any "
            f"word, in longer sequences; or char. {_d('tokenizer.level')}"
        ),
    ] = None,
    word_tokenizer: _net.word_tokenizer = None,
    lowercase: _net.lowercase = None,
    min_freq: Annotated[
        int | None,
        typer.Option(help=f"Rarer words become <unk>. {_d('tokenizer.min_freq')}"),
    ] = None,
    max_vocab: _net.max_vocab = None,
    sp_vocab_size: Annotated[
        int | None,
        typer.Option(help=f"Subword pieces per model. {_d('tokenizer.sp_vocab_size')}"),
    ] = None,
    joint_vocab: Annotated[
        bool | None,
        typer.Option(
            "--joint-vocab/--separate-vocab",
            help="Subword: one SentencePiece model for both sides (default), or two.",
        ),
    ] = None,
    max_len: Annotated[
        int | None,
        typer.Option(
            help=f"Drop training pairs longer (tokens; 0 = none). {_d('max_len')}"
        ),
    ] = None,
    cell: _net.cell = None,
    emb_size: _net.emb_size = None,
    hidden_size: _net.hidden_size = None,
    num_layers: _net.num_layers = None,
    dropout: _net.dropout = None,
    attention: Annotated[
        str | None,
        typer.Option(help=f"bahdanau, dot or general (Luong). {_d('attention')}"),
    ] = None,
    input_feeding: Annotated[
        bool | None,
        typer.Option(
            "--input-feeding/--no-input-feeding",
            help="Feed the last attentional vector to the next step (slower).",
        ),
    ] = None,
    tie_embeddings: Annotated[
        bool | None,
        typer.Option(
            "--tie-embeddings/--untie-embeddings",
            help="Output layer shares the target embeddings (default: tied).",
        ),
    ] = None,
    label_smoothing: Annotated[
        float | None, typer.Option(help=_d("label_smoothing"))
    ] = None,
    batch_tokens: Annotated[
        int | None,
        typer.Option(help=f"Target tokens per batch. {_d('batch_tokens')}"),
    ] = None,
    lr: _net.lr = None,
    select: Annotated[
        str | None,
        typer.Option(help=f"bleu or loss: picks the best checkpoint. {_d('select')}"),
    ] = None,
    eval_every: Annotated[
        int | None,
        typer.Option(help="Validate every N steps (0 = at each epoch's end)."),
    ] = None,
    teacher: Annotated[
        list[Path] | None,
        typer.Option(
            help="Distil: learn this model's translations of the training source "
            "(repeat it for an ensemble of teachers).",
            **_FILE,
        ),
    ] = None,
    distill_beam: Annotated[
        int | None,
        typer.Option(help=f"Beam size of the teachers. {_d('distill_beam')}"),
    ] = None,
    distill_with_references: Annotated[
        bool | None,
        typer.Option(
            "--distill-with-references",
            help="With --teacher: learn the original pairs as well.",
        ),
    ] = None,
    calibrate: CalibrateOpt = None,
    run_flags: _training.RunFlags = None,
) -> None:
    """Train an attentional encoder-decoder on parallel text.

    Example: seqcli train-translate train.de train.en --valid-src valid.de
    --valid-tgt valid.en
    """
    flags = dict(locals())  # the shared flags are read from here by name
    from seqcli.tasks import translation as task
    from seqcli.tasks import translation_distill as distill

    if pairs and (src or tgt):
        raise ConfigError("give SRC_FILE TGT_FILE or --pairs FILE, not both")
    if not pairs and not (src and tgt) and not (run_flags or {}).get("resume"):
        raise ConfigError("give SRC_FILE TGT_FILE (parallel files) or --pairs FILE")
    own = {
        "src_path": src,
        "tgt_path": tgt,
        "pairs_path": pairs,
        "valid_src_path": valid_src,
        "valid_tgt_path": valid_tgt,
        "test_src_path": test_src,
        "test_tgt_path": test_tgt,
        "data_format": data_format,
        "tokenizer.min_freq": min_freq,
        "tokenizer.sp_vocab_size": sp_vocab_size,
        "joint_vocab": joint_vocab,
        "max_len": max_len,
        "attention": attention,
        "input_feeding": input_feeding,
        "tie_embeddings": tie_embeddings,
        "label_smoothing": label_smoothing,
        "batch_tokens": batch_tokens,
        "select": select,
        "train.eval_every": eval_every,
        "teachers": [str(t) for t in teacher] if teacher else None,
        "distill_beam": distill_beam,
        "distill_with_references": distill_with_references,
        "calibrate": calibrate,
    }
    _training.run(
        TranslationConfig,
        task.TASK,
        flags,
        own,
        setup=distill.setup,
        train=distill.train_distilled,
    )


_D = TranslateConfig()


@handle_errors
def translate(
    file: Annotated[
        str, typer.Argument(help="Source sentences, one per line; - for stdin.")
    ],
    model: ModelsOpt = None,
    beam: Annotated[int, typer.Option(help="Beam size (1 = greedy).")] = _D.beam,
    alpha: Annotated[
        float,
        typer.Option(help="Length normalisation: score = log P / length^alpha."),
    ] = _D.alpha,
    max_len_ratio: Annotated[
        float, typer.Option(help="Output length limit: ratio x source length + 10.")
    ] = _D.max_len_ratio,
    min_len: Annotated[
        int, typer.Option(help="Output tokens before the end may come.")
    ] = _D.min_len,
    n_best: Annotated[
        int,
        typer.Option(help="K outputs per input, as TSV: index, rank, score, text."),
    ] = _D.n_best,
    scores: Annotated[
        bool,
        typer.Option(
            "--scores",
            help="Add the beam's score (log P / length^alpha, what ranked the "
            "outputs) and log P(output | input) at the model's calibrated "
            "temperature (<= 0; exp gives the probability).",
        ),
    ] = False,
    replace_unk: Annotated[
        bool | None,
        typer.Option(
            "--replace-unk/--keep-unk",
            help="Replace each <unk> by the most attended source token "
            "(default: on for word-level models, off for subword).",
        ),
    ] = _D.replace_unk,
    batch_size: Annotated[
        int, typer.Option(help="Most sentences decoded together.")
    ] = _D.batch_size,
    max_src_len: Annotated[
        int,
        typer.Option(
            help=f"Refuse a longer source line (tokens; 0 = none). {_t('max_src_len')}"
        ),
    ] = _D.max_src_len,
    ref: Annotated[
        Path | None,
        typer.Option(help="Reference translations: BLEU and chrF on stderr.", **_FILE),
    ] = None,
    analyze: Annotated[
        Path | None,
        typer.Option(help="Reference: beam-search error analysis (TSV).", **_FILE),
    ] = None,
    beams: Annotated[
        str | None,
        typer.Option(help="With --analyze: beam sizes to compare, e.g. 1,5,10."),
    ] = None,
    plot_attention: Annotated[
        Path | None,
        typer.Option(
            help="Draw the first sentence's attention as a PNG heat map.", **_FILE
        ),
    ] = None,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Translate sentences with a trained model: one line out per line in.

    Example: seqcli translate test.de --beam 5 -m models/translation.pt > out.en
    """
    models = _model_paths(model, quiet=quiet)
    from seqcli.tasks.translation_analysis import matplotlib_pyplot
    from seqcli.tasks.translation_inference import check_search

    search = {
        "beam": beam,
        "alpha": alpha,
        "max_len_ratio": max_len_ratio,
        "min_len": min_len,
        "batch_size": batch_size,
    }
    check_search(**search, n_best=n_best, max_src_len=max_src_len)
    widths = _beam_list(beams, beam)
    picture = None
    if plot_attention is not None:  # claimed, and the extra checked, before decoding
        inputs = {"FILE": file, "--ref": ref, "--analyze": analyze}
        inputs |= {_member_flag(i): m for i, m in enumerate(models)}
        picture = OutputFile(plot_attention, inputs=inputs, flag="--plot-attention")
        matplotlib_pyplot()
    translator = _load(models, device, threads, rows=batch_size * beam)
    if analyze is not None:
        _analyze(translator, file, analyze, widths, search)
        return
    first, outputs = _translate_all(
        translator,
        file,
        {**search, "max_src_len": max_src_len},
        n_best,
        scores,
        replace_unk,
    )
    if picture is not None:
        _plot(translator, first, picture, beam, alpha)
    if ref is not None:
        _report_ref(translator, outputs, ref)


def _load(
    models: list[Path], device: str | None, threads: int | None, *, rows: int
) -> Translator:
    from seqcli.tasks.translation_inference import load_translators

    dev = inference_device(device, threads, rows=rows)
    return load_translators(models, device=dev, command="`seqcli translate`")


def _member_flag(index: int) -> str:
    """How an error names the -m at `index` (the first one plainly)."""
    return "-m/--model" if index == 0 else f"-m/--model (model {index + 1})"


def _model_paths(models: list[Path] | None, *, quiet: bool = False) -> list[Path]:
    """The -m given (several: an ensemble), or the newest translation checkpoint
    in models/."""
    if models:
        return models
    from seqcli.checkpoint import find_latest

    model = find_latest("translation")
    note_using(model, quiet=quiet)
    return [model]


def _beam_list(beams: str | None, beam: int) -> list[int]:
    if beams is None:
        return [beam]
    try:
        widths = [int(b) for b in beams.split(",") if b.strip()]
    except ValueError:
        raise ConfigError(
            f"--beams: expected sizes such as 1,5,10, got '{beams}'"
        ) from None
    if not widths or min(widths) < 1:
        raise ConfigError(f"--beams: every beam size must be at least 1, got '{beams}'")
    return widths


def _input_chunks(file: str, size: int) -> Iterator[tuple[int, list[str]]]:
    """Input lines in chunks, each with the number of its first line; an
    interactive stdin line by line, so that a typed line is translated at once."""
    from seqcli.readers import stream_text

    # sys.stdin is None when stdin is closed: the reader reports that.
    interactive = file == "-" and sys.stdin is not None and sys.stdin.isatty()
    chunk: list[str] = []
    first = 1
    for line in stream_text(file):
        if not chunk:
            first = line.lineno
        chunk.append(line.text)
        if interactive or len(chunk) >= size:
            yield first, chunk
            chunk = []
    if chunk:
        yield first, chunk


def _translate_all(
    translator: Translator,
    file: str,
    search: dict[str, Any],
    n_best: int,
    scores: bool,
    replace_unk: bool | None,
) -> tuple[str | None, list[str]]:
    """Translate and print every line in order; returns the first non-blank input
    line (for --plot-attention) and the best outputs (for --ref)."""
    from seqcli.readers import display_name
    from seqcli.tasks.translation_inference import translate as run

    best: list[str] = []
    first = None
    index = 0
    # Chunks of many batches: sorting by length within a chunk keeps batches full.
    for lineno, chunk in _input_chunks(file, 16 * search["batch_size"]):
        first = first or next((line for line in chunk if line.strip()), None)
        for result in run(
            translator,
            chunk,
            **search,
            n_best=n_best,
            replace_unk=replace_unk,
            calibrated=scores,
            where=(display_name(file), lineno),
        ):
            index += 1
            best.append(result.texts[0])
            _print_result(index, result, n_best, scores)
        sys.stdout.flush()
    return first, best


def _print_result(index: int, result: Any, n_best: int, scores: bool) -> None:
    """One line (or `n_best` TSV rows) per input; with `scores`, the search's
    score and the calibrated log P (`Translation.log_probs`)."""
    if n_best > 1:
        for rank, (text, hyp) in enumerate(
            zip(result.texts, result.hypotheses, strict=True), start=1
        ):
            extra = f"\t{result.log_probs[rank - 1]:.4f}" if scores else ""
            print(f"{index}\t{rank}\t{hyp.score:.4f}{extra}\t{text}")
    elif scores:
        hyp = result.hypotheses[0]
        print(f"{result.texts[0]}\t{hyp.score:.4f}\t{result.log_probs[0]:.4f}")
    else:
        print(result.texts[0])


def _read_all(path: str | Path, *, source: bool = False) -> list[str]:
    """The lines of a file; sources (not references) must hold some text."""
    from seqcli.readers import read_lines, read_text

    return [line.text for line in (read_text if source else read_lines)(path)]


def _report_ref(translator: Translator, outputs: list[str], ref: Path) -> None:
    from seqcli.tasks.translation_inference import score_outputs

    metrics = score_outputs(outputs, _read_all(ref))
    err_console.print(f"BLEU {metrics['bleu']:.2f}  chrF {metrics['chrf']:.2f}")


def _analyze(
    translator: Translator,
    file: str,
    ref: Path,
    widths: Iterable[int],
    search: dict[str, Any],
) -> None:
    """Per-sentence TSV on stdout, a summary per beam size on stderr."""
    from seqcli.readers import display_name
    from seqcli.tasks.translation_analysis import advice, analyze

    lines, references = _read_all(file, source=True), _read_all(ref)
    print("beam\tline\tref_score\tout_score\tverdict\tsentence_bleu\toutput")
    summaries = []
    for width in widths:
        rows, summary = analyze(
            translator,
            lines,
            references,
            **{**search, "beam": width},
            source=display_name(file),
        )
        summaries.append(summary)
        for r in rows:
            print(
                f"{width}\t{r.index}\t{r.ref_score:.4f}\t{r.out_score:.4f}\t"
                f"{r.verdict}\t{r.bleu:.1f}\t{r.output}"
            )
        sys.stdout.flush()
    for s in summaries:
        err_console.print(
            f"beam {s.beam}: BLEU {s.bleu:.2f}; {s.same} of {s.sentences} outputs "
            f"equal the reference; of the {s.differing} others, "
            f"{s.search_errors} search errors ({s.share(s.search_errors):.1%}) and "
            f"{s.model_errors} model errors ({s.share(s.model_errors):.1%})",
            soft_wrap=True,
        )
    err_console.print(advice(summaries[-1]), soft_wrap=True)


def _plot(
    translator: Translator,
    first: str | None,
    picture: OutputFile,
    beam: int,
    alpha: float,
) -> None:
    from seqcli.tasks.translation_analysis import attention_matrix
    from seqcli.tasks.translation_analysis import plot_attention as draw

    if first is None:
        raise ConfigError("--plot-attention: the input has no sentence to draw")
    src, out, weights = attention_matrix(translator, first, beam=beam, alpha=alpha)
    draw(src, out, weights, picture)
    err_console.print(f"attention of the first sentence drawn in {picture.path}")


def evaluate_files(
    paths: list[Path],
    data: str,
    target: str | None,
    device: str,
    *,
    search: dict[str, Any] | None = None,
) -> tuple[dict[str, float], dict[str, CalibrationReport], list[Calibration]]:
    """`seqcli evaluate SRC TGT -m MT.pt` (or a pairs file): BLEU, chrF, TER, ppl
    of one model or of an ensemble (several -m); `search` holds the decoding flags
    given (beam, alpha, batch_size). Also the token-level calibration of the
    references before and after temperature scaling, and each model's T."""
    from seqcli.readers import read_pairs, read_parallel
    from seqcli.tasks.translation_inference import (
        evaluate_translation,
        load_translators,
        reference_calibration,
    )
    from seqcli.temperature import Calibration

    translator = load_translators(paths, device=device, command="`seqcli evaluate`")
    found = read_pairs(data) if target is None else read_parallel(data, target)
    sources, references = [p.src for p in found], [p.tgt for p in found]
    metrics = evaluate_translation(translator, sources, references, **(search or {}))
    calibration = reference_calibration(translator, sources, references)
    return metrics, calibration, [Calibration(t) for t in translator.temperatures]
