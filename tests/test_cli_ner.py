"""`seqcli train-ner`, `tag` and `evaluate` (NER checkpoints, --conlleval) through
Typer's CliRunner; every bad input gets its one-line error and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok
from test_ner_metrics import REFERENCE_CASES
from typer.testing import CliRunner, Result

from seqcli.checkpoint import load_checkpoint
from seqcli.cli import app

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--emb-size", "8", "--hidden-size", "8", "--dropout", "0", "--epochs", "1"]
TINY += ["--batch-size", "8", "--device", "cpu", "-q"]


def invoke(*args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def test_train_ner_writes_a_tagger_with_test_scores(ner_files, tmp_path: Path) -> None:
    out = tmp_path / "ner.pt"
    result = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"],
        "--test", ner_files["test"], "-o", out, "--char-features", "lstm", *TINY,
    )  # fmt: skip
    assert_ok(result)
    assert result.stdout.strip() == str(out)
    data = load_checkpoint(out, task="ner")
    assert data["config"]["char_features"] == "lstm"
    assert "f1" in data["metrics"]["test"]


def test_train_ner_dry_run_reads_and_checks_everything(ner_files, tmp_path) -> None:
    result = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"],
        "--train-scheme", "iob2", "--decoder", "softmax", "--dry-run",
    )  # fmt: skip
    assert_ok(result)
    assert "train_scheme: iob2" in result.stdout
    assert "tags IOB1, trained as IOB2" in result.stderr


def test_tag_formats(ner_model: Path, tmp_path: Path) -> None:
    text = tmp_path / "in.txt"
    text.write_text("Ann lives in Oslo .\n\nthe EU hired John Smith\n", "utf-8")
    conll = invoke("tag", text, "-m", ner_model)
    assert_ok(conll)
    blocks = conll.stdout.split("\n\n")
    assert blocks[0].splitlines() == [
        "Ann\tI-PER", "lives\tO", "in\tO", "Oslo\tI-LOC", ".\tO",
    ]  # fmt: skip
    spans = invoke("tag", text, "-m", ner_model, "--format", "spans")
    assert_ok(spans)
    assert spans.stdout.splitlines() == [
        "[PER Ann] lives in [LOC Oslo] .",
        "",
        "the [ORG EU] hired [PER John Smith]",
    ]
    js = invoke("tag", text, "-m", ner_model, "--format", "json", "--probs")
    assert_ok(js)
    records = [json.loads(line) for line in js.stdout.splitlines()]
    assert len(records) == 3
    person = records[2]["entities"][1]
    assert person == {
        "type": "PER", "text": "John Smith", "start": 3, "end": 5,
        "char_start": 13, "char_end": 23,
    }  # fmt: skip
    assert len(records[0]["probs"]) == 5


def test_tag_nbest_lists_scores(ner_model: Path) -> None:
    result = invoke(
        "tag", "-", "-m", ner_model, "--n-best", "3", "--format", "spans",
        input="Ann lives in Oslo .\n",
    )  # fmt: skip
    assert_ok(result)
    rows = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    scores = [float(r[1]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert rows[0][2] == "[PER Ann] lives in [LOC Oslo] ."


def test_tag_text_and_conll_input_agree(ner_model: Path, ner_files) -> None:
    as_conll = invoke("tag", ner_files["test"], "--input", "conll", "-m", ner_model)
    assert_ok(as_conll)
    rows = [b.splitlines() for b in as_conll.stdout.strip().split("\n\n")]
    text = "\n".join(" ".join(r.split("\t")[0] for r in b) for b in rows) + "\n"
    as_text = invoke("tag", "-", "-m", ner_model, input=text)
    assert_ok(as_text)
    conll_tags = [[r.split("\t")[-1] for r in b] for b in rows]
    text_blocks = as_text.stdout.strip().split("\n\n")
    text_tags = [[r.split("\t")[-1] for r in b.splitlines()] for b in text_blocks]
    assert conll_tags == text_tags
    # --input conll keeps the input's columns: conlleval's format, gold before
    # the prediction.
    assert rows[0][0].split("\t")[1:3] == ["NNP", "I-NP"]


def test_evaluate_a_tagger_prints_conllevals_report(ner_model, ner_files) -> None:
    result = invoke("evaluate", ner_files["test"], "-m", ner_model)
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("processed ") and "phrases; found:" in lines[0]
    assert lines[1].startswith("accuracy: ")
    js = invoke("evaluate", ner_files["test"], "-m", ner_model, "--json")
    assert_ok(js)
    figures = json.loads(js.stdout)
    assert f"FB1: {figures['metrics']['f1']:6.2f}" in lines[1]
    assert set(figures["per_type"]) <= {"LOC", "ORG", "PER"}


def test_an_ensemble_of_seeds_tags_and_evaluates(
    ner_model: Path, ner_config, ner_files, tmp_path: Path
) -> None:
    from seqcli.tasks.ner import train_ner

    other = tmp_path / "seed2.pt"
    train_ner(ner_config(other, **{"train.seed": 2}))
    test = ner_files["test"]
    alone = invoke("evaluate", test, "-m", ner_model, "--json")
    twice = invoke("evaluate", test, "-m", ner_model, "-m", ner_model, "--json")
    assert_ok(twice)
    # The mean of a model and itself is that model.
    assert json.loads(twice.stdout) == json.loads(alone.stdout)
    pair = invoke("evaluate", test, "-m", ner_model, "-m", other, "--json")
    assert_ok(pair)
    assert 0 < json.loads(pair.stdout)["metrics"]["f1"] <= 100
    tagged = invoke(
        "tag", "-", "-m", ner_model, "-m", other, "--format", "json", "--n-best", "2",
        input="Ann lives in Oslo .\nthe EU hired John Smith\n",
    )  # fmt: skip
    assert_ok(tagged)
    records = [json.loads(line) for line in tagged.stdout.splitlines()]
    assert [len(r["tags"]) for r in records] == [5, 5]
    assert all(len(r["nbest"]) == 2 for r in records)


def test_an_ensemble_needs_one_vocabulary(
    ner_model: Path, ner_config, ner_files, tmp_path: Path
) -> None:
    from seqcli.tasks.ner import train_ner

    cased = tmp_path / "cased.pt"
    train_ner(ner_config(cased, **{"tokenizer.lowercase": False, "train.epochs": 1}))
    result = invoke("evaluate", ner_files["test"], "-m", ner_model, "-m", cased)
    assert_error(result, "cased.pt", "vocabulary differs", "--seed")
    result = invoke("tag", "-", "-m", ner_model, "-m", cased, input="Ann\n")
    assert_error(result, "cased.pt", "vocabulary differs")


@pytest.mark.parametrize(("sentences", "expected"), REFERENCE_CASES)
def test_evaluate_conlleval_file_equals_the_reference_script(
    sentences: list[tuple[str, str]], expected: list[str], tmp_path: Path
) -> None:
    rows = []
    for gold, predicted in sentences:
        for i, (g, p) in enumerate(zip(gold.split(), predicted.split(), strict=True)):
            rows.append(f"w{i} NN {g} {p}")
        rows.append("")
    path = tmp_path / "scored.txt"
    path.write_text("\n".join(rows) + "\n", "utf-8")
    result = invoke("evaluate", "--conlleval", path)
    assert_ok(result)
    assert result.stdout.splitlines() == expected


# --- bad input: one line, file and line, exit 2 ------------------------------------
def test_train_ner_too_few_columns(ner_files, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("EU\nrejects\n", "utf-8")
    result = invoke("train-ner", bad, "--valid", ner_files["valid"], *TINY)
    assert_error(result, "bad.txt:1:", "too few columns")


def test_train_ner_tag_not_of_the_scheme(ner_files, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("EU B-ORG\nrejects O\nGerman I-MISC\n", "utf-8")
    result = invoke(
        "train-ner", bad, "--valid", ner_files["valid"], "--scheme", "iob2", *TINY
    )
    assert_error(result, "bad.txt:3:", "'I-MISC'", "without B-")


def test_train_ner_empty_file(ner_files, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", "utf-8")
    result = invoke("train-ner", empty, "--valid", ner_files["valid"], *TINY)
    assert_error(result, "empty.txt:", "no sentences")


def test_train_ner_without_valid(ner_files) -> None:
    result = invoke("train-ner", ner_files["train"], *TINY)
    assert_error(result, "--valid")


def test_train_ner_backward_lm_needs_a_forward_one(
    ner_files, lm_config, tmp_path: Path
) -> None:
    from seqcli.tasks.lm import train_lm

    lm = train_lm(lm_config(out=str(tmp_path / "lm.pt"))).path
    alone = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"],
        "--init-from-backward", lm, *TINY,
    )  # fmt: skip
    assert_error(alone, "--init-from-backward needs a forward LM")
    forward_twice = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"],
        "--init-from", lm, "--init-from-backward", lm, *TINY,
    )  # fmt: skip
    assert_error(forward_twice, "lm.pt", "needs a backward LM (train-lm --reverse)")


def test_train_ner_bad_choice(ner_files) -> None:
    result = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"],
        "--decoder", "hmm", "--dry-run",
    )  # fmt: skip
    assert_error(result, "decoder", "'hmm'", "crf, softmax")


def test_tag_with_a_model_of_another_task(lm_config, tmp_path: Path) -> None:
    from seqcli.tasks.lm import train_lm

    lm = train_lm(lm_config()).path
    result = invoke("tag", "-", "-m", lm, input="Ann lives in Oslo\n")
    assert_error(result, str(lm), "an lm checkpoint", "needs a ner checkpoint")


def test_tag_empty_input_and_bad_conll(ner_model: Path, tmp_path: Path) -> None:
    assert_error(invoke("tag", "-", "-m", ner_model, input=""), "<stdin>", "empty")
    bad = tmp_path / "bad.conll"
    bad.write_text("EU NNP\nrejects\n", "utf-8")
    result = invoke("tag", bad, "--input", "conll", "-m", ner_model)
    assert_error(result, "bad.conll:2:", "expected 2 columns")
    assert_error(invoke("tag", "-", "-m", ner_model, "--format", "xml"), "--format")


def test_tag_nbest_of_a_softmax_model(ner_config, tmp_path: Path) -> None:
    from seqcli.tasks.ner import train_ner

    out = tmp_path / "soft.pt"
    train_ner(ner_config(out, decoder="softmax", **{"train.epochs": 1}))
    result = invoke("tag", "-", "-m", out, "--n-best", "2", input="Ann\n")
    assert_error(result, "--n-best", "CRF")


def test_evaluate_bad_files(ner_model: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", "utf-8")
    assert_error(invoke("evaluate", "--conlleval", empty), "empty.txt:", "empty")
    short = tmp_path / "short.txt"
    short.write_text("EU B-ORG B-ORG\nrejects O\n", "utf-8")
    assert_error(invoke("evaluate", "--conlleval", short), "short.txt:2:", "columns")
    bad_tag = tmp_path / "bad_tag.txt"
    bad_tag.write_text("EU NNP I-NP Q-ORG\n", "utf-8")
    result = invoke("evaluate", bad_tag, "-m", ner_model)
    assert_error(result, "bad_tag.txt:1:", "'Q-ORG'")


def test_train_ner_with_word_vectors_and_info(ner_files, tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("paris 1 2 3 4 5 6 7 8\nzzz 0 0 0 0 0 0 0 0\n", "utf-8")
    out = tmp_path / "vec.pt"
    result = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"], "-o", out,
        "--embeddings", vectors, "--freeze-embeddings", *TINY,
    )  # fmt: skip
    assert_ok(result)
    data = load_checkpoint(out, task="ner")
    row = data["vocab"]["tokens"].index("paris")
    weights = data["state_dict"]["encoder.embedding.weight"][row]
    assert weights.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert data["data"]["embeddings"]["found"] == 1
    info = invoke("info", "-m", out, "--json")
    assert_ok(info)
    assert json.loads(info.stdout)["task"] == "ner"
