"""How a BLEU score comes about: the steps behind `seqcli bleu --explain`.

Papineni et al. (2002): each hypothesis n-gram counts at most as often as it occurs
in any one reference (Count_clip); the modified precision p_n of order n is the sum
of the clipped counts over the number of hypothesis n-grams; BLEU is the geometric
mean of p_1..p_N times the brevity penalty BP. Everything here is computed with
sacreBLEU's own tokens and n-grams (through `seqcli.metrics.sacrebleu_compat`), so
that the score at the end is the corpus score to the last digit.

The entry point is `explain_bleu`. It sits above `seqcli.metrics.translation`,
whose options and scorer it uses (imports run one way: translation never imports
this module). Must not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seqcli.errors import ConfigError
from seqcli.metrics.sacrebleu_compat import segment_ngrams
from seqcli.metrics.translation import BleuOptions, build_bleu

if TYPE_CHECKING:
    from sacrebleu.metrics import BLEU


@dataclass(frozen=True)
class NgramRow:
    """One distinct hypothesis n-gram: Count_clip = min(count, max_ref_count)."""

    n: int
    ngram: str
    count: int
    max_ref_count: int  # the most times it occurs in any one reference
    clipped: int


@dataclass(frozen=True)
class OrderStats:
    """Modified precision of one n-gram order (Papineni et al., 2002, section 2.1)."""

    n: int
    clipped: int  # sum of Count_clip over the hypothesis n-grams
    total: int  # number of hypothesis n-grams
    precision: float  # percent, as used in the score (after smoothing, if any)
    smoothed: bool  # True where smoothing changed clipped/total


@dataclass(frozen=True)
class BleuExplanation:
    """Every step from n-gram counts to the BLEU score.

    BLEU = BP * exp(sum(log p_n) / N), BP = 1 if c > r else exp(1 - r/c).
    """

    orders: list[OrderStats]
    hyp_len: int  # c, the candidate length in tokens
    ref_len: int  # r, the sum of the reference lengths closest to each segment
    bp: float
    geo_mean: float  # percent: geometric mean of the precisions
    score: float  # equals the plain corpus score
    smooth_method: str
    segments: int
    ngrams: list[NgramRow]  # filled for a single segment only


def explain_bleu(
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    *,
    options: BleuOptions | None = None,
    line: int | None = None,
) -> BleuExplanation:
    """Lay bare how corpus BLEU comes about, with sacreBLEU's own tokens and n-grams.

    Args:
        hyps: One hypothesis per segment.
        refs: References, as for `seqcli.metrics.translation.corpus_scores`.
        options: BLEU settings.
        line: If given, explain only this 1-based segment.

    Returns:
        Clipped counts, totals and precisions per order, lengths, brevity penalty,
        geometric mean and score; per-n-gram rows when one segment is explained.
    """
    options = options or BleuOptions()
    if line is not None:
        if not 1 <= line <= len(hyps):
            raise ConfigError(f"line must be between 1 and {len(hyps)}, not {line}")
        hyps, refs = hyps[line - 1 : line], [ref[line - 1 : line] for ref in refs]
    return explain_with(build_bleu(options), hyps, refs, options)


def explain_with(
    scorer: BLEU,
    hyps: Sequence[str],
    refs: Sequence[Sequence[str]],
    options: BleuOptions,
) -> BleuExplanation:
    """Explain the corpus BLEU of ``hyps`` as ``scorer`` (built from ``options``)
    computes it; n-gram rows are kept when there is a single segment."""
    from sacrebleu.metrics import BLEU

    order = options.max_ngram_order
    clipped, totals = [0] * order, [0] * order
    hyp_len = ref_len = 0
    rows: list[NgramRow] = []
    for i, hyp in enumerate(hyps):
        seg_rows, seg_hyp_len, seg_ref_len = _count_ngrams(
            scorer, hyp, [ref[i] for ref in refs], order
        )
        hyp_len, ref_len = hyp_len + seg_hyp_len, ref_len + seg_ref_len
        for row in seg_rows:
            clipped[row.n - 1] += row.clipped
            totals[row.n - 1] += row.count
        rows = seg_rows if len(hyps) == 1 else rows
    # compute_bleu adds add-k smoothing to the lists it is given: pass copies.
    result = BLEU.compute_bleu(
        list(clipped),
        list(totals),
        hyp_len,
        ref_len,
        smooth_method=options.smooth_method,
        smooth_value=options.smooth_value,
        max_ngram_order=order,
    )
    orders = [
        OrderStats(
            n,
            clipped[n - 1],
            totals[n - 1],
            precision,
            _is_smoothed(clipped[n - 1], totals[n - 1], precision),
        )
        for n, precision in enumerate(result.precisions, start=1)
    ]
    return BleuExplanation(
        orders=orders,
        hyp_len=hyp_len,
        ref_len=ref_len,
        bp=result.bp,
        geo_mean=_geometric_mean(result.precisions),
        score=result.score,
        smooth_method=options.smooth_method,
        segments=len(hyps),
        ngrams=rows,
    )


def _count_ngrams(
    scorer: BLEU, hyp: str, refs: list[str], order: int
) -> tuple[list[NgramRow], int, int]:
    """Clip each hypothesis n-gram of one segment against its references.

    Returns the rows, c and r of the segment.
    """
    seg = segment_ngrams(scorer, hyp, refs, order)
    rows = []
    for ngram, count in seg.hyp_counts.items():
        max_ref = seg.ref_max_counts.get(ngram, 0)
        rows.append(
            NgramRow(len(ngram), " ".join(ngram), count, max_ref, min(count, max_ref))
        )
    return rows, seg.hyp_len, seg.ref_len


def _is_smoothed(clipped: int, total: int, precision: float) -> bool:
    """Whether the precision used differs from the plain ratio clipped / total."""
    plain = 100.0 * clipped / total if total else 0.0
    return not math.isclose(plain, precision)


def _geometric_mean(precisions: Sequence[float]) -> float:
    """exp of the mean log precision; 0 when any precision is 0, as in BLEU."""
    if not precisions or min(precisions) <= 0:
        return 0.0
    return math.exp(sum(math.log(p) for p in precisions) / len(precisions))
