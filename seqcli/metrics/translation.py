"""Translation metrics: BLEU, chrF and TER. Must not import torch.

BLEU, chrF and TER come from sacreBLEU (Post, 2018, "A Call for Clarity in Reporting
BLEU Scores"): every number is sacreBLEU's, so scores and signatures match its
command line to the last digit. sacreBLEU is imported inside the functions, so that
importing this module costs nothing to commands that never score.

References are given as sacreBLEU takes them: one list of lines per reference
file, ``refs[k][i]`` being the k-th reference of segment ``i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seqcli.errors import ConfigError
from seqcli.metrics.sacrebleu_compat import bootstrap_interval, verbose_text

if TYPE_CHECKING:
    from sacrebleu.metrics import BLEU
    from sacrebleu.metrics.base import Metric, Score

__all__ = [
    "BOOTSTRAP_SAMPLES",
    "METRIC_NAMES",
    "BleuOptions",
    "MetricScore",
    "PairedComparison",
    "PairedRow",
    "PairedScore",
    "build_bleu",
    "corpus_scores",
    "format_score",
    "paired_bootstrap",
    "score_to_dict",
    "sentence_scores",
]

METRIC_NAMES = ("bleu", "chrf", "ter")
BOOTSTRAP_SAMPLES = 1000  # sacreBLEU's default for --confidence-n and --paired-bs-n


@dataclass(frozen=True)
class BleuOptions:
    """BLEU settings; the defaults are the sacreBLEU command line's."""

    lowercase: bool = False
    tokenize: str = "13a"  # 13a | intl | char | none | zh | ja-mecab | ko-mecab | spm
    smooth_method: str = "exp"  # exp | floor | add-k | none
    smooth_value: float | None = None  # floor: 0.1, add-k: 1 when None
    max_ngram_order: int = 4
    force: bool = False  # silence the "looks tokenized" warning


@dataclass(frozen=True)
class MetricScore:
    """One score as sacreBLEU reports it. The BLEU-only fields are empty otherwise.

    Precisions and ``score`` are percentages, as in sacreBLEU. ``mean`` and ``ci``
    (half the width of the 95% interval) are set after bootstrap resampling.
    """

    name: str  # sacreBLEU's name: BLEU, chrF2, TER
    score: float
    signature: str
    counts: tuple[int, ...] = ()
    totals: tuple[int, ...] = ()
    precisions: tuple[float, ...] = ()
    bp: float | None = None
    ratio: float | None = None
    hyp_len: int | None = None
    ref_len: int | None = None
    details: str = ""  # sacreBLEU's text after the score: precisions, BP, lengths
    mean: float | None = None
    ci: float | None = None


@dataclass(frozen=True)
class PairedScore:
    """One system's score in a paired test; ``p_value`` is None for the baseline."""

    score: float
    mean: float
    ci: float
    p_value: float | None


@dataclass(frozen=True)
class PairedRow:
    """One system of a paired comparison, with a score per metric name."""

    system: str
    is_baseline: bool
    scores: dict[str, PairedScore]


@dataclass(frozen=True)
class PairedComparison:
    """The result of sacreBLEU's paired bootstrap test against the first system."""

    rows: list[PairedRow]
    signatures: dict[str, str]
    n_samples: int


def corpus_scores(
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    *,
    metrics: Sequence[str] = ("bleu",),
    options: BleuOptions | None = None,
    n_bootstrap: int = 1,
) -> list[MetricScore]:
    """Score a corpus with each named metric, as ``sacrebleu REF -i HYP`` does.

    Args:
        hyps: One hypothesis per segment.
        refs: One list of lines per reference file, each as long as ``hyps``.
        metrics: Names from `METRIC_NAMES`, in the order wanted.
        options: BLEU settings (defaults: sacreBLEU's).
        n_bootstrap: Above 1, also estimate a 95% confidence interval by bootstrap
            resampling with this many samples (sacreBLEU's seed, ``SACREBLEU_SEED``).

    Raises:
        ConfigError: For an unknown metric or an invalid BLEU option.
    """
    results = []
    for name in metrics:
        metric = _make_metric(name, options or BleuOptions())
        score = metric.corpus_score(hyps, refs, n_bootstrap=n_bootstrap)
        results.append(_to_metric_score(score, metric.get_signature().format()))
    return results


def sentence_scores(
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    *,
    metric: str = "bleu",
    options: BleuOptions | None = None,
) -> list[MetricScore]:
    """Score each segment alone, as ``sacrebleu --sentence-level`` does.

    BLEU uses effective order here (orders with no n-gram in the hypothesis are left
    out of the mean), as sacreBLEU does at sentence level, so short lines do not
    all score 0.
    """
    scorer = _make_metric(metric, options or BleuOptions(), effective_order=True)
    results = []
    for i, hyp in enumerate(hyps):
        score = scorer.sentence_score(hyp, [ref[i] for ref in refs])
        results.append(_to_metric_score(score, scorer.get_signature().format()))
    return results


