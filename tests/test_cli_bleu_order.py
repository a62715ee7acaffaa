"""`seqcli bleu` takes its files as HYP REF... or, as sacreBLEU does, REF... -i HYP."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sacrebleu.metrics import BLEU
from typer.testing import CliRunner

from seqcli.cli.bleu import bleu

# A one-command app, as in tests/test_cli_bleu.py.
app = typer.Typer()
app.command()(bleu)

HYPS = ["the cat sat on the mat", "a dog barks", "it is raining today"]
REF_A = ["the cat is sitting on the mat", "the dog barks loudly", "it rains today"]
REF_B = ["a cat sat on a mat", "a dog is barking", "today it is raining"]


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, lines in (("hyp", HYPS), ("a", REF_A), ("b", REF_B)):
        path = tmp_path / f"{name}.txt"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        paths[name] = str(path)
    return paths


@pytest.mark.parametrize("extra", [[], ["--json"], ["-m", "bleu,chrf,ter"]])
def test_sacrebleu_order_with_input_gives_the_same_scores(files, extra):
    ours = run(files["hyp"], files["a"], files["b"], *extra)
    theirs = run(files["a"], files["b"], "-i", files["hyp"], *extra)
    assert ours.exit_code == theirs.exit_code == 0, ours.output + theirs.output
    assert theirs.stdout == ours.stdout
    long_form = run(files["a"], files["b"], "--input", files["hyp"], *extra)
    assert long_form.stdout == ours.stdout


def test_input_takes_the_hypotheses_and_every_argument_is_a_reference(files):
    # Swapping hypothesis and reference changes BLEU: -i must pick the hypothesis.
    result = run(files["a"], "-i", files["hyp"], "-b", "-w", "4")
    assert result.exit_code == 0, result.output
    right = BLEU().corpus_score(HYPS, [REF_A]).score
    swapped = BLEU().corpus_score(REF_A, [HYPS]).score
    assert float(result.stdout) == pytest.approx(right, abs=1e-4)
    assert abs(right - swapped) > 1e-3


def test_input_from_stdin(files):
    piped = run(files["a"], "-i", "-", stdin="".join(h + "\n" for h in HYPS))
    assert piped.exit_code == 0, piped.output
    assert piped.stdout == run(files["hyp"], files["a"]).stdout


def test_one_file_without_input_is_a_one_line_error(files):
    result = run(files["a"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "-i HYP" in lines[0] and files["a"] in lines[0]
