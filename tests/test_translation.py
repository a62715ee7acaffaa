"""Translation through the Python API: readers, token batches, training on a toy
copying task, decoding, n-best, --replace-unk, error analysis, checkpoints.

One tiny model is trained once per module (a few seconds) and shared.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import copy_pairs, forget_pair

from seqcli.batching import token_batches
from seqcli.config import RecurrentConfig, TrainConfig, TranslationConfig
from seqcli.decoding import Hypothesis
from seqcli.errors import ConfigError, DataFormatError
from seqcli.readers import read_pairs, read_parallel
from seqcli.tasks import translation_inference as inference
from seqcli.tasks.translation import (
    stored_vocabs,
    tokenizers_dict,
    train_translation,
)
from seqcli.tasks.translation_analysis import (
    MODEL_ERROR,
    SAME,
    SEARCH_ERROR,
    advice,
    analyze,
    verdict,
)
from seqcli.tasks.translation_data import prepare_data
from seqcli.tasks.translation_inference import load_translator, translate
from seqcli.tokenizers import SentencePieceTokenizer, train_sentencepiece
from seqcli.vocab import UNK_ID

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(
    files: dict[str, Path], out: Path, **kwargs: object
) -> TranslationConfig:
    cfg = TranslationConfig(
        src_path=str(files["train_src"]),
        tgt_path=str(files["train_tgt"]),
        valid_src_path=str(files["valid_src"]),
        valid_tgt_path=str(files["valid_tgt"]),
        out=str(out),
        batch_tokens=60,
        label_smoothing=0.0,
        show_examples=1,
        # The most confident checkpoint, not the first at validation BLEU 100: its
        # outputs are far from ties that another CPU's rounding could flip.
        select="loss",
        model=RecurrentConfig(
            cell="gru", emb_size=32, hidden_size=64, num_layers=1, dropout=0.0
        ),
        train=TrainConfig(
            epochs=12,
            plateau_patience=0,
            lr_decay=0.5,
            lr=0.01,
            clip=1.0,
            early_stop=0,
            seed=1,
            device="cpu",
            num_threads=1,
            save_every=60.0,
        ),
    )
    # Word level (the default is subword): these tests read the tiny models' words.
    cfg.tokenizer.level, cfg.tokenizer.min_freq = "word", 1
    for key, value in kwargs.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture(scope="module")
def model_path(
    copy_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("mt") / "mt.pt"
    outcome = train_translation(tiny_config(copy_corpus, out))
    # Learned: the right token's probability above 0.95 per validation token.
    assert outcome.metrics["valid"]["loss"] < 0.05, outcome.metrics
    return outcome.path


@pytest.fixture(scope="module")
def model(model_path: Path) -> inference.Translator:
    return load_translator(model_path)


# --- readers and batches ---------------------------------------------------------
def test_parallel_files_of_different_line_counts_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "a.de"
    tgt = tmp_path / "a.en"
    src.write_text("x\ny\nz\n", encoding="utf-8")
    tgt.write_text("X\nY\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"a\.en.*2 lines.*a\.de has 3"):
        read_parallel(src, tgt)


def test_an_empty_source_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "a.de"
    tgt = tmp_path / "a.en"
    src.write_text("x\n\nz\n", encoding="utf-8")
    tgt.write_text("X\nY\nZ\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"a\.de:2: empty source sentence"):
        read_parallel(src, tgt)


def test_pairs_files_tsv_and_jsonl(tmp_path: Path) -> None:
    tsv = tmp_path / "p.tsv"
    tsv.write_text("ein haus\ta house\nzwei\ttwo\n", encoding="utf-8")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"src": "ein haus", "tgt": "a house"}\n', encoding="utf-8")
    assert [(p.src, p.tgt) for p in read_pairs(tsv)] == [
        ("ein haus", "a house"),
        ("zwei", "two"),
    ]
    assert [(p.src, p.tgt, p.lineno) for p in read_pairs(jsonl)] == [
        ("ein haus", "a house", 1)
    ]


def test_token_batches_hold_every_pair_once_within_the_budget() -> None:
    src = [3, 9, 1, 4, 4, 7, 2, 8, 5, 6] * 5
    tgt = [2, 8, 3, 5, 4, 6, 1, 9, 5, 7] * 5
    batches = token_batches(src, tgt, 30, shuffle=True, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(len(src)))
    for rows in batches:
        assert len(rows) == 1 or len(rows) * (max(tgt[i] for i in rows) + 1) <= 30


# --- a trained model ---------------------------------------------------------------
def test_a_trained_tiny_model_copies_its_input(model: inference.Translator) -> None:
    lines = [s for s, _ in copy_pairs(10, 7)]
    wanted = [t for _, t in copy_pairs(10, 7)]
    for beam in (1, 5):
        got = [t.texts[0] for t in translate(model, lines, beam=beam)]
        assert got == wanted


def test_an_empty_line_translates_to_an_empty_line(model: inference.Translator) -> None:
    result = translate(model, ["a b", "", "  ", "c d e"], beam=3)
    assert [t.texts[0] for t in result] == ["A B", "", "", "C D E"]


def test_a_checkpoint_round_trip_gives_identical_translations(
    model_path: Path, model: inference.Translator
) -> None:
    lines = [s for s, _ in copy_pairs(12, 9)]
    again = load_translator(model_path)
    first = translate(model, lines, beam=4, n_best=2)
    second = translate(again, lines, beam=4, n_best=2)
    assert [t.texts for t in first] == [t.texts for t in second]
    assert [h.log_prob for t in first for h in t.hypotheses] == pytest.approx(
        [h.log_prob for t in second for h in t.hypotheses]
    )


def test_n_best_lists_hold_k_distinct_outputs_best_first(
    model: inference.Translator,
) -> None:
    for result in translate(model, ["a b c", "h g f e d"], beam=5, n_best=4):
        assert len(result.texts) == 4
        assert len(set(result.texts)) == 4
        scores = [h.score for h in result.hypotheses]
        assert scores == sorted(scores, reverse=True)


def test_bad_search_settings_are_refused(model: inference.Translator) -> None:
    with pytest.raises(ConfigError, match="--beam"):
        translate(model, ["a b"], beam=0)
    with pytest.raises(ConfigError, match="--alpha"):
        translate(model, ["a b"], alpha=-0.5)
    with pytest.raises(ConfigError, match="--n-best"):
        translate(model, ["a b"], beam=2, n_best=3)


# --- --replace-unk -----------------------------------------------------------------
def test_replace_unk_copies_the_most_attended_source_token(
    model: inference.Translator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output's <unk> at position 1 attends most to source position 2."""
    b_id = model.tgt_vocab.stoi["B"]

    def fake_decode(network, sources, **kwargs):  # noqa: ANN001, ANN003, ANN202
        return [[Hypothesis([b_id, UNK_ID, b_id], -1.0, -0.5)] for _ in sources]

    def fake_attention(m, src_ids, out_ids):  # noqa: ANN001, ANN202
        weights = torch.full((len(out_ids) + 1, len(src_ids)), 0.1)
        weights[1, 2] = 0.9
        return weights

    monkeypatch.setattr(inference, "decode_ids", fake_decode)
    monkeypatch.setattr(inference, "attention_weights", fake_attention)
    (plain,) = translate(model, ["a b zebra c"], replace_unk=False)
    (replaced,) = translate(model, ["a b zebra c"], replace_unk=True)
    (default,) = translate(model, ["a b zebra c"])  # a word-level model
    assert plain.texts == ["B <unk> B"]
    assert replaced.texts == default.texts == ["B zebra B"]


