"""The last cases of the hardening issue: each ends in one `error:` line, exit 2.

A folder given to any file option; a resume snapshot forged to describe a huge
network; a tab-separated CoNLL file given as labelled data; non-finite numbers in
YAML; user text holding a line break or rich markup; and a dry run, which refuses
the outputs a real run refuses without writing anything.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_error, assert_ok
from typer.testing import CliRunner, Result

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.cli import app
from seqcli.config import LMConfig, load_config
from seqcli.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--emb-size", "8", "--hidden-size", "8", "--num-layers", "1",
        "--batch-size", "4", "--seed", "1", "--device", "cpu", "-q"]  # fmt: skip
LABELLED = [f"{w} film\t{'pos' if w in ('good', 'fine') else 'neg'}"
            for w in ("good", "bad", "fine", "dull")] * 6  # fmt: skip


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


# --- a folder given to a file option ----------------------------------------------
# D stands for an existing folder; the files named need not exist, as the option
# parser refuses the folder before anything is read.
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["train-lm", "c.txt", "--valid", "D", "--dry-run"], "--valid"),
        (["train-lm", "c.txt", "--test", "D", "--dry-run"], "--test"),
        (["train-lm", "c.txt", "--init-from", "D", "--dry-run"], "--init-from"),
        (["train-lm", "c.txt", "--config", "D", "--dry-run"], "--config"),
        (["train-sentiment", "t.tsv", "--valid", "D", "--dry-run"], "--valid"),
        (["train-sentiment", "t.tsv", "--test", "D", "--dry-run"], "--test"),
        (["train-sentiment", "t.tsv", "--init-from", "D", "--dry-run"], "--init-from"),
        (["train-sentiment", "t.tsv", "--embeddings", "D"], "--embeddings"),
        (["tokenize", "encode", "c.txt", "--sp-model", "D"], "--sp-model"),
        (["tokenize", "encode", "c.txt", "--ids", "--vocab", "D"], "--vocab"),
        (["tokenize", "decode", "c.txt", "--ids", "--vocab", "D"], "--vocab"),
        (["tokenize", "vocab", "c.txt", "--heldout", "D"], "--heldout"),
        (["info", "D"], "CHECKPOINT"),
    ],
)  # fmt: skip
def test_a_folder_given_as_a_file_is_one_line(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    folder = tmp_path / "D"
    folder.mkdir()
    result = invoke(*[folder if a == "D" else tmp_path / a if "." in a else a
                      for a in args])  # fmt: skip
    assert_error(result, f"{flag} {folder}: is a directory")


# --- a forged resume snapshot ---------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lm.pt and clf.pt, one epoch each, with their .last.pt snapshots."""
    folder = tmp_path_factory.mktemp("runs")
    corpus = folder / "corpus.txt"
    corpus.write_text("the cat sees the dog .\n" * 24, encoding="utf-8")
    assert_ok(invoke("train-lm", corpus, "--epochs", 1, "--bptt", 8, *TINY,
                     "-o", folder / "lm.pt"))  # fmt: skip
    labelled = folder / "labelled.tsv"
    labelled.write_text("\n".join(LABELLED) + "\n", encoding="utf-8")
    assert_ok(invoke("train-sentiment", labelled, "--valid", labelled, "--epochs", 1,
                     *TINY, "-o", folder / "clf.pt"))  # fmt: skip
    return folder


def forge(snapshot: Path, dest: Path, **model: Any) -> None:
    """A copy of `snapshot` whose stored model config says `model`, its digest
    recomputed: a forgery that the digest alone cannot catch."""
    data = copy.deepcopy(load_checkpoint(snapshot))
    for key in ("format", "format_version", "seqcli_version", "created", "digest"):
        data.pop(key)
    data["config"]["model"].update(model)
    save_checkpoint(dest, data)


