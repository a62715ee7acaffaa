"""seqcli.metrics (BLEU, chrF, TER) against sacreBLEU's API; the plain-lines readers."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.significance import PairedTest

from seqcli.errors import ConfigError, DataFormatError
from seqcli.metrics.bleu_explain import NgramRow, explain_bleu
from seqcli.metrics.translation import (
    BleuOptions,
    MetricScore,
    corpus_scores,
    format_score,
    paired_bootstrap,
    score_to_dict,
    sentence_scores,
)
from seqcli.readers import read_aligned_lines, read_text_lines

HYPS = [
    "The cat sat on the mat.",
    "A dog barks at the Postman .",
    "",
    "Two men, who are playing football in the park.",
    "it is raining today",
]
REF_A = [
    "The cat is sitting on the mat.",
    "A dog is barking at the postman.",
    "Nothing happened.",
    "Two men are playing football in a park.",
    "It is raining today.",
]
REF_B = [
    "There is a cat on the mat.",
    "The dog barks at the mailman.",
    "",
    "Two men play soccer in the park.",
    "Today it rains.",
]
# Tokenizers that need no download or extra package.
TOKENIZERS = ["13a", "intl", "char", "none", "zh"]


def sacre_bleu(hyps, refs, options: BleuOptions, **kwargs):
    """sacreBLEU's BLEU object and corpus score for the same options."""
    metric = BLEU(
        lowercase=options.lowercase,
        tokenize=options.tokenize,
        smooth_method=options.smooth_method,
        smooth_value=options.smooth_value,
        max_ngram_order=options.max_ngram_order,
        force=options.force,
        **kwargs,
    )
    return metric, metric.corpus_score(hyps, refs)


