"""`seqcli bleu`: score translations with sacreBLEU's BLEU, chrF and TER.

Scores, sentence scores and the paired-test table go to stdout; the --explain tables
go to stderr, so that the score line can still be piped or captured.
Must not import torch.
"""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from seqcli.cli._shared import err_console, handle_errors, out_console
from seqcli.errors import ConfigError
from seqcli.metrics.bleu_explain import BleuExplanation, explain_bleu
from seqcli.metrics.translation import (
    BOOTSTRAP_SAMPLES,
    BleuOptions,
    MetricScore,
    PairedComparison,
    corpus_scores,
    format_score,
    paired_bootstrap,
    score_to_dict,
    sentence_scores,
)
from seqcli.readers import read_aligned_lines

F = TypeVar("F", bound=Callable[..., Any])


def _frozen_heap(func: F) -> F:
    """Keep the garbage collector off the objects that exist when ``func`` starts.

    Start-up leaves ~10^5 long-lived objects (typer, pydantic, rich); sacreBLEU's
    n-gram tuples set the cyclic collector off again and again, and each full pass
    re-scans them all: ~0.1 s on 3,000 lines, a sixth of the run. The heap is
    unfrozen afterwards, so in-process callers (tests) keep a normal collector.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gc.freeze()
        try:
            return func(*args, **kwargs)
        finally:
            gc.unfreeze()

    return wrapper  # type: ignore[return-value]


_BLEU = "BLEU options (sacreBLEU's, same defaults)"
_OUT = "Output"
_STATS = "Statistics"


@handle_errors
@_frozen_heap
def bleu(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="[HYP] REF...",
            help="The hypotheses (one per line; - for stdin), then the reference "
            "file(s), line by line with them. With -i, references only.",
            show_default=False,
        ),
    ],
    input_file: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            metavar="HYP",
            help="The hypotheses, as in sacreBLEU's 'REF... -i HYP': every "
            "argument is then a reference.",
        ),
    ] = None,
    metrics: Annotated[
        str, typer.Option("--metrics", "-m", help="Comma-separated: bleu, chrf, ter.")
    ] = "bleu",
    lowercase: Annotated[
        bool,
        typer.Option(
            "--lowercase", help="Case-insensitive BLEU.", rich_help_panel=_BLEU
        ),
    ] = False,
    tokenize: Annotated[
        str | None,
        typer.Option(
            "--tokenize",
            help="13a, intl, char, none, zh, ...",
            show_default=BleuOptions.tokenize,
            rich_help_panel=_BLEU,
        ),
    ] = None,
    smooth_method: Annotated[
        str | None,
        typer.Option(
            "--smooth-method",
            help="exp, floor, add-k or none.",
            show_default=BleuOptions.smooth_method,
            rich_help_panel=_BLEU,
        ),
    ] = None,
    smooth_value: Annotated[
        float | None,
        typer.Option(help="For floor (0.1) and add-k (1).", rich_help_panel=_BLEU),
    ] = None,
    max_ngram_order: Annotated[
        int | None,
        typer.Option(
            "--max-ngram-order",
            help="Longest n-gram.",
            show_default=str(BleuOptions.max_ngram_order),
            rich_help_panel=_BLEU,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Silence the 'looks tokenized' warning.",
            rich_help_panel=_BLEU,
        ),
    ] = False,
    sentence: Annotated[
        bool,
        typer.Option(
            "--sentence",
            help="One score per line, for each segment.",
            rich_help_panel=_OUT,
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Show how BLEU is computed (tables on stderr).",
            rich_help_panel=_OUT,
        ),
    ] = False,
    line: Annotated[
        int | None,
        typer.Option(
            help="With --explain: only this line (1-based).", rich_help_panel=_OUT
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON.", rich_help_panel=_OUT)
    ] = False,
    score_only: Annotated[
        bool,
        typer.Option(
            "--score-only", "-b", help="Print the number alone.", rich_help_panel=_OUT
        ),
    ] = False,
    width: Annotated[
        int, typer.Option("--width", "-w", help="Decimals shown.", rich_help_panel=_OUT)
    ] = 1,
    confidence: Annotated[
        bool,
        typer.Option(
            "--confidence",
            help="Add a 95% bootstrap confidence interval.",
            rich_help_panel=_STATS,
        ),
    ] = False,
    confidence_n: Annotated[
        int, typer.Option(help="Bootstrap resamples.", rich_help_panel=_STATS)
    ] = BOOTSTRAP_SAMPLES,
    system: Annotated[
        list[str] | None,
        typer.Option(
            help="Another hypothesis file, compared with HYP by paired bootstrap "
            "(table on stdout); repeatable.",
            rich_help_panel=_STATS,
        ),
    ] = None,
) -> None:
    """Score hypotheses against references with sacreBLEU (BLEU, chrF, TER).

    The files go as HYP REF... or, in sacreBLEU's order, as REF... -i HYP; HYP is
    read line by line with each REF, - for stdin.

    Examples:

    seqcli bleu hyp.txt ref.txt

    seqcli bleu ref.txt ref2.txt -i hyp.txt

    sed 's/@@ //g' hyp.bpe | seqcli bleu - ref.txt -m bleu,chrf
    """
    hyp, refs = _hyp_and_refs(files, input_file)
    _check_width(width)
    _check_resamples(confidence_n)
    names = [name.strip().lower() for name in metrics.split(",") if name.strip()]
    options = _bleu_options(
        lowercase, tokenize, smooth_method, smooth_value, max_ngram_order, force
    )
    systems = system or []
    _check_combination(sentence, confidence or bool(systems), line, explain)
    texts = read_aligned_lines([hyp, *systems, *refs])
    hyps, ref_lines = texts[0], texts[1 + len(systems) :]
    if sentence:
        rows = [
            sentence_scores(hyps, ref_lines, metric=n, options=options) for n in names
        ]
        _print_sentences(list(zip(*rows, strict=True)), width=width, as_json=as_json)
    elif systems:
        named = list(zip([hyp, *systems], texts[: 1 + len(systems)], strict=True))
        result = paired_bootstrap(
            named, ref_lines, metrics=names, options=options, n_samples=confidence_n
        )
        _print_paired(result, width=width, as_json=as_json)
    else:
        scores = corpus_scores(
            hyps,
            ref_lines,
            metrics=names,
            options=options,
            n_bootstrap=confidence_n if confidence else 1,
        )
        _print_corpus(scores, width=width, as_json=as_json, score_only=score_only)
    if explain:
        _print_explanation(
            explain_bleu(hyps, ref_lines, options=options, line=line), width=width
        )


def _hyp_and_refs(files: list[str], input_file: str | None) -> tuple[str, list[str]]:
    """The hypothesis file and the references: ``HYP REF...``, or ``REF... -i HYP``
    as sacreBLEU takes them (then every argument is a reference)."""
    if input_file is not None:
        return input_file, files
    if len(files) < 2:
        raise ConfigError(
            f"one file given ({files[0]}): give HYP REF..., "
            "or the references with -i HYP as in sacreBLEU"
        )
    return files[0], files[1:]


def _bleu_options(
    lowercase: bool,
    tokenize: str | None,
    smooth_method: str | None,
    smooth_value: float | None,
    max_ngram_order: int | None,
    force: bool,
) -> BleuOptions:
    """BleuOptions from the flags given; flags left out keep the dataclass defaults."""
    given = {
        "tokenize": tokenize,
        "smooth_method": smooth_method,
        "smooth_value": smooth_value,
        "max_ngram_order": max_ngram_order,
    }
    return BleuOptions(
        lowercase=lowercase,
        force=force,
        **{key: value for key, value in given.items() if value is not None},
    )


# More decimals than a double holds would only print noise.
MAX_WIDTH = 15


def _check_width(width: int) -> None:
    if not 0 <= width <= MAX_WIDTH:
        raise ConfigError(f"--width must be 0 to {MAX_WIDTH} decimals (got {width})")


def _check_resamples(n: int) -> None:
    # One resample has no spread: the interval would be dropped without a word.
    if n < 2:
        raise ConfigError(
            f"--confidence-n {n}: a bootstrap needs at least 2 resamples "
            f"(sacreBLEU's default: {BOOTSTRAP_SAMPLES})"
        )


def _check_combination(
    sentence: bool, statistics: bool, line: int | None, explain: bool
) -> None:
    if sentence and statistics:
        raise ConfigError("--sentence cannot be combined with --confidence or --system")
    if line is not None and not explain:
        raise ConfigError("--line is used with --explain")


def _print_corpus(
    scores: list[MetricScore], *, width: int, as_json: bool, score_only: bool
) -> None:
    # sacreBLEU's conventions: --score-only wins over JSON; one metric, one object.
    if score_only:
        for score in scores:
            print(format_score(score, width=width, score_only=True))
    elif as_json:
        data = [score_to_dict(score, width=width) for score in scores]
        print(
            json.dumps(
                data[0] if len(data) == 1 else data, indent=1, ensure_ascii=False
            )
        )
    else:
        for score in scores:
            print(format_score(score, width=width))


def _print_sentences(
    rows: list[tuple[MetricScore, ...]], *, width: int, as_json: bool
) -> None:
    for row in rows:
        if as_json:
            data = [score_to_dict(score, width=width) for score in row]
            print(json.dumps(data[0] if len(data) == 1 else data, ensure_ascii=False))
        else:
            print("\t".join(format_score(s, width=width, score_only=True) for s in row))
    if not as_json:
        for score in rows[0]:
            err_console.print(
                f"{score.name}|{score.signature}", markup=False, style="dim"
            )


def _print_paired(result: PairedComparison, *, width: int, as_json: bool) -> None:
    from rich.table import Table  # rich.table costs 20 ms: only import it when used
    from rich.text import Text

    if as_json:
        systems: list[dict[str, Any]] = [
            {"system": row.system, "baseline": row.is_baseline}
            | {name: vars(score) for name, score in row.scores.items()}
            for row in result.rows
        ]
        data = {
            "n_samples": result.n_samples,
            "signatures": result.signatures,
            "systems": systems,
        }
        print(json.dumps(data, indent=1, ensure_ascii=False))
        return
    table = Table(
        title=f"Paired bootstrap resampling, {result.n_samples} samples; "
        "p ≤ 0.05 marked *"
    )
    table.add_column("System")
    for name in result.signatures:
        table.add_column(f"{name} (μ ± 95% CI)", justify="right")
        table.add_column("p-value", justify="right")
    for row in result.rows:
        cells = [Text(("Baseline: " if row.is_baseline else "") + row.system)]
        for score in row.scores.values():
            cells.append(
                Text(
                    f"{score.score:.{width}f} ({score.mean:.{width}f} "
                    f"± {score.ci:.{width}f})"
                )
            )
            p = score.p_value
            cells.append(
                Text("" if p is None else f"{p:.4f}" + ("*" if p <= 0.05 else ""))
            )
        table.add_row(*cells)
    out_console.print(table)
    for name, signature in result.signatures.items():
        print(f"{name}|{signature}")


def _print_explanation(ex: BleuExplanation, *, width: int) -> None:
    from rich.table import Table
    from rich.text import Text

    if ex.ngrams:
        grams = Table(
            title="Hypothesis n-grams: Count_clip = min(count, max ref count)"
        )
        for header in ("n-gram", "count", "max ref count", "Count_clip"):
            grams.add_column(header, justify="left" if header == "n-gram" else "right")
        for row in ex.ngrams:
            grams.add_row(
                Text(row.ngram),
                str(row.count),
                str(row.max_ref_count),
                str(row.clipped),
            )
        err_console.print(grams)
    orders = Table(title=f"Modified n-gram precisions over {ex.segments} segment(s)")
    for header in ("n", "Σ Count_clip", "Σ count", "p_n", "p_n used (%)"):
        orders.add_column(header, justify="right")
    for o in ex.orders:
        plain = f"{o.clipped}/{o.total}" + (
            f" = {o.clipped / o.total:.4f}" if o.total else ""
        )
        used = f"{o.precision:.4f}" + (
            f" ({ex.smooth_method} smoothing)" if o.smoothed else ""
        )
        orders.add_row(str(o.n), str(o.clipped), str(o.total), plain, used)
    err_console.print(orders)
    c, r = ex.hyp_len, ex.ref_len
    bp_rule = "1, since c > r" if c > r else f"exp(1 - r/c) = exp(1 - {r}/{c})"
    if c == 0:
        bp_rule = "0, since c = 0"
    n = len(ex.orders)
    for text in (
        f"candidate length c = {c}; effective reference length r = {r}",
        f"brevity penalty BP = {bp_rule} = {ex.bp:.4f}",
        f"geometric mean of p_1..p_{n} = exp((1/{n}) Σ log p_n) = {ex.geo_mean:.4f}",
        f"BLEU = BP × geometric mean = {ex.score:.{width}f}",
    ):
        err_console.print(text, markup=False, highlight=False)
