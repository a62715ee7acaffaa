"""Every use of sacreBLEU's internals, in one place. Must not import torch.

seqcli takes its numbers from sacreBLEU's public API (``BLEU``, ``CHRF``, ``TER``,
``corpus_score``, ``sentence_score``, ``get_signature``, ``BLEU.compute_bleu``,
``significance.PairedTest``). Two things need what that API does not offer, and
use names that sacreBLEU does not promise to keep:

- ``bleu --explain`` shows each hypothesis n-gram with its clipped count.
  sacreBLEU computes these inside ``BLEU._compute_segment_statistics`` and returns
  only the sums, so `segment_ngrams` repeats its steps with its own helpers:
  ``BLEU._preprocess_segment`` (lowercasing, then the tokenizer),
  ``BLEU._extract_reference_info`` (the reference n-gram counts merged by maximum,
  and the reference lengths), ``BLEU._get_closest_ref_len`` (the effective
  reference length r) and ``sacrebleu.metrics.helpers.extract_all_word_ngrams``.
- A score's bootstrap mean and confidence interval, and its verbose text (the
  precisions, BP and lengths after the number), are held only in the private
  attributes ``Score._mean``, ``Score._ci`` and ``Score._verbose``; ``Score.format``
  prints them, but nothing public returns them.

Checked with sacreBLEU 2.4.3, 2.5.1 and 2.6.0: tests/test_bleu.py and
tests/test_sacrebleu_compat.py pass against each. pyproject.toml keeps sacreBLEU
below 3; when a new version moves these names, this module is the one to change.
sacreBLEU is imported inside the functions, as in `seqcli.metrics.translation`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sacrebleu.metrics import BLEU
    from sacrebleu.metrics.base import Score

Ngram = tuple[str, ...]

CHECKED_VERSIONS = ("2.4.3", "2.5.1", "2.6.0")


@dataclass(frozen=True)
class SegmentNgrams:
    """One segment's n-gram statistics, from sacreBLEU's own tokens and n-grams."""

    hyp_counts: Counter[Ngram]  # every hypothesis n-gram of orders 1..N: its count
    ref_max_counts: Mapping[Ngram, int]  # the most times in any one reference
    hyp_len: int  # c, in tokens
    ref_len: int  # r, the reference length closest to c


def segment_ngrams(
    scorer: BLEU, hyp: str, refs: Sequence[str], order: int
) -> SegmentNgrams:
    """The steps of sacreBLEU's BLEU segment statistics, kept apart to be shown.

    Args:
        scorer: The BLEU object that scores the corpus (its tokenizer, lowercasing).
        hyp: One hypothesis line.
        refs: Its references, one per reference file.
        order: The longest n-gram (the scorer's ``max_ngram_order``).
    """
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    ref_info = scorer._extract_reference_info(
        [scorer._preprocess_segment(ref) for ref in refs]
    )
    counts, hyp_len = extract_all_word_ngrams(scorer._preprocess_segment(hyp), 1, order)
    ref_len = scorer._get_closest_ref_len(hyp_len, ref_info["ref_lens"])
    return SegmentNgrams(counts, ref_info["ref_ngrams"], hyp_len, ref_len)


def bootstrap_interval(score: Score) -> tuple[float, float] | None:
    """``(mean, half-width of the 95% interval)`` after bootstrap resampling, or
    None for a score computed without it (sacreBLEU then keeps -1 there)."""
    if score._mean > 0:
        return float(score._mean), float(score._ci)
    return None


def verbose_text(score: Score) -> str:
    """sacreBLEU's text after the number (BLEU: precisions, BP, lengths), or ''."""
    return str(score._verbose)
