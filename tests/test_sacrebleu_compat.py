"""The sacreBLEU internals seqcli relies on still mean what it takes them to mean.

Each is checked against what sacreBLEU's public API reports for the same input, so
a new sacreBLEU version that moves or changes them fails here first.
"""

from __future__ import annotations

import sacrebleu
from sacrebleu.metrics import BLEU

from seqcli.metrics.sacrebleu_compat import (
    bootstrap_interval,
    segment_ngrams,
    verbose_text,
)

HYPS = ["The cat sat on the mat.", "a dog barks", "", "it rains, it pours"]
REFS = [
    ["The cat is on the mat.", "A dog barks.", "Nothing.", "it rains and it pours"],
    ["There is a cat on the mat.", "a dog is barking", "", "it is raining"],
]


def test_segment_ngrams_add_up_to_sacrebleus_corpus_statistics():
    scorer = BLEU(lowercase=True)
    order = scorer.max_ngram_order
    clipped, totals = [0] * order, [0] * order
    hyp_len = ref_len = 0
    for i, hyp in enumerate(HYPS):
        seg = segment_ngrams(scorer, hyp, [ref[i] for ref in REFS], order)
        hyp_len, ref_len = hyp_len + seg.hyp_len, ref_len + seg.ref_len
        for ngram, count in seg.hyp_counts.items():
            clipped[len(ngram) - 1] += min(count, seg.ref_max_counts.get(ngram, 0))
            totals[len(ngram) - 1] += count
    score = BLEU(lowercase=True).corpus_score(HYPS, REFS)
    assert (clipped, totals) == (list(score.counts), list(score.totals))
    assert (hyp_len, ref_len) == (score.sys_len, score.ref_len)
    assert sum(clipped) > 0  # the comparison is not between empty lists


def test_bootstrap_interval_and_verbose_text_are_what_format_prints():
    plain = BLEU().corpus_score(HYPS, REFS)
    assert bootstrap_interval(plain) is None
    assert verbose_text(plain) and plain.format().endswith(verbose_text(plain))
    resampled = BLEU().corpus_score(HYPS, REFS, n_bootstrap=50)
    interval = bootstrap_interval(resampled)
    assert interval is not None
    mean, ci = interval
    assert f"(μ = {mean:.3f} ± {ci:.3f})" in resampled.format(width=3)


def test_installed_sacrebleu_is_within_the_pinned_major_version():
    # pyproject.toml: sacrebleu>=2.4,<3 (the module docstring lists versions checked)
    major, minor = (int(part) for part in sacrebleu.__version__.split(".")[:2])
    assert major == 2 and minor >= 4