def paired_bootstrap(
    systems: Sequence[tuple[str, Sequence[str]]],
    refs: Sequence[Sequence[str]],
    *,
    metrics: Sequence[str] = ("bleu",),
    options: BleuOptions | None = None,
    n_samples: int = BOOTSTRAP_SAMPLES,
) -> PairedComparison:
    """Compare systems with sacreBLEU's paired bootstrap resampling test.

    Args:
        systems: ``(name, hypotheses)`` pairs; the first is the baseline.
        refs: References, as for `corpus_scores`.
        metrics: Metric names.
        options: BLEU settings.
        n_samples: Bootstrap resamples (sacreBLEU's ``--paired-bs-n``).

    Returns:
        Per system and metric: score, bootstrap mean, 95% CI and p-value.
    """
    from sacrebleu.significance import PairedTest

    if len(systems) < 2:
        raise ConfigError("a paired test needs a baseline and at least one system")
    scorers = {
        name.upper(): _make_metric(name, options or BleuOptions()) for name in metrics
    }
    signatures, table = PairedTest(
        [(name, list(lines)) for name, lines in systems],
        scorers,
        references=refs,
        test_type="bs",
        n_samples=n_samples,
    )()
    names = [key for key in table if key != "System"]
    rows = []
    for i, (system, _) in enumerate(systems):
        scores = {}
        for name in names:
            result = table[name][i]
            p_value = None if result.p_value is None else float(result.p_value)
            scores[name] = PairedScore(
                float(result.score), float(result.mean), float(result.ci), p_value
            )
        rows.append(PairedRow(system, i == 0, scores))
    sigs = {name: sig.format() for name, sig in signatures.items()}
    return PairedComparison(rows, sigs, n_samples)


def build_bleu(options: BleuOptions) -> BLEU:
    """sacreBLEU's BLEU scorer for ``options``, which are checked first
    (`ConfigError` names a bad tokenizer, smoothing method or n-gram order)."""
    return _make_metric("bleu", options)  # type: ignore[return-value]


def format_score(
    score: MetricScore, *, width: int = 1, score_only: bool = False
) -> str:
    """Render a score as sacreBLEU's text line (``Score.format``) does.

    Example: ``BLEU|nrefs:1|case:mixed|...|version:2.4.3 = 27.3 58.6/33.1/...``.
    """
    text = f"{score.score:.{width}f}"
    if score.mean is not None and score.mean > 0:
        text += f" (μ = {score.mean:.{width}f} ± {score.ci:.{width}f})"
    if score_only:
        return text
    line = f"{score.name}|{score.signature} = {text}"
    return f"{line} {score.details}" if score.details else line


def score_to_dict(score: MetricScore, *, width: int = 1) -> dict[str, Any]:
    """sacreBLEU's JSON fields (score rounded to ``width``), plus exact statistics."""
    data: dict[str, Any] = {
        "name": score.name,
        "score": float(f"{score.score:.{width}f}"),
        "signature": score.signature,
    }
    if score.mean is not None and score.mean > 0:
        data["confidence_mean"] = float(f"{score.mean:.{width}f}")
        data["confidence_var"] = float(f"{score.ci:.{width}f}")
        data["confidence"] = f"μ = {data['confidence_mean']} ± {data['confidence_var']}"
    if score.details:
        data["verbose_score"] = score.details
    data.update(part.split(":", 1) for part in score.signature.split("|"))
    if score.counts:
        data.update(
            exact_score=score.score,
            counts=list(score.counts),
            totals=list(score.totals),
            precisions=list(score.precisions),
            bp=score.bp,
            ratio=score.ratio,
            hyp_len=score.hyp_len,
            ref_len=score.ref_len,
        )
    return data


def _make_metric(
    name: str, options: BleuOptions, *, effective_order: bool = False
) -> Metric:
    """Build the sacreBLEU metric object for ``name``, checking BLEU options first."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    if name == "chrf":
        return CHRF()
    if name == "ter":
        return TER()
    if name != "bleu":
        raise ConfigError(
            f"unknown metric {name!r}; choose from {', '.join(METRIC_NAMES)}"
        )
    if options.tokenize not in BLEU.TOKENIZERS:
        raise ConfigError(
            f"unknown tokenizer {options.tokenize!r}; "
            f"choose from {', '.join(BLEU.TOKENIZERS)}"
        )
    if options.smooth_method not in BLEU.SMOOTH_DEFAULTS:
        raise ConfigError(
            f"unknown smoothing method {options.smooth_method!r}; "
            f"choose from {', '.join(BLEU.SMOOTH_DEFAULTS)}"
        )
    if options.max_ngram_order < 1:
        raise ConfigError(
            f"max_ngram_order must be at least 1, not {options.max_ngram_order}"
        )
    try:
        return BLEU(
            lowercase=options.lowercase,
            force=options.force,
            tokenize=options.tokenize,
            smooth_method=options.smooth_method,
            smooth_value=options.smooth_value,
            max_ngram_order=options.max_ngram_order,
            effective_order=effective_order,
        )
    except (ImportError, RuntimeError, OSError) as exc:
        # ja-mecab and ko-mecab need extra packages; spm and flores download a model.
        reason = " ".join(str(exc).split())
        raise ConfigError(
            f"tokenizer {options.tokenize!r} is unavailable: {reason}"
        ) from None


def _to_metric_score(score: Score, signature: str) -> MetricScore:
    """Copy what sacreBLEU reports into our dataclass (numpy floats become floats)."""
    mean, ci = bootstrap_interval(score) or (None, None)
    common = {
        "name": score.name,
        "score": float(score.score),
        "signature": signature,
        "details": verbose_text(score),
        "mean": mean,
        "ci": ci,
    }
    if not hasattr(score, "counts"):
        return MetricScore(**common)
    return MetricScore(
        **common,
        counts=tuple(score.counts),
        totals=tuple(score.totals),
        precisions=tuple(float(p) for p in score.precisions),
        bp=float(score.bp),
        ratio=float(score.ratio),
        hyp_len=int(score.sys_len),
        ref_len=int(score.ref_len),
    )