def assert_same_bleu(ours: MetricScore, metric: BLEU, theirs) -> None:
    """Every field sacreBLEU reports, including its text line at two widths."""
    signature = metric.get_signature().format()
    assert ours.name == theirs.name
    assert ours.score == theirs.score
    assert list(ours.counts) == list(theirs.counts)
    assert list(ours.totals) == list(theirs.totals)
    assert list(ours.precisions) == list(theirs.precisions)
    assert ours.bp == theirs.bp
    assert ours.ratio == theirs.ratio
    assert (ours.hyp_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    assert ours.signature == signature
    for width in (1, 4):
        assert format_score(ours, width=width) == theirs.format(
            width, signature=signature
        )


@pytest.mark.parametrize("refs", [[REF_A], [REF_A, REF_B]], ids=["1ref", "2refs"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_corpus_bleu_matches_sacrebleu(refs, lowercase):
    options = BleuOptions(lowercase=lowercase)
    [ours] = corpus_scores(HYPS, refs, options=options)
    assert_same_bleu(ours, *sacre_bleu(HYPS, refs, options))
    assert f"nrefs:{len(refs)}" in ours.signature


@pytest.mark.parametrize("tokenize", TOKENIZERS)
def test_each_tokenizer_matches_sacrebleu(tokenize):
    options = BleuOptions(tokenize=tokenize)
    [ours] = corpus_scores(HYPS, [REF_A, REF_B], options=options)
    assert_same_bleu(ours, *sacre_bleu(HYPS, [REF_A, REF_B], options))
    assert f"tok:{tokenize}" in ours.signature


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("exp", None),
        ("floor", None),
        ("floor", 0.3),
        ("add-k", None),
        ("add-k", 2),
        ("none", None),
    ],
)
def test_each_smoothing_matches_sacrebleu(method, value):
    # Short hypotheses, so that some orders have no match and smoothing matters.
    hyps, refs = ["the cat", "a dog barks"], [["the cat sat", "the dog barks loudly"]]
    options = BleuOptions(smooth_method=method, smooth_value=value)
    [ours] = corpus_scores(hyps, refs, options=options)
    assert_same_bleu(ours, *sacre_bleu(hyps, refs, options))


def test_max_ngram_order_matches_sacrebleu():
    options = BleuOptions(max_ngram_order=2)
    [ours] = corpus_scores(HYPS, [REF_A], options=options)
    assert len(ours.counts) == 2
    assert_same_bleu(ours, *sacre_bleu(HYPS, [REF_A], options))


def test_empty_hypothesis_line_is_scored_as_sacrebleu_scores_it():
    hyps, refs = ["", "the cat"], [["a cat", "the cat"]]
    [ours] = corpus_scores(hyps, refs)
    assert_same_bleu(ours, *sacre_bleu(hyps, refs, BleuOptions()))


def test_sentence_bleu_uses_effective_order_like_sacrebleu():
    scores = sentence_scores(HYPS, [REF_A, REF_B])
    metric = BLEU(effective_order=True)
    assert len(scores) == len(HYPS)
    for i, ours in enumerate(scores):
        theirs = metric.sentence_score(HYPS[i], [REF_A[i], REF_B[i]])
        assert_same_bleu(ours, metric, theirs)
    assert "eff:yes" in scores[0].signature
    # "it is raining today" has no 4-gram match; effective order keeps it above 0.
    assert scores[4].score > 0


@pytest.mark.parametrize(("name", "cls"), [("chrf", CHRF), ("ter", TER)])
def test_chrf_and_ter_match_sacrebleu(name, cls):
    [ours] = corpus_scores(HYPS, [REF_A, REF_B], metrics=[name])
    metric = cls()
    theirs = metric.corpus_score(HYPS, [REF_A, REF_B])
    signature = metric.get_signature().format()
    assert (ours.name, ours.score, ours.signature) == (
        theirs.name,
        theirs.score,
        signature,
    )
    assert format_score(ours, width=3) == theirs.format(3, signature=signature)
    assert ours.counts == ()


@pytest.mark.parametrize(("name", "cls"), [("chrf", CHRF), ("ter", TER)])
def test_sentence_chrf_and_ter_match_sacrebleu(name, cls):
    metric = cls()
    for i, ours in enumerate(sentence_scores(HYPS, [REF_A], metric=name)):
        assert ours.score == metric.sentence_score(HYPS[i], [REF_A[i]]).score


def test_several_metrics_keep_the_requested_order():
    scores = corpus_scores(HYPS, [REF_A], metrics=["ter", "bleu", "chrf"])
    assert [s.name for s in scores] == ["TER", "BLEU", "chrF2"]


def test_bootstrap_confidence_matches_sacrebleu():
    [ours] = corpus_scores(HYPS, [REF_A], n_bootstrap=200)
    metric = BLEU()
    theirs = metric.corpus_score(HYPS, [REF_A], n_bootstrap=200)
    signature = metric.get_signature().format()
    assert (ours.mean, ours.ci) == (theirs._mean, theirs._ci)
    assert ours.signature == signature
    assert "bs:200" in signature and "seed:12345" in signature
    assert format_score(ours, width=2) == theirs.format(2, signature=signature)


def test_paired_bootstrap_matches_sacrebleu_paired_test():
    other = [h.lower() for h in HYPS]
    ours = paired_bootstrap([("base", HYPS), ("low", other)], [REF_A], n_samples=100)
    metric = BLEU(references=[REF_A])
    sigs, table = PairedTest(
        [("base", HYPS), ("low", other)], {"BLEU": metric}, None, "bs", 100
    )()
    assert [row.system for row in ours.rows] == table["System"]
    assert [row.is_baseline for row in ours.rows] == [True, False]
    for row, result in zip(ours.rows, table["BLEU"], strict=True):
        got = row.scores["BLEU"]
        assert (got.score, got.mean, got.ci) == (result.score, result.mean, result.ci)
        assert got.p_value == result.p_value
    assert ours.rows[0].scores["BLEU"].p_value is None
    assert ours.signatures == {"BLEU": sigs["BLEU"].format()}


def test_paired_bootstrap_needs_two_systems():
    with pytest.raises(ConfigError, match="baseline"):
        paired_bootstrap([("base", HYPS)], [REF_A])


def test_json_fields_extend_sacrebleus_json():
    [ours] = corpus_scores(HYPS, [REF_A])
    metric = BLEU()
    theirs = metric.corpus_score(HYPS, [REF_A])
    signature = metric.get_signature().format()
    expected = json.loads(theirs.format(2, signature=signature, is_json=True))
    data = score_to_dict(ours, width=2)
    assert {key: data[key] for key in expected} == expected
    assert data["counts"] == list(theirs.counts)
    assert data["exact_score"] == theirs.score


@pytest.mark.parametrize(
    "options",
    [
        BleuOptions(tokenize="nonsense"),
        BleuOptions(smooth_method="magic"),
        BleuOptions(max_ngram_order=0),
    ],
)
def test_invalid_bleu_options_raise_config_error(options):
    with pytest.raises(ConfigError):
        corpus_scores(HYPS, [REF_A], options=options)


def test_tokenizer_without_its_extra_package_raises_config_error():
    if importlib.util.find_spec("MeCab") is not None:
        pytest.skip("mecab-python3 is installed here")
    with pytest.raises(
        ConfigError, match="'ja-mecab' is unavailable: .*sacrebleu\\[ja\\]"
    ):
        corpus_scores(HYPS, [REF_A], options=BleuOptions(tokenize="ja-mecab"))


def test_unknown_metric_raises_config_error():
    with pytest.raises(ConfigError, match="meteor"):
        corpus_scores(HYPS, [REF_A], metrics=["meteor"])


# --- explain ---------------------------------------------------------------------
TEXTBOOK_REFS = [["the cat is on the mat"], ["there is a cat on the mat"]]


def test_explain_textbook_repeated_the():
    # Papineni et al. (2002): "the" seven times has unigram modified precision 2/7.
    ex = explain_bleu(["the the the the the the the"], TEXTBOOK_REFS)
    assert (ex.orders[0].clipped, ex.orders[0].total) == (2, 7)
    assert ex.ngrams[0] == NgramRow(1, "the", 7, 2, 2)


def test_explain_textbook_the_cat():
    ex = explain_bleu(["the cat the cat on the mat"], TEXTBOOK_REFS)
    assert [(o.clipped, o.total) for o in ex.orders[:2]] == [(5, 7), (4, 6)]
    rows = {row.ngram: (row.count, row.max_ref_count, row.clipped) for row in ex.ngrams}
    assert rows["the"] == (3, 2, 2)
    assert rows["the cat"] == (2, 1, 1)
    assert rows["cat the"] == (1, 0, 0)


@pytest.mark.parametrize(
    "options", [BleuOptions(), BleuOptions(lowercase=True, tokenize="intl")]
)
def test_explain_agrees_with_the_plain_score(options):
    ex = explain_bleu(HYPS, [REF_A, REF_B], options=options)
    [plain] = corpus_scores(HYPS, [REF_A, REF_B], options=options)
    assert [o.clipped for o in ex.orders] == list(plain.counts)
    assert [o.total for o in ex.orders] == list(plain.totals)
    assert [o.precision for o in ex.orders] == list(plain.precisions)
    assert (ex.hyp_len, ex.ref_len, ex.bp, ex.score) == (
        plain.hyp_len,
        plain.ref_len,
        plain.bp,
        plain.score,
    )
    assert ex.bp * ex.geo_mean == pytest.approx(ex.score)
    assert ex.ngrams == []  # per-n-gram rows only for one segment
    assert ex.segments == len(HYPS)


def test_explain_brevity_penalty_for_a_short_candidate():
    ex = explain_bleu(["the cat sat on"], [["the cat is on the mat"]])
    assert (ex.hyp_len, ex.ref_len) == (4, 6)
    assert ex.bp == pytest.approx(math.exp(1 - 6 / 4))
    assert [(o.clipped, o.total) for o in ex.orders] == [(3, 4), (1, 3), (0, 2), (0, 1)]
    # exp smoothing replaces the empty 3- and 4-gram precisions.
    assert [o.smoothed for o in ex.orders] == [False, False, True, True]


def test_explain_add_k_keeps_the_raw_counts():
    options = BleuOptions(smooth_method="add-k")
    ex = explain_bleu(["the cat sat"], [["the cat is on the mat"]], options=options)
    assert [(o.clipped, o.total) for o in ex.orders] == [(2, 3), (1, 2), (0, 1), (0, 0)]
    [plain] = corpus_scores(
        ["the cat sat"], [["the cat is on the mat"]], options=options
    )
    assert ex.score == plain.score


def test_explain_one_line_equals_that_line_as_a_corpus():
    ex = explain_bleu(HYPS, [REF_A], line=4)
    [plain] = corpus_scores(HYPS[3:4], [REF_A[3:4]])
    assert ex.score == plain.score and ex.segments == 1 and ex.ngrams
    with pytest.raises(ConfigError, match="between 1 and 5"):
        explain_bleu(HYPS, [REF_A], line=6)


# --- property tests: random corpora ------------------------------------------------
WORDS = ["the", "The", "cat", "mat", "on", "a", ".", ",", "sat", "dog"]
sentences = st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join)