@pytest.mark.parametrize(
    ("command", "name", "data"),
    [("train-lm", "lm", "corpus.txt"), ("train-sentiment", "clf", "labelled.tsv")],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_forged_snapshot_is_refused_before_its_network_is_built(
    runs: Path, tmp_path: Path, command: str, name: str, data: str, dry_run: bool
) -> None:
    out = tmp_path / f"{name}.pt"
    # 10^6 hidden units: 16 TB of weights if the network were built.
    forge(runs / f"{name}.last.pt", tmp_path / f"{name}.last.pt", hidden_size=10**6)
    flags = ["--dry-run"] if dry_run else []
    result = invoke(command, runs / data, "-o", out, "--resume", *flags, "-q")
    # -q: the error is all of stderr ("resuming X", said before the snapshot is
    # checked, is a note that -q drops).
    assert_error(
        result,
        f"--resume {tmp_path / f'{name}.last.pt'}",
        "stored weights do not fit the network its config describes",
    )
    assert not out.exists()


def _last_line(result: Result) -> Result:
    """`result` as if its last stderr line were the only one."""
    result.stderr_bytes = result.stderr.strip().splitlines()[-1].encode()
    return result


def test_a_snapshot_with_an_impossible_stored_setting_is_refused(
    runs: Path, tmp_path: Path
) -> None:
    forge(runs / "lm.last.pt", tmp_path / "lm.last.pt", bidirectional=True)
    result = invoke("train-lm", runs / "corpus.txt", "-o", tmp_path / "lm.pt",
                    "--resume", "--dry-run")  # fmt: skip
    assert_error(_last_line(result), "bidirectional")


# --- CoNLL data given as labelled text -------------------------------------------
CONLL_ROWS = ["-DOCSTART-\t-X-\t-X-\tO", "", "John\tNNP\tB-NP\tB-PER",
              "lives\tVBZ\tB-VP\tO", "in\tIN\tB-PP\tO", "Paris\tNNP\tB-NP\tB-LOC",
              ".\t.\tO\tO", ""] * 3  # fmt: skip


@pytest.mark.parametrize("columns", [4, 2])
def test_tab_separated_conll_given_to_train_sentiment_says_what_it_expected(
    tmp_path: Path, write_lines, columns: int
) -> None:
    rows = ["\t".join([*r.split("\t")[:1], *r.split("\t")[1:][-(columns - 1):]])
            if r else r for r in CONLL_ROWS]  # fmt: skip
    conll = write_lines(tmp_path / "train.tsv", rows)
    result = invoke("train-sentiment", conll, "--dry-run")
    assert_error(result, f"{conll}:1:", "expected labelled data", "CoNLL")


def test_one_word_texts_with_real_labels_are_still_a_table(
    tmp_path: Path, write_lines
) -> None:
    rows = [f"{w}\t{'pos' if w in ('good', 'fine') else 'neg'}"
            for w in ("good", "bad", "fine", "dull")] * 6  # fmt: skip
    table = write_lines(tmp_path / "train.tsv", rows)
    assert_ok(invoke("train-sentiment", table, "--valid", table, "--dry-run", *TINY))


# --- non-finite numbers in YAML ---------------------------------------------------
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize("key", ["train.lr", "model.dropout", "train.clip"])
def test_non_finite_yaml_numbers_are_refused(
    tmp_path: Path, key: str, value: str
) -> None:
    section, name = key.split(".")
    path = tmp_path / "run.yaml"
    path.write_text(f"{section}:\n  {name}: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{key} in .*run.yaml must be a finite"):
        load_config(LMConfig, path, {})


def test_a_nan_learning_rate_in_yaml_is_one_line(
    tmp_path: Path, corpus_file: Path
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  lr: .nan\n", encoding="utf-8")
    result = invoke("train-lm", corpus_file, "-c", path, "--dry-run")
    assert_error(result, "train.lr", "must be a finite number (got nan)")


# --- user text in messages ------------------------------------------------------------
def test_one_line_escapes_every_line_break() -> None:
    from seqcli.cli._shared import one_line

    assert one_line("plain 'text'") == "plain 'text'"
    text = "a\nb\rc\x0bd\x0ce\x1cf\x85g\u2028h\u2029i"
    assert len(one_line(text).splitlines()) == 1
    assert one_line("a\nb") == "a\\nb"


@pytest.mark.parametrize(
    "args",
    [
        ["train-lm", "C", "--level", "wo\nrd", "--dry-run"],
        ["tokenize", "encode", "C", "--level", "wo\nrd"],
        ["train-lm", "C", "--cell", "l\nstm", "--dry-run"],
    ],
)
def test_a_line_break_in_a_flag_value_stays_on_the_error_line(
    corpus_file: Path, args: list[str]
) -> None:
    result = invoke(*[corpus_file if a == "C" else a for a in args])
    assert_error(result, "wo\\nrd" if "wo\nrd" in args else "l\\nstm")


def test_a_line_break_in_a_yaml_key_stays_on_the_error_line(
    tmp_path: Path, corpus_file: Path
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text('"bp\\ntt": 8\n', encoding="utf-8")
    result = invoke("train-lm", corpus_file, "-c", path, "--dry-run")
    assert_error(result, "unknown key 'bp\\ntt'")


def test_a_line_break_in_a_label_stays_on_the_error_line(tmp_path: Path) -> None:
    table = tmp_path / "train.csv"
    table.write_text('text,label\n"a film","po\ns"\n"a play","po\ns"\n')
    result = invoke("train-sentiment", table, "--dry-run")
    assert_error(result, "only one label ('po\\ns')")


@pytest.mark.parametrize("name", ["[/]x.txt", "[bold]x.txt"])
def test_a_file_name_that_looks_like_markup_is_shown_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("train-lm", name, "--dry-run")
    assert_error(result, f"{name}: file not found")


def test_paths_that_look_like_markup_in_notes_and_the_report(
    tmp_path: Path, corpus_file: Path
) -> None:
    out = tmp_path / "[/]m" / "lm.pt"
    result = invoke("train-lm", corpus_file, "--epochs", 1, "--bptt", 8, *TINY[:-1],
                    "-o", out)  # fmt: skip
    assert_ok(result)
    assert f"saved {out}" in result.stderr
    result = invoke("sample", "-m", out, "-n", 1, "--max-length", 3)
    assert_ok(result)


# --- a dry run checks the outputs as a real run does, writing nothing ----------------
def test_a_dry_run_refuses_an_output_that_is_an_input(corpus_file: Path) -> None:
    before = corpus_file.read_bytes()
    result = invoke("train-lm", corpus_file, "-o", corpus_file, "--dry-run")
    assert_error(result, "the training data", "is -o/--out")
    assert corpus_file.read_bytes() == before


def test_a_dry_run_refuses_a_validation_file_that_the_run_writes(
    tmp_path: Path, write_lines
) -> None:
    train = write_lines(tmp_path / "train.tsv", LABELLED)
    valid = write_lines(tmp_path / "m.last.pt", LABELLED)
    result = invoke("train-sentiment", train, "--valid", valid,
                    "-o", tmp_path / "m.pt", "--dry-run")  # fmt: skip
    assert_error(result, "--valid", "m.last.pt")


def test_a_dry_run_refuses_an_output_under_a_file(
    tmp_path: Path, corpus_file: Path
) -> None:
    result = invoke("train-lm", corpus_file, "-o", corpus_file / "m.pt", "--dry-run")
    assert_error(result, "-o/--out", f"{corpus_file} is a file")


def test_a_dry_run_refuses_an_output_another_run_holds(
    tmp_path: Path, corpus_file: Path
) -> None:
    from seqcli.outputs import guard_run

    out = tmp_path / "m.pt"
    with guard_run(out, {}):
        result = invoke("train-lm", corpus_file, "-o", out, "--dry-run")
        assert Path(f"{out}.lock").exists()  # the holder's lock is untouched
    assert_error(result, "another training run")


def test_a_dry_run_creates_no_folder_and_no_lock(
    tmp_path: Path, corpus_file: Path
) -> None:
    out = tmp_path / "new" / "dir" / "m.pt"
    before = sorted(tmp_path.rglob("*"))
    assert_ok(invoke("train-lm", corpus_file, "-o", out, "--dry-run", *TINY))
    assert sorted(tmp_path.rglob("*")) == before


# --- smaller things ------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def test_the_declared_license_is_in_the_repository() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = { text = "MIT" }' in pyproject
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_bleu_help_shows_only_commands_that_exist() -> None:
    import typer.main

    from seqcli.cli import app as cli

    commands = set(typer.main.get_command(cli).commands)
    result = invoke("bleu", "--help")
    assert_ok(result)
    shown = re.findall(r"seqcli ([a-z][a-z-]+)", result.stdout)
    assert shown, result.stdout  # the examples name commands
    assert set(shown) <= commands, shown


def test_special_tokens_are_spelled_only_in_vocab() -> None:
    import ast

    from seqcli.vocab import SPECIALS

    specials = set(SPECIALS)
    for path in sorted((ROOT / "seqcli").rglob("*.py")):
        if path.name == "vocab.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in specials:
                raise AssertionError(f"{path}:{node.lineno}: {node.value!r}")
