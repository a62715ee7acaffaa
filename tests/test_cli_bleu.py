"""`seqcli bleu` through Typer's CliRunner, plus one real subprocess run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from sacrebleu.metrics import BLEU
from typer.testing import CliRunner

from seqcli.cli.bleu import bleu
from seqcli.metrics.translation import corpus_scores, format_score, sentence_scores

# A one-command app: the test does not depend on the other commands' modules.
app = typer.Typer()
app.command()(bleu)
runner = CliRunner()

HYPS = ["The cat sat on the mat.", "A dog barks at the postman .", "", "it rains today"]
REF_A = ["The cat is on the mat.", "The dog barks at the postman.", "Hi.", "It rains."]
REF_B = ["A cat sat on a mat.", "A dog is barking.", "", "Today it is raining."]
SYSTEM_2 = ["the cat on mat", "dog barks at postman", "hi", "it is raining today"]


def write(path: Path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return {
        "hyp": write(tmp_path / "hyp.txt", HYPS),
        "ref_a": write(tmp_path / "ref_a.txt", REF_A),
        "ref_b": write(tmp_path / "ref_b.txt", REF_B),
        "sys2": write(tmp_path / "sys2.txt", SYSTEM_2),
    }


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def test_default_line_is_sacrebleus_text_line(files):
    result = run(files["hyp"], files["ref_a"], files["ref_b"])
    assert result.exit_code == 0, result.output
    metric = BLEU()
    expected = metric.corpus_score(HYPS, [REF_A, REF_B]).format(
        1, signature=metric.get_signature().format()
    )
    assert result.stdout == expected + "\n"
    assert result.stderr == ""


def test_json_score_only_and_width(files):
    [score] = corpus_scores(HYPS, [REF_A])
    data = json.loads(run(files["hyp"], files["ref_a"], "--json").stdout)
    assert data["name"] == "BLEU" and data["exact_score"] == score.score
    assert data["counts"] == list(score.counts) and data["nrefs"] == "1"
    only = run(files["hyp"], files["ref_a"], "--score-only", "--width", "3").stdout
    assert only == f"{score.score:.3f}\n"
    wide = run(files["hyp"], files["ref_a"], "-w", "4").stdout
    assert wide == format_score(score, width=4) + "\n"


def test_bleu_options_reach_sacrebleu(files):
    result = run(
        files["hyp"], files["ref_a"], "--lowercase", "--tokenize", "intl",
        "--smooth-method", "floor", "--smooth-value", "0.2", "--max-ngram-order", "3",
    )  # fmt: skip
    metric = BLEU(
        lowercase=True, tokenize="intl", smooth_method="floor", smooth_value=0.2,
        max_ngram_order=3,
    )  # fmt: skip
    expected = metric.corpus_score(HYPS, [REF_A]).format(
        1, signature=metric.get_signature().format()
    )
    assert result.stdout == expected + "\n"
    assert "smooth:floor[0.20]" in result.stdout


def test_several_metrics(files):
    result = run(files["hyp"], files["ref_a"], "-m", "bleu,chrf,ter")
    lines = result.stdout.splitlines()
    assert [line.split("|")[0] for line in lines] == ["BLEU", "chrF2", "TER"]
    data = json.loads(
        run(files["hyp"], files["ref_a"], "-m", "chrf,ter", "--json").stdout
    )
    assert [item["name"] for item in data] == ["chrF2", "TER"]


def test_sentence_level_one_score_per_line(files):
    result = run(files["hyp"], files["ref_a"], "--sentence", "-w", "2")
    expected = [f"{s.score:.2f}" for s in sentence_scores(HYPS, [REF_A])]
    assert result.stdout.splitlines() == expected
    assert "eff:yes" in result.stderr  # the signature, once, off the pipe
    rows = run(files["hyp"], files["ref_a"], "--sentence", "--json").stdout.splitlines()
    assert len(rows) == len(HYPS)
    assert json.loads(rows[0])["exact_score"] == sentence_scores(HYPS, [REF_A])[0].score


def test_confidence_interval(files):
    result = run(files["hyp"], files["ref_a"], "--confidence", "--confidence-n", "100")
    [score] = corpus_scores(HYPS, [REF_A], n_bootstrap=100)
    assert result.stdout == format_score(score, width=1) + "\n"
    assert "μ = " in result.stdout and "bs:100" in result.stdout


def test_paired_systems_table(files, monkeypatch):
    monkeypatch.chdir(Path(files["hyp"]).parent)  # short names, as typed by a user
    args = ["hyp.txt", "ref_a.txt", "--system", "sys2.txt", "--confidence-n", "50"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "Baseline: hyp.txt" in result.stdout and "sys2.txt" in result.stdout
    assert "p-value" in result.stdout and "bs:50" in result.stdout
    data = json.loads(run(*args, "--json").stdout)
    assert [s["baseline"] for s in data["systems"]] == [True, False]
    assert data["systems"][0]["BLEU"]["p_value"] is None
    assert 0 < data["systems"][1]["BLEU"]["p_value"] <= 1


TEXTBOOK_REFS = (["the cat is on the mat"], ["there is a cat on the mat"])


def explain(tmp_path: Path, hyp: str, *extra: str):
    refs = [write(tmp_path / f"r{i}.txt", ref) for i, ref in enumerate(TEXTBOOK_REFS)]
    result = run(write(tmp_path / "h.txt", [hyp]), *refs, "--explain", *extra)
    assert result.exit_code == 0, result.output
    return result


def test_explain_the_the_the(tmp_path):
    result = explain(tmp_path, "the the the the the the the")
    assert re.search(r"│ 1 │ +2 │ +7 │ 2/7 = 0\.2857", result.stderr)
    assert re.search(r"│ the +│ +7 │ +2 │ +2 │", result.stderr)
    assert result.stdout.startswith("BLEU|nrefs:2|")  # the score stays on stdout


def test_explain_the_cat_the_cat(tmp_path):
    result = explain(tmp_path, "the cat the cat on the mat")
    assert "5/7 = 0.7143" in result.stderr and "4/6 = 0.6667" in result.stderr
    assert re.search(r"│ the cat +│ +2 │ +1 │ +1 │", result.stderr)
    assert re.search(r"│ cat the +│ +1 │ +0 │ +0 │", result.stderr)
    score = result.stdout.split(" = ")[1].split()[0]
    assert f"BLEU = BP × geometric mean = {score}" in result.stderr


def test_explain_corpus_and_one_line(files):
    corpus = run(files["hyp"], files["ref_a"], "--explain")
    assert "over 4 segment(s)" in corpus.stderr and "max ref count" not in corpus.stderr
    one = run(files["hyp"], files["ref_a"], "--explain", "--line", "4")
    assert "over 1 segment(s)" in one.stderr and "max ref count" in one.stderr


def test_stdin_hypothesis(files):
    result = run("-", files["ref_a"], stdin="".join(h + "\n" for h in HYPS))
    assert result.stdout == run(files["hyp"], files["ref_a"]).stdout


def test_reference_as_hypothesis_scores_100(files):
    assert run(files["ref_a"], files["ref_a"], "-b").stdout == "100.0\n"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("lines", r"ref_a.txt: has 4 lines but .*short.txt has 2"),
        ("missing", r"nope.txt: file not found"),
        ("empty", r"empty.txt: file is empty"),
        ("bytes", r"bad.txt:2: not valid UTF-8"),
        ("tokenizer", r"unknown tokenizer 'moses'"),
        ("sentence", r"--sentence cannot be combined"),
        ("line", r"--line is used with --explain"),
    ],
)
def test_bad_input_one_line_exit_2(files, tmp_path, case, message):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bad.txt").write_bytes(b"fine\nbro\xe9ken\n")
    args = {
        "lines": [write(tmp_path / "short.txt", HYPS[:2]), files["ref_a"]],
        "missing": [str(tmp_path / "nope.txt"), files["ref_a"]],
        "empty": [files["hyp"], str(tmp_path / "empty.txt")],
        "bytes": [str(tmp_path / "bad.txt"), files["ref_a"]],
        "tokenizer": [files["hyp"], files["ref_a"], "--tokenize", "moses"],
        "sentence": [files["hyp"], files["ref_a"], "--sentence", "--confidence"],
        "line": [files["hyp"], files["ref_a"], "--line", "1"],
    }[case]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert re.search(message, lines[0])


def test_python_m_seqcli_matches_sacrebleu_cli_without_torch(tmp_path):
    # CRLF endings and trailing spaces: both tools must read them the same way.
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_bytes("".join(h + " \r\n" for h in HYPS).encode())
    ref.write_bytes("".join(r + "\n" for r in REF_A).encode())
    seqcli = [sys.executable, "-X", "importtime", "-m", "seqcli", "bleu"]
    ours = subprocess.run(
        [*seqcli, str(hyp), str(ref)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    theirs = subprocess.run(
        [sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), "-f", "text"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert ours.stdout == theirs.stdout
    imported = {line.split("|")[-1].strip() for line in ours.stderr.splitlines()}
    assert "torch" not in imported and "seqcli.metrics.translation" in imported