@st.composite
def corpora(draw):
    n = draw(st.integers(1, 5))
    hyps = draw(st.lists(sentences, min_size=n, max_size=n))
    n_refs = draw(st.integers(1, 3))
    refs = [draw(st.lists(sentences, min_size=n, max_size=n)) for _ in range(n_refs)]
    return hyps, refs


bleu_options = st.builds(
    BleuOptions,
    lowercase=st.booleans(),
    tokenize=st.sampled_from(TOKENIZERS),
    smooth_method=st.sampled_from(["exp", "floor", "add-k", "none"]),
    max_ngram_order=st.integers(1, 4),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus=corpora(), options=bleu_options)
def test_random_corpora_match_sacrebleu(corpus, options):
    hyps, refs = corpus
    [ours] = corpus_scores(hyps, refs, options=options)
    assert_same_bleu(ours, *sacre_bleu(hyps, refs, options))
    ex = explain_bleu(hyps, refs, options=options)
    assert [o.total for o in ex.orders][:1] == list(ours.totals)[:1]
    assert (ex.score, ex.bp, ex.hyp_len, ex.ref_len) == (
        ours.score,
        ours.bp,
        ours.hyp_len,
        ours.ref_len,
    )
    if options.smooth_method != "add-k":  # add-k adds k to sacreBLEU's counts
        assert [o.clipped for o in ex.orders] == list(ours.counts)
        assert [o.total for o in ex.orders] == list(ours.totals)