@pytest.fixture(scope="module")
def unk_model(model_path: Path) -> inference.Translator:
    """The tiny word-level model, made to lack the words c and C (read and
    written as <unk>)."""
    lacking = load_translator(model_path)
    c, big_c = lacking.src_vocab.stoi["c"], lacking.tgt_vocab.stoi["C"]
    forget_pair(lacking.network, c, big_c)
    return lacking


def test_a_word_level_model_copies_an_unknown_source_word_by_default(
    model: inference.Translator, unk_model: inference.Translator
) -> None:
    """Where the source word is unknown the output has no <unk> unless asked:
    the model writes <unk> where it wrote C, and the source word takes its place."""
    lines = ["a zebra b", "zebra d e zebra"]
    wanted = [t.texts[0] for t in translate(model, ["a c b", "c d e c"])]
    assert wanted == ["A C B", "C D E C"]  # the model before it lacked c and C
    default = [t.texts[0] for t in translate(unk_model, lines)]
    kept = [t.texts[0] for t in translate(unk_model, lines, replace_unk=False)]
    assert kept == [w.replace("C", "<unk>") for w in wanted]
    assert default == [w.replace("C", "zebra") for w in wanted]
    assert not any("<unk>" in line for line in default)


def test_a_subword_model_keeps_its_unk_by_default(
    model: inference.Translator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SentencePiece model spells rare words from pieces: an <unk> it writes is
    left alone unless --replace-unk asks (no attention pass is made; SentencePiece
    writes its own mark for it)."""
    pieces = train_sentencepiece([t for _, t in copy_pairs(50, 3)], vocab_size=30)
    subword = dataclasses.replace(model, tgt_tokenizer=SentencePieceTokenizer(pieces))
    b_id = model.tgt_vocab.stoi["B"]

    def fake_decode(network, sources, **kwargs):  # noqa: ANN001, ANN003, ANN202
        return [[Hypothesis([b_id, UNK_ID, b_id], -1.0, -0.5)] for _ in sources]

    def no_attention(m, src_ids, out_ids):  # noqa: ANN001, ANN202
        raise AssertionError("<unk> replaced by default in a subword model")

    monkeypatch.setattr(inference, "decode_ids", fake_decode)
    monkeypatch.setattr(inference, "attention_weights", no_attention)
    assert not inference.replaces_unk(subword, None)
    assert inference.replaces_unk(subword, True)
    assert inference.replaces_unk(model, None)
    assert not inference.replaces_unk(model, False)
    (default,) = translate(subword, ["a zebra b"])
    (kept,) = translate(subword, ["a zebra b"], replace_unk=False)
    assert default.texts == kept.texts
    assert "zebra" not in default.texts[0]


def test_replace_unk_reads_real_attention_weights(model: inference.Translator) -> None:
    weights = inference.attention_weights(model, [5, 6, 7], [8, 9])
    assert weights.shape == (3, 3)  # two outputs and <eos>, three source tokens
    assert torch.allclose(weights.sum(-1), torch.ones(3))


# --- beam-search error analysis -------------------------------------------------------
def test_verdicts() -> None:
    assert verdict([1, 2], [1, 2], -1.0, -1.0) == SAME
    assert verdict([1, 2], [1, 3], -1.0, -2.0) == SEARCH_ERROR
    assert verdict([1, 2], [1, 3], -3.0, -2.0) == MODEL_ERROR


def test_analyze_finds_a_planted_model_error(model: inference.Translator) -> None:
    """A wrong reference: the model rightly prefers its own output, so the
    difference is the model's (it disagrees with the reference)."""
    rows, summary = analyze(model, ["a b c", "d e"], ["A B C", "A A A A"], beam=3)
    assert [r.verdict for r in rows] == [SAME, MODEL_ERROR]
    assert rows[1].ref_score < rows[1].out_score
    assert (summary.same, summary.search_errors, summary.model_errors) == (1, 0, 1)


def test_analyze_finds_a_planted_search_error(
    model: inference.Translator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search that returns a poor output (its true score under the model): the
    model scores the reference higher, so the search is at fault."""
    real_decode = inference.decode_ids
    bad = [model.tgt_vocab.stoi["A"]] * 4

    def failed_search(network, sources, **kwargs):  # noqa: ANN001, ANN003, ANN202
        found = real_decode(network, sources, **kwargs)
        (lp,) = inference.sequence_log_probs(model, [sources[0]], [bad])
        alpha = kwargs.get("alpha", 0.0)
        found[0] = [Hypothesis(bad, lp, lp / (len(bad) + 1) ** alpha)]
        return found

    monkeypatch.setattr(inference, "decode_ids", failed_search)
    rows, summary = analyze(model, ["a b c", "d e"], ["A B C", "D E"], beam=2)
    assert [r.verdict for r in rows] == [SEARCH_ERROR, SAME]
    assert rows[0].ref_score > rows[0].out_score
    assert summary.share(summary.search_errors) == 1.0
    assert "wider --beam" in advice(summary)


def test_analyze_scores_use_the_same_length_normalisation(
    model: inference.Translator,
) -> None:
    for alpha in (0.0, 1.0):
        (row,), _ = analyze(model, ["a b c"], ["A B C"], beam=2, alpha=alpha)
        assert row.verdict == SAME
        assert row.ref_score == pytest.approx(row.out_score, abs=1e-4)


# --- evaluation ----------------------------------------------------------------------
def test_evaluate_translation_reports_bleu_chrf_ter_ppl(
    model: inference.Translator,
) -> None:
    pairs = copy_pairs(8, 11)
    metrics = inference.evaluate_translation(
        model, [s for s, _ in pairs], [t for _, t in pairs]
    )
    assert metrics["bleu"] == pytest.approx(100.0)
    assert metrics["ter"] == pytest.approx(0.0)
    assert 1.0 <= metrics["ppl"] < 2.0


# --- subword tokenization -------------------------------------------------------------
@pytest.mark.parametrize("joint", [True, False])
def test_subword_models_joint_or_one_per_side(
    copy_corpus: dict[str, Path], tmp_path: Path, joint: bool
) -> None:
    cfg = tiny_config(copy_corpus, tmp_path / "mt.pt", joint_vocab=joint)
    cfg.tokenizer.level, cfg.tokenizer.sp_vocab_size = "subword", 30
    data = prepare_data(cfg)
    src, tgt = data.src_tokenizer, data.tgt_tokenizer
    assert (src.to_dict()["model"] == tgt.to_dict()["model"]) is joint
    assert tgt.detokenize(tgt.tokenize("A B C")) == "A B C"
    stored = stored_vocabs(
        {
            "tokenizer": tokenizers_dict(src, tgt),
            "vocab": {"src": data.src_vocab.to_list(), "tgt": data.tgt_vocab.to_list()},
        }
    )
    assert stored["tokenizers"][1].tokenize("A B") == tgt.tokenize("A B")
