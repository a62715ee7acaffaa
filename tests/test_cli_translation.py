"""`seqcli train-translate`, `translate`, `evaluate` and `info` through CliRunner.

One tiny model of the toy copying task is trained through the CLI once per module
and shared; the error tests write their own broken files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok, copy_pairs, forget_pair
from typer.testing import CliRunner, Result

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.cli import app

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--emb-size", "32", "--hidden-size", "64", "--dropout", "0", "--lr", "0.01"]
TINY += ["--batch-tokens", "60", "--min-freq", "1", "--label-smoothing", "0"]
# Word level: these tests read the tiny models' words and their <unk> (the default
# level is subword).
TINY += ["--level", "word"]
# --threads 1: tiny networks train fastest on one thread (the module-scoped fixture
# runs before the one_thread fixture). --select loss: the checkpoint kept is the
# most confident one, not the first whose validation BLEU reached 100 (a model
# still near ties, which then mistranslated a test line on some CPUs only).
TINY += ["--epochs", "12", "--device", "cpu", "--threads", "1", "--select", "loss"]
TINY += ["-q"]
# The fixture's model must have learned the copy: a validation loss under this per
# token (the right token's probability above 0.95) leaves no output near a tie
# that another CPU's rounding could break the other way.
LEARNED = 0.05


def invoke(*args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def trained(
    copy_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli-mt")
    out = folder / "mt.pt"
    files = copy_corpus
    result = invoke(
        "train-translate",
        files["train_src"],
        files["train_tgt"],
        "--valid-src",
        files["valid_src"],
        "--valid-tgt",
        files["valid_tgt"],
        *TINY,
        "-o",
        out,
    )
    assert_ok(result)
    valid = load_checkpoint(out)["metrics"]["valid"]
    assert valid["loss"] < LEARNED, f"the tiny model did not learn to copy: {valid}"
    pairs = copy_pairs(10, 5)
    test_src = folder / "test.src"
    test_src.write_text("".join(f"{s}\n" for s, _ in pairs), encoding="utf-8")
    test_tgt = folder / "test.tgt"
    test_tgt.write_text("".join(f"{t}\n" for _, t in pairs), encoding="utf-8")
    return {**files, "model": out, "test_src": test_src, "test_tgt": test_tgt}


def translations(model: Path, lines: list[str], **search: int) -> list[str]:
    """What the Python API gives for `lines` with the same weights: what the
    commands must print, whatever the CPU computed the weights to be."""
    from seqcli.tasks.translation_inference import load_translator, translate

    found = translate(load_translator(model), lines, **search)
    return [t.texts[0] for t in found]


def test_translate_prints_one_line_per_input_line(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    given = tmp_path / "in.txt"
    given.write_text("a b c\n\nd e\n", encoding="utf-8")
    result = invoke("translate", given, "-m", trained["model"])
    assert_ok(result)
    expected = translations(trained["model"], ["a b c", "", "d e"])
    assert result.stdout.split("\n") == [*expected, ""]
    assert expected == ["A B C", "", "D E"]  # what a model that learned gives


def test_translate_reads_stdin(trained: dict[str, Path]) -> None:
    result = invoke("translate", "-", "-m", trained["model"], input="a b\nh g f\n")
    assert_ok(result)
    assert result.stdout.splitlines() == translations(
        trained["model"], ["a b", "h g f"]
    )


def test_n_best_is_tsv_of_index_rank_score_text(trained: dict[str, Path]) -> None:
    result = invoke(
        "translate", "-", "-m", trained["model"], "--n-best", "3", input="a b c\n"
    )
    assert_ok(result)
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(r[0], r[1]) for r in rows] == [("1", "1"), ("1", "2"), ("1", "3")]
    assert rows[0][3] == "A B C"
    assert len({r[3] for r in rows}) == 3
    scores = [float(r[2]) for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_scores_add_the_score_and_log_prob(trained: dict[str, Path]) -> None:
    """The beam's score (at T = 1: what ranked the outputs) and log P at the
    calibrated temperature (tests/test_calibrate_translation.py)."""
    from seqcli.tasks.translation_inference import load_translator, translate

    result = invoke("translate", "-", "-m", trained["model"], "--scores", input="a b\n")
    assert_ok(result)
    text, score, log_prob = result.stdout.strip().split("\t")
    assert text == "A B"
    (want,) = translate(load_translator(trained["model"]), ["a b"], calibrated=True)
    assert float(score) == pytest.approx(want.hypotheses[0].score, abs=1e-4)
    assert float(log_prob) == pytest.approx(want.log_probs[0], abs=1e-4)
    assert float(score) <= 0.0 and float(log_prob) <= 0.0


@pytest.fixture(scope="module")
def unk_model(trained: dict[str, Path]) -> Path:
    """The tiny word-level model, saved lacking the words c and C (read and
    written as <unk>), as a model trained on raw text lacks its rare words."""
    from seqcli.tasks.translation_inference import load_translator

    lacking = load_translator(trained["model"])
    forget_pair(
        lacking.network, lacking.src_vocab.stoi["c"], lacking.tgt_vocab.stoi["C"]
    )
    data = load_checkpoint(trained["model"])
    out = trained["model"].with_name("unk.pt")
    save_checkpoint(out, {**data, "state_dict": lacking.network.state_dict()})
    return out


def test_translate_replaces_unk_by_default_for_a_word_level_model(
    trained: dict[str, Path], unk_model: Path
) -> None:
    """The source word the model does not know appears where it wrote <unk>;
    --keep-unk keeps the <unk>; --replace-unk is the default spelled out."""
    wanted = translations(trained["model"], ["a c b", "c d e c"])
    assert wanted == ["A C B", "C D E C"]  # before it lacked c and C
    lines = "a zebra b\nzebra d e zebra\n"
    outputs = {
        flags: invoke("translate", "-", "-m", unk_model, *flags, input=lines)
        for flags in ((), ("--keep-unk",), ("--replace-unk",))
    }
    for result in outputs.values():
        assert_ok(result)
    default = outputs[()].stdout.splitlines()
    assert default == [w.replace("C", "zebra") for w in wanted]
    assert outputs[("--replace-unk",)].stdout.splitlines() == default
    kept = outputs[("--keep-unk",)].stdout.splitlines()
    assert kept == [w.replace("C", "<unk>") for w in wanted]


def test_help_says_when_unk_is_replaced_and_what_each_level_costs() -> None:
    wide = {"COLUMNS": "300"}
    translate = CliRunner().invoke(app, ["translate", "--help"], env=wide)
    train = CliRunner().invoke(app, ["train-translate", "--help"], env=wide)
    assert_ok(translate)
    assert_ok(train)
    text = " ".join(translate.stdout.split())
    assert "--replace-unk --keep-unk" in text
    assert "(default: on for word-level models, off for subword)" in text
    level = " ".join(train.stdout.split()).split("--level TEXT", 1)[1].split("│")[0]
    assert "<unk>" in level and "subword" in level
    assert "(default: subword)" in level  # read from TranslationConfig, not typed


def test_ref_prints_bleu_and_chrf_on_stderr(trained: dict[str, Path]) -> None:
    result = invoke(
        "translate",
        trained["test_src"],
        "-m",
        trained["model"],
        "--ref",
        trained["test_tgt"],
    )
    assert_ok(result)
    # The lines the API gives with these weights, scored as sacreBLEU scores them.
    import sacrebleu

    hyps = result.stdout.splitlines()
    srcs = trained["test_src"].read_text(encoding="utf-8").splitlines()
    refs = trained["test_tgt"].read_text(encoding="utf-8").splitlines()
    assert hyps == translations(trained["model"], srcs)
    bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
    chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
    assert f"BLEU {bleu:.2f}  chrF {chrf:.2f}" in result.stderr


def test_analyze_prints_a_table_and_a_summary_per_beam(
    trained: dict[str, Path],
) -> None:
    result = invoke(
        "translate",
        trained["test_src"],
        "-m",
        trained["model"],
        "--analyze",
        trained["test_tgt"],
        "--beams",
        "1,3",
    )
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0].split("\t")[:5] == [
        "beam",
        "line",
        "ref_score",
        "out_score",
        "verdict",
    ]
    assert len(lines) == 1 + 2 * 10
    assert "beam 1: BLEU" in result.stderr and "beam 3: BLEU" in result.stderr


def test_evaluate_and_info_show_translation_metrics(trained: dict[str, Path]) -> None:
    result = invoke(
        "evaluate", trained["test_src"], trained["test_tgt"], "-m", trained["model"]
    )
    assert_ok(result)
    for name in ("bleu", "chrf", "ter", "ppl"):
        assert name in result.stdout
    info = invoke("info", trained["model"], "--json")
    assert_ok(info)
    assert '"task": "translation"' in info.stdout
    assert "valid.bleu" in info.stdout


def test_info_piped_is_indented_lines_of_at_most_100_characters(
    trained: dict[str, Path],
) -> None:
    result = invoke("info", trained["model"])  # CliRunner's stdout is no terminal
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 100
    assert lines[0] == str(trained["model"])
    # Nested data one level further in, each side's tokenizer under its name, and
    # no tokenizer setting outside the sides (it said split=whitespace there).
    start = lines.index("  tokenizer:")
    assert lines[start + 1] == "    src:"
    block = lines[start + 1 : lines.index("  vocabulary:")]
    assert "      split: ptb" in block
    assert [x for x in block if not x.startswith("      ")] == ["    src:", "    tgt:"]
    assert "  training data:" in lines and "    train:" in lines
    assert not [x for x in lines if "{" in x or "}" in x]  # no Python dicts


def test_info_wraps_a_long_value_under_its_key() -> None:
    from seqcli.cli.inspection import describe_lines

    summary = {"training data": {"train": {"path": "/data/" + "x" * 250}}}
    lines = describe_lines("m.pt", summary, width=100)
    assert max(map(len, lines)) <= 100
    assert lines[:3] == ["m.pt", "  training data:", "    train:"]
    assert lines[3].startswith("      path: /data/xxx")
    assert all(x.startswith("          x") for x in lines[4:])  # under the key


def test_info_of_a_checkpoint_without_a_metadata_record(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    import json
    import zipfile

    import torch

    older = tmp_path / "older.pt"  # as saved before the record existed
    torch.save(torch.load(trained["model"], weights_only=True), older)
    assert not [n for n in zipfile.ZipFile(older).namelist() if "seqcli/" in n]
    new, old = (invoke("info", p, "--json") for p in (trained["model"], older))
    assert_ok(new)
    assert_ok(old)
    shown = [json.loads(r.stdout) for r in (new, old)]
    for summary in shown:
        summary.pop("file size")
    assert shown[0] == shown[1]


def test_evaluate_reads_a_pairs_file(trained: dict[str, Path], tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("a b c d\tA B C D\nc d e f g\tC D E F G\n", encoding="utf-8")
    result = invoke("evaluate", pairs, "-m", trained["model"], "--json")
    assert_ok(result)
    import sacrebleu

    hyps = translations(trained["model"], ["a b c d", "c d e f g"])
    bleu = sacrebleu.corpus_bleu(hyps, [["A B C D", "C D E F G"]]).score
    assert json.loads(result.stdout)["metrics"]["bleu"] == pytest.approx(bleu)


def test_evaluate_passes_its_search_flags_on(
    trained: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import seqcli.tasks.translation_inference as inference

    calls: list[dict[str, object]] = []
    real = inference.translate

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "translate", spy)
    files = (trained["test_src"], trained["test_tgt"], "-m", trained["model"])
    assert_ok(invoke("evaluate", *files, "--json"))
    search = ("--beam", "2", "--alpha", "0.25", "--batch-size", "3")
    assert_ok(invoke("evaluate", *files, *search, "--json"))
    defaults = inference.TranslateConfig()
    given = {"beam": 2, "alpha": 0.25, "batch_size": 3}
    assert [{k: call[k] for k in given} for call in calls] == [
        {k: getattr(defaults, k) for k in given},
        given,
    ]


def test_search_flags_without_a_translation_model_are_an_error(
    tmp_path: Path,
) -> None:
    tagged = tmp_path / "tagged.txt"
    tagged.write_text("John B-PER B-PER\n", encoding="utf-8")
    result = invoke("evaluate", tagged, "--conlleval", "--beam", "3")
    assert_error(result, "--beam: only for translation models")


def test_train_from_a_pairs_file_dry_run(
    copy_corpus: dict[str, Path], tmp_path: Path
) -> None:
    pairs = tmp_path / "train.tsv"
    pairs.write_text(
        "".join(f"{s}\t{t}\n" for s, t in copy_pairs(30, 3)), encoding="utf-8"
    )
    result = invoke(
        "train-translate",
        "--pairs",
        pairs,
        "--valid-src",
        copy_corpus["valid_src"],
        "--valid-tgt",
        copy_corpus["valid_tgt"],
        "--dry-run",
    )
    assert_ok(result)
    assert "30 training pairs" in result.stderr


def test_max_len_drops_long_pairs_and_says_how_many(
    copy_corpus: dict[str, Path], tmp_path: Path
) -> None:
    result = invoke(
        "train-translate",
        copy_corpus["train_src"],
        copy_corpus["train_tgt"],
        "--valid-src",
        copy_corpus["valid_src"],
        "--valid-tgt",
        copy_corpus["valid_tgt"],
        "--max-len",
        "3",
        "--dry-run",
    )
    assert_ok(result)
    dropped = sum(
        len(s.split()) > 3 for s in copy_corpus["train_src"].read_text().splitlines()
    )
    assert dropped > 0
    assert f"dropped {dropped} pairs longer than 3 tokens (--max-len)" in result.stderr


# --- bad input: one line, exit 2 ------------------------------------------------------
def test_parallel_files_of_different_line_counts(
    copy_corpus: dict[str, Path], tmp_path: Path
) -> None:
    short = tmp_path / "short.tgt"
    short.write_text("A\nB\n", encoding="utf-8")
    result = invoke(
        "train-translate",
        copy_corpus["train_src"],
        short,
        "--valid-src",
        copy_corpus["valid_src"],
        "--valid-tgt",
        copy_corpus["valid_tgt"],
    )
    assert_error(result, "short.tgt", "has 2 lines")


def test_an_empty_source_line(copy_corpus: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "gap.src"
    src.write_text("a b\n\nc d\n", encoding="utf-8")
    tgt = tmp_path / "gap.tgt"
    tgt.write_text("A B\nX\nC D\n", encoding="utf-8")
    result = invoke(
        "train-translate",
        src,
        tgt,
        "--valid-src",
        copy_corpus["valid_src"],
        "--valid-tgt",
        copy_corpus["valid_tgt"],
    )
    assert_error(result, "gap.src:2", "empty source sentence")


def test_a_model_of_another_task(tmp_path: Path) -> None:
    other = tmp_path / "lm.pt"
    save_checkpoint(
        other,
        {
            "task": "lm",
            "config": {},
            "vocab": {"tokens": ["<pad>", "<unk>", "<bos>", "<eos>"]},
            "tokenizer": {"kind": "word"},
            "state_dict": {},
        },
    )
    result = invoke("translate", "-", "-m", other, input="a b\n")
    assert_error(result, "this is an lm checkpoint", "needs a translation checkpoint")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--beam", "0"], "--beam"),
        (["--alpha", "-1"], "--alpha"),
        (["--n-best", "6"], "--n-best"),
        (["--beams", "1,x"], "--beams"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_bad_search_flags(
    trained: dict[str, Path], flags: list[str], fragment: str
) -> None:
    result = invoke("translate", "-", "-m", trained["model"], *flags, input="a b\n")
    assert_error(result, fragment)


def test_plot_attention_without_matplotlib(
    trained: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    result = invoke(
        "translate",
        "-",
        "-m",
        trained["model"],
        "--plot-attention",
        tmp_path / "a.png",
        input="a b\n",
    )
    assert_error(result, "pip install", "seqcli[plot]")


def test_plot_attention_draws_a_png(trained: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "a.png"
    result = invoke(
        "translate", "-", "-m", trained["model"], "--plot-attention", png, input="a b\n"
    )
    assert_ok(result)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_an_interactive_stdin_line_is_translated_before_the_next_is_typed(
    trained: dict[str, Path],
) -> None:
    """On a terminal, `translate -` answers each line as it is typed (no EOF)."""
    import os
    import select
    import subprocess
    import time

    pty = pytest.importorskip("pty")
    main, child = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqcli", "translate", "-", "-m", str(trained["model"])],
        stdin=child,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        os.write(main, b"a b c\n")
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        ready: list = []
        while not ready and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        assert ready, "no translation before the end of input"
        expected = translations(trained["model"], ["a b c"])[0]
        assert proc.stdout.readline().decode().strip() == expected
    finally:
        os.close(main)
        proc.kill()
        proc.wait()
        os.close(child)