@settings(max_examples=30, deadline=None)
@given(corpus=corpora())
def test_random_sentences_match_sacrebleu(corpus):
    hyps, refs = corpus
    metric = BLEU(effective_order=True)
    for i, ours in enumerate(sentence_scores(hyps, refs)):
        theirs = metric.sentence_score(hyps[i], [ref[i] for ref in refs])
        assert_same_bleu(ours, metric, theirs)


# --- plain-lines readers ---------------------------------------------------------
def test_read_text_lines_keeps_spaces_and_blank_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b" one \r\n\ntwo\x0cstill two\nlast")
    assert read_text_lines(str(path)) == [" one ", "", "two\x0cstill two", "last"]


@pytest.mark.parametrize(
    ("content", "message"), [(None, "file not found"), (b"", "file is empty")]
)
def test_read_text_lines_missing_or_empty(tmp_path, content, message):
    path = tmp_path / "a.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataFormatError, match=message) as info:
        read_text_lines(str(path))
    assert info.value.path == str(path)


def test_read_text_lines_names_the_line_of_bad_bytes(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"ok\n\xc3\xa7a va\nab\xffc\n")
    with pytest.raises(DataFormatError) as info:
        read_text_lines(str(path))
    assert info.value.line == 3
    assert str(info.value) == f"{path}:3: not valid UTF-8 (byte 0xff at column 3)"


def test_read_aligned_lines_checks_line_counts(tmp_path):
    (tmp_path / "a.txt").write_text("1\n2\n")
    (tmp_path / "b.txt").write_text("1\n2\n3\n")
    a, b = str(tmp_path / "a.txt"), str(tmp_path / "b.txt")
    assert read_aligned_lines([a, a]) == [["1", "2"], ["1", "2"]]
    with pytest.raises(DataFormatError, match=r"b.txt: has 3 lines but .*a.txt has 2"):
        read_aligned_lines([a, b])
    with pytest.raises(DataFormatError, match="only once"):
        read_aligned_lines(["-", "-"])
