"""The NER task: reading CoNLL columns, schemes in and out, training, tagging and
evaluation through the Python API (`seqcli.tasks.ner`, `ner_inference`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqcli.errors import ConfigError, DataFormatError
from seqcli.metrics.ner import conlleval, conlleval_file, convert
from seqcli.readers import read_conll
from seqcli.tasks import ner, ner_data
from seqcli.tasks import ner_inference as inference

pytestmark = pytest.mark.usefixtures("one_thread")


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- read_conll ------------------------------------------------------------------
def test_read_conll_columns_docstart_and_whitespace_breaks(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.txt",
        "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n  \t\n"
        "Peter NNP I-NP I-PER\n",
    )
    sentences = list(read_conll(path))
    assert [s.tokens for s in sentences] == [["EU", "rejects"], ["Peter"]]
    assert [s.tags for s in sentences] == [["I-ORG", "O"], ["I-PER"]]
    assert sentences[1].lines == [6]
    second = list(read_conll(path, token_column=1, tag_column=2))
    assert second[0].tags == ["NNP", "VBZ"]
    assert list(read_conll(path, tag_column=None))[0].tags is None


@pytest.mark.parametrize(
    ("text", "kwargs", "fragments"),
    [
        ("EU\n", {}, ["a.txt:1:", "too few columns: found 1, need at least 2"]),
        ("EU NNP I-ORG\nx O\n", {}, ["a.txt:2:", "expected 3 columns", "line 1"]),
        ("EU I-ORG\n", {"tag_column": 5}, ["a.txt:1:", "too few columns"]),
        ("EU I-ORG\n", {"token_column": 0}, ["--token-column 0"]),
        ("EU I-ORG\n", {"tag_column": 1}, ["same column"]),
    ],
)
def test_read_conll_bad_columns(
    tmp_path: Path, text: str, kwargs: dict, fragments: list[str]
) -> None:
    path = write(tmp_path / "a.txt", text)
    with pytest.raises(DataFormatError) as exc:
        list(read_conll(path, **kwargs))
    for fragment in fragments:
        assert fragment in str(exc.value)


# --- data: schemes, labels, word dropout -------------------------------------------
def test_iob1_is_detected_and_trained_as_bioes(ner_config, tmp_path: Path) -> None:
    data = ner_data.prepare_data(ner_config(tmp_path / "m.pt"))
    assert data.scheme == "iob1"
    assert data.labels.itos[0] == "O"
    assert {"B-LOC", "I-LOC", "E-LOC", "S-LOC"} <= set(data.labels.itos)
    # "flights Paris Oslo": two one-token places, I-LOC B-LOC in IOB1.
    row = next(i for i, t in enumerate(data.train.tokens) if t[0] == "flights")
    assert data.train.gold[row] == ["O", "I-LOC", "B-LOC"]
    assert data.labels.decode(data.train.tags[row]) == ["O", "S-LOC", "S-LOC"]


def test_words_lowercased_and_digits_normalised_chars_keep_case(
    ner_config, tmp_path: Path
) -> None:
    data = ner_data.prepare_data(ner_config(tmp_path / "m.pt"))
    lex = data.lexicon
    assert lex.key("Paris") == "paris" and lex.key("1996-08-22") == "0000-00-00"
    encoded = lex.encode([["Paris", "PARIS"]])
    assert encoded.words[0][0] == encoded.words[0][1]
    assert encoded.chars[0][0] != encoded.chars[0][1]
    assert encoded.casing[0][0] != encoded.casing[0][1]


def test_a_tag_not_of_the_scheme_names_its_line(
    ner_config, tmp_path: Path, ner_files
) -> None:
    text = (
        ner_files["train"]
        .read_text()
        .replace("lives NNP I-NP O", "lives NNP I-NP X-PER", 1)
    )
    bad = write(tmp_path / "bad.txt", text)
    with pytest.raises(DataFormatError, match=r"bad\.txt:5: tag 'X-PER' is not a IOB1"):
        ner_data.prepare_data(ner_config(tmp_path / "m.pt", train_path=bad))
    iob2 = write(tmp_path / "iob2.txt", "a O\nb I-PER\n")
    with pytest.raises(
        DataFormatError, match=r"iob2\.txt:2: .*opens an entity without B-"
    ):
        ner_data.prepare_data(
            ner_config(tmp_path / "m.pt", train_path=iob2, scheme="iob2")
        )


def test_empty_file_and_missing_valid(ner_config, tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.txt", "\n\n")
    with pytest.raises(DataFormatError, match=r"empty\.txt: no sentences"):
        ner_data.prepare_data(ner_config(tmp_path / "m.pt", train_path=empty))
    with pytest.raises(ConfigError, match="--valid"):
        ner_data.prepare_data(ner_config(tmp_path / "m.pt", valid_path=""))


def test_word_dropout_replaces_only_training_singletons(
    ner_config, tmp_path: Path
) -> None:
    from seqcli.vocab import UNK_ID

    cfg = ner_config(tmp_path / "m.pt", word_dropout=0.9)
    data = ner_data.prepare_data(cfg)
    once = ner.singletons(data.train)
    assert once  # "flights" appears once
    batches = ner._batch_factory(data.train, data.lexicon, cfg)(1, 0, 1)
    dropped = kept = 0
    for batch in batches:
        for row in batch.ids.tolist():
            dropped += row.count(UNK_ID)
            kept += sum(1 for i in row if i in once)
    assert dropped > 0 and kept < len(once)
    cfg0 = ner_config(tmp_path / "m.pt", word_dropout=0.0)
    batches = ner._batch_factory(data.train, data.lexicon, cfg0)(1, 0, 1)
    assert all(
        UNK_ID not in b.ids.tolist()[r] for b in batches for r in range(len(b.ids))
    )


# --- training, tagging, evaluation ---------------------------------------------------
def test_training_learns_the_toy_grammar(ner_model: Path) -> None:
    from seqcli.checkpoint import load_checkpoint

    data = load_checkpoint(ner_model, task="ner")
    assert data["metrics"]["valid"]["f1"] > 50.0
    assert set(data["metrics"]["test"]) == {"f1", "precision", "recall", "accuracy"}
    assert data["data"]["scheme"] == "iob1"


def test_raw_text_and_conll_input_agree(
    ner_model: Path, ner_files, tmp_path: Path
) -> None:
    tagger = inference.load_tagger(ner_model)
    from_conll = inference.conll_sentences(str(ner_files["test"]))
    lines = [" ".join(s.tokens) for s in from_conll]
    from_text = inference.text_sentences(lines, tagger.tokenizer)
    a = inference.tag(tagger, from_conll, n_best=2, probs=True)
    b = inference.tag(tagger, from_text, n_best=2, probs=True)
    for x, y in zip(a, b, strict=True):
        assert [p.tags for p in x.paths] == [p.tags for p in y.paths]
        assert [p.score for p in x.paths] == pytest.approx([p.score for p in y.paths])
        assert x.best.probs == pytest.approx(y.best.probs)


def test_predictions_come_back_in_the_input_scheme(ner_model: Path) -> None:
    tagger = inference.load_tagger(ner_model)
    sentence = inference.text_sentences(["flights Paris Oslo"], tagger.tokenizer)
    for scheme, expected in (
        ("iob1", ["O", "I-LOC", "B-LOC"]),
        ("iob2", ["O", "B-LOC", "B-LOC"]),
        ("bioes", ["O", "S-LOC", "S-LOC"]),
    ):
        (out,) = inference.tag(tagger, sentence, scheme=scheme)
        assert out.best.tags == expected, scheme
    (default,) = inference.tag(tagger, sentence)
    assert default.best.tags == ["O", "I-LOC", "B-LOC"]  # the training files' IOB1


def test_to_scheme_converts_bioes_ids_back() -> None:
    labels = ner_data.label_set(["LOC", "PER"], "bioes")
    ids = labels.encode(["B-PER", "E-PER", "S-PER", "O", "S-LOC"])
    assert ner.to_scheme(ids, labels, "bioes", "iob1") == [
        "I-PER",
        "I-PER",
        "B-PER",
        "O",
        "I-LOC",
    ]
    assert ner.to_scheme(ids, labels, "bioes", "iob2") == [
        "B-PER",
        "I-PER",
        "B-PER",
        "O",
        "B-LOC",
    ]


def test_entities_have_token_spans_and_character_offsets(ner_model: Path) -> None:
    tagger = inference.load_tagger(ner_model)
    line = "  John Smith   lives in  New York ."
    (out,) = inference.tag(tagger, inference.text_sentences([line], tagger.tokenizer))
    assert out.best.entities, out.best.tags
    for e in out.best.entities:
        assert line[e.char_start : e.char_end] == e.text
        assert e.text.split() == out.sentence.tokens[e.start : e.end]
    record = inference.json_record(out)
    assert record["text"] == line and record["entities"][0]["type"] in ("PER", "LOC")


def test_nbest_is_sorted_and_its_first_is_the_best(ner_model: Path, ner_files) -> None:
    tagger = inference.load_tagger(ner_model)
    sentences = inference.conll_sentences(str(ner_files["valid"]))
    best = inference.tag(tagger, sentences)
    nbest = inference.tag(tagger, sentences, n_best=3)
    for one, many in zip(best, nbest, strict=True):
        scores = [p.score for p in many.paths]
        assert scores == sorted(scores, reverse=True)
        assert many.best.tags == one.best.tags
        assert len({tuple(p.tags) for p in many.paths}) == len(many.paths)


def test_probs_are_the_crf_marginals(ner_model: Path) -> None:
    tagger = inference.load_tagger(ner_model)
    sentences = inference.text_sentences(["Ann lives in Oslo ."], tagger.tokenizer)
    (out,) = inference.tag(tagger, sentences, probs=True)
    encoded = tagger.lexicon.encode([sentences[0].tokens])
    batch = ner.batch_of(encoded, [0])
    # The CRF's marginals at the temperature training fitted and stored.
    temperature = tagger.calibration.temperature
    marginals = tagger.network.marginals(batch, temperature=temperature)[0]
    ids = tagger.labels.encode(convert(out.best.tags, "iob1", "bioes"))
    expected = [float(marginals[i, t]) for i, t in enumerate(ids)]
    assert out.best.probs == pytest.approx(expected, abs=1e-6)
    assert all(0.0 <= p <= 1.0 for p in out.best.probs)


def test_evaluate_equals_conlleval_of_the_tagged_output(
    ner_model: Path, ner_files, tmp_path: Path
) -> None:
    tagger = inference.load_tagger(ner_model)
    report = inference.evaluate_tagger(tagger, str(ner_files["test"]))
    gold = [s.tags for s in read_conll(str(ner_files["test"]))]
    tagged = inference.tag(tagger, inference.conll_sentences(str(ner_files["test"])))
    assert report == conlleval(zip(gold, [t.best.tags for t in tagged], strict=True))
    # The same through conlleval's own file format, written by `tag --input conll`.
    rows = [line for t in tagged for line in inference.conll_lines(t)]
    written = write(tmp_path / "out.txt", "\n".join(rows) + "\n")
    assert conlleval_file(written) == report


def test_nbest_needs_a_crf(ner_config, tmp_path: Path) -> None:
    cfg = ner_config(tmp_path / "soft.pt", decoder="softmax", **{"train.epochs": 1})
    ner.train_ner(cfg)
    tagger = inference.load_tagger(tmp_path / "soft.pt")
    sentences = inference.text_sentences(["Ann lives in Oslo ."], tagger.tokenizer)
    (out,) = inference.tag(tagger, sentences, probs=True)
    assert len(out.best.tags) == 5
    with pytest.raises(ConfigError, match="--n-best above 1 needs a model with a CRF"):
        inference.tag(tagger, sentences, n_best=2)


def test_init_from_an_lm_copies_its_input_weights_into_the_first_layer(
    lm_config, ner_config, tmp_path: Path
) -> None:
    from seqcli.checkpoint import load_checkpoint
    from seqcli.runs import check_task
    from seqcli.tasks.lm import train_lm

    lm_path = train_lm(lm_config()).path
    lm = load_checkpoint(lm_path, task="lm")
    run = check_task(ner.setup, ner_config(tmp_path / "m.pt", init_from=str(lm_path)))
    rnn = run.network.encoder.rnn
    source = lm["state_dict"]["encoder.rnn.weight_ih_l0"]
    width = source.size(1)
    assert rnn.weight_ih_l0.size(1) > width  # characters and casing beside the words
    assert torch.equal(rnn.weight_ih_l0[:, :width], source)
    assert torch.equal(rnn.weight_hh_l0, lm["state_dict"]["encoder.rnn.weight_hh_l0"])
    words = lm["vocab"]["tokens"]
    emb = run.network.encoder.embedding.weight
    assert torch.equal(emb[: len(words)], lm["state_dict"]["encoder.embedding.weight"])
    assert "rnn.weight_ih_l0[:, :8]" in run.summary["init_from"]["copied"]


def test_resume_continues_with_the_snapshots_vocabularies(
    ner_config, tmp_path: Path
) -> None:
    from seqcli.runs import find_resume

    out = tmp_path / "r.pt"
    first = ner.train_ner(ner_config(out, **{"train.epochs": 1}))
    assert first.epochs == 1
    _, snapshot = find_resume("ner", out)
    again = ner.train_ner(ner_config(out, **{"train.epochs": 2}), resume=snapshot)
    assert again.epochs == 2
    assert inference.load_tagger(out).lexicon.words.itos == snapshot["vocab"]["tokens"]


def test_init_from_backward_starts_each_direction_as_its_lm(
    lm_config, ner_config, tmp_path: Path
) -> None:
    from dataclasses import replace

    from seqcli.checkpoint import load_checkpoint
    from seqcli.runs import check_task
    from seqcli.tasks.lm import train_lm

    forward = lm_config(out=str(tmp_path / "fwd.pt"))
    backward = lm_config(out=str(tmp_path / "bwd.pt"))
    backward = replace(backward, tokenizer=replace(backward.tokenizer, reverse=True))
    paths = [str(train_lm(cfg).path) for cfg in (forward, backward)]
    fwd, bwd = (load_checkpoint(p, task="lm")["state_dict"] for p in paths)
    cfg = ner_config(tmp_path / "m.pt", init_from=paths[0], init_from_backward=paths[1])
    rnn = check_task(ner.setup, cfg).network.encoder
    e = fwd["encoder.embedding.weight"].size(1)
    words = fwd["encoder.embedding.weight"].size(0)
    emb = rnn.embedding.weight[:words]
    assert torch.equal(emb[:, :e], fwd["encoder.embedding.weight"])
    assert torch.equal(emb[:, e : 2 * e], bwd["encoder.embedding.weight"])
    ih, ih_reverse = rnn.rnn.weight_ih_l0, rnn.rnn.weight_ih_l0_reverse
    assert torch.equal(ih[:, :e], fwd["encoder.rnn.weight_ih_l0"])
    assert torch.equal(ih_reverse[:, e : 2 * e], bwd["encoder.rnn.weight_ih_l0"])
    assert not ih[:, e : 2 * e].any() and not ih_reverse[:, :e].any()
    assert torch.equal(rnn.rnn.weight_hh_l0_reverse, bwd["encoder.rnn.weight_hh_l0"])
    assert torch.equal(rnn.rnn.bias_ih_l0_reverse, bwd["encoder.rnn.bias_ih_l0"])


def test_init_from_backward_refuses_a_forward_lm_or_no_forward_lm(
    lm_config, ner_config, tmp_path: Path
) -> None:
    from seqcli.runs import check_task
    from seqcli.tasks.lm import train_lm

    path = str(train_lm(lm_config(out=str(tmp_path / "fwd.pt"))).path)
    both = ner_config(tmp_path / "m.pt", init_from=path, init_from_backward=path)
    with pytest.raises(ConfigError, match="needs a backward LM"):
        check_task(ner.setup, both)
    alone = ner_config(tmp_path / "m.pt", init_from_backward=path)
    with pytest.raises(ConfigError, match="needs a forward LM"):
        check_task(ner.setup, alone)
