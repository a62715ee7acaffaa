"""`seqcli train-lm`, `sample`, `score`, `info`, `evaluate` through Typer's CliRunner.

One tiny character model is trained through the CLI once per module and shared;
the tests that check error handling make their own broken files.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from conftest import assert_error, assert_ok
from typer.testing import CliRunner, Result

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.cli import app

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "--emb-size",
    "8",
    "--hidden-size",
    "16",
    "--num-layers",
    "1",
    "--batch-size",
    "4",
    "--bptt",
    "8",
    "--seed",
    "1",
    "--device",
    "cpu",
]


def invoke(runner: CliRunner, *args: str, input: str | None = None) -> Result:
    return runner.invoke(app, [str(a) for a in args], input=input)


def _rewrite(model: Path, dest: Path, **changes) -> Path:
    data = load_checkpoint(model)
    for key in ("format", "format_version", "seqcli_version", "created", "digest"):
        data.pop(key)
    return save_checkpoint(dest, {**data, **changes})


@pytest.fixture(scope="module")
def model_dir(write_lines, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding corpus.txt and m.pt, a char LM trained through the CLI."""
    folder = tmp_path_factory.mktemp("cli-lm")
    corpus = write_lines(
        folder / "corpus.txt",
        ["the cat sees the dog .", "the owl likes the fox .", "a dog runs ."] * 6,
    )
    result = CliRunner().invoke(
        app,
        [
            "train-lm",
            str(corpus),
            "--level",
            "char",
            "--epochs",
            "1",
            *TINY,
            "-q",
            "-o",
            str(folder / "m.pt"),
        ],
    )
    assert_ok(result)
    assert result.stdout.strip() == str(folder / "m.pt")
    return folder


@pytest.fixture
def model(model_dir: Path) -> Path:
    return model_dir / "m.pt"


def test_train_lm_writes_checkpoint_snapshot_and_log(model_dir: Path):
    data = load_checkpoint(model_dir / "m.pt", task="lm")
    assert data["config"]["tokenizer"]["level"] == "char"
    assert data["config"]["model"]["hidden_size"] == 16
    assert data["config"]["train"]["epochs"] == 1
    assert "train_state" not in data
    assert "train_state" in load_checkpoint(model_dir / "m.last.pt")
    records = (model_dir / "m.metrics.jsonl").read_text().splitlines()
    assert len(records) == 1
    assert json.loads(records[0])["epoch"] == 1


@pytest.mark.bf16("lstm")
def test_train_lm_in_bf16_saves_an_fp32_model(model_dir: Path, tmp_path: Path):
    args = [model_dir / "corpus.txt", "--level", "char", "--epochs", "1", *TINY]
    result = invoke(CliRunner(), "train-lm", *args, "--precision", "bf16", "-q",
                    "-o", tmp_path / "bf16.pt")  # fmt: skip
    assert_ok(result)
    data = load_checkpoint(tmp_path / "bf16.pt", task="lm")
    assert data["config"]["train"]["precision"] == "bf16"
    weights = data["state_dict"].values()
    assert all(w.dtype == torch.float32 for w in weights if w.is_floating_point())


def test_sample_streams_text(runner: CliRunner, model: Path):
    result = invoke(runner, "sample", "-m", model, "--max-length", "30", "--seed", "1")
    assert_ok(result)
    assert result.stdout.strip()
    again = invoke(runner, "sample", "-m", model, "--max-length", "30", "--seed", "1")
    assert again.stdout == result.stdout


def test_sample_with_prompt_and_several_samples(runner: CliRunner, model: Path):
    result = invoke(
        runner,
        "sample",
        "-m",
        model,
        "-n",
        "3",
        "--prompt",
        "the ",
        "--stop-at-eos",
        "--max-length",
        "20",
        "--seed",
        "2",
    )
    assert_ok(result)
    samples = result.stdout.splitlines()
    assert len(samples) == 3
    assert all(s.startswith("the ") for s in samples)


def test_greedy_sampling_is_repeated_for_every_sample(runner: CliRunner, model: Path):
    result = invoke(
        runner, "sample", "-m", model, "-n", "2", "--temperature", "0",
        "--stop-at-eos", "--max-length", "15",
    )  # fmt: skip
    assert_ok(result)
    first, second = result.stdout.splitlines()
    assert first == second


def test_no_unk_flag(runner: CliRunner, model: Path, tmp_path: Path):
    state = load_checkpoint(model)["state_dict"]
    state["decoder.bias"][1] += 100.0  # <unk> (id 1) is now by far the likeliest
    unk_loving = _rewrite(model, tmp_path / "unk.pt", state_dict=state)
    args = ["sample", "-m", unk_loving, "--max-length", "5", "--seed", "1"]
    assert invoke(runner, *args).stdout.strip() == "<unk>" * 5
    result = invoke(runner, *args, "--no-unk")
    assert_ok(result)
    assert "<unk>" not in result.stdout


def test_score_reads_stdin(runner: CliRunner, model: Path):
    sentences = ["the cat sees the dog .", "a fox ."]
    result = invoke(runner, "score", "-", "-m", model, input="\n".join(sentences))
    assert_ok(result)
    header, *rows = result.stdout.splitlines()
    assert header.split("\t") == ["ln_p", "log10_p", "p", "ppl", "tokens", "text"]
    assert len(rows) == len(sentences)
    total = 0.0
    for row, sentence in zip(rows, sentences, strict=True):
        ln_p, log10_p, _, ppl, tokens, text = row.split("\t")
        assert text == sentence
        assert int(tokens) == len(sentence) + 1  # characters and the closing <eos>
        assert float(ln_p) < 0
        assert float(log10_p) == pytest.approx(float(ln_p) / math.log(10), abs=1e-3)
        assert float(ppl) == pytest.approx(
            math.exp(-float(ln_p) / int(tokens)), rel=1e-2
        )
        total += float(ln_p)
    assert "2 sentences" in result.stderr
    assert f"ln P {total:.2f}" in result.stderr


def test_score_with_tokens(runner: CliRunner, model: Path):
    result = invoke(runner, "score", "-", "-m", model, "--tokens", "-q", input="ab\n")
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + 3  # header, the sentence, a, b, <eos>
    assert [line.split("\t")[-1] for line in lines[2:]] == ["'a'", "'b'", "'<eos>'"]
    assert result.stderr == ""


def test_info_shows_the_checkpoint(runner: CliRunner, model: Path):
    result = invoke(runner, "info", model, "--json")
    assert_ok(result)
    summary = json.loads(result.stdout)
    assert summary["task"] == "lm"
    assert summary["tokenizer"]["kind"] == "char"
    assert summary["network"]["hidden_size"] == 16
    assert summary["resumable"] is False
    assert summary["parameters"] > 0
    assert "valid.loss" in summary["metrics"]
    snapshot = json.loads(
        invoke(runner, "info", model.with_suffix(".last.pt"), "--json").stdout
    )
    assert snapshot["resumable"] is True
    table = invoke(runner, "info", model)
    assert_ok(table)
    assert "lm" in table.stdout
    assert "parameters" in table.stdout
    # Like every inference command, info also takes the model as -m.
    assert invoke(runner, "info", "-m", model, "--json").stdout == result.stdout


def test_evaluate_reports_perplexity(runner: CliRunner, model_dir: Path):
    result = invoke(
        runner, "evaluate", model_dir / "corpus.txt", "-m", model_dir / "m.pt", "--json"
    )
    assert_ok(result)
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["ppl"] == pytest.approx(math.exp(metrics["loss"]))
    assert metrics["bpc"] == pytest.approx(metrics["loss"] / math.log(2))
    assert metrics["tokens"] == len((model_dir / "corpus.txt").read_text())


def test_commands_without_model_use_the_newest_lm_in_models(
    runner: CliRunner, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "models"
    folder.mkdir()
    older = shutil.copy(model, folder / "older.pt")
    newest = shutil.copy(model, folder / "newest.pt")
    os.utime(older, (1_000, 1_000))
    os.utime(newest, (2_000, 2_000))
    other = _rewrite(model, folder / "other-task.pt", task="sentiment")
    os.utime(other, (3_000, 3_000))
    snapshot = shutil.copy(model.with_suffix(".last.pt"), folder / "newest.last.pt")
    os.utime(snapshot, (4_000, 4_000))

    result = invoke(runner, "sample", "--max-length", "10", "--seed", "1")
    assert_ok(result)
    assert "using models/newest.pt" in result.stderr
    result = invoke(runner, "score", "-", input="the cat\n")
    assert_ok(result)
    assert "using models/newest.pt" in result.stderr
    # `evaluate` takes the newest checkpoint of any task it supports.
    other.unlink()
    result = invoke(runner, "evaluate", "-", "--json", input="the cat sees\n")
    assert_ok(result)
    assert "using models/newest.pt" in result.stderr


def test_no_model_at_all(runner: CliRunner, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_error(invoke(runner, "sample"), "no lm checkpoint in models")


def test_dry_run_prints_the_config_and_writes_nothing(
    runner: CliRunner, corpus_file: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    result = invoke(
        runner,
        "train-lm",
        corpus_file,
        "--dry-run",
        "--cell",
        "gru",
        "--epochs",
        "3",
        *TINY,
    )
    assert_ok(result)
    cfg = yaml.safe_load(result.stdout)
    assert cfg["model"]["cell"] == "gru"
    assert cfg["model"]["emb_size"] == 8
    assert cfg["train"]["epochs"] == 3
    assert cfg["train_path"] == str(corpus_file)
    assert "inputs ok" in result.stderr
    assert not (tmp_path / "models").exists()
    assert list(tmp_path.glob("**/*.pt")) == []


def test_config_file_with_a_flag_overriding_it(
    runner: CliRunner, corpus_file: Path, tmp_path: Path
):
    config = tmp_path / "lm.yaml"
    config.write_text(
        "bptt: 5\nmodel:\n  cell: rnn\n  hidden_size: 12\ntrain:\n  lr: 0.5\n",
        encoding="utf-8",
    )
    result = invoke(
        runner,
        "train-lm",
        corpus_file,
        "-c",
        config,
        "--hidden-size",
        "20",
        "--dry-run",
    )
    assert_ok(result)
    cfg = yaml.safe_load(result.stdout)
    assert cfg["bptt"] == 5
    assert cfg["model"]["cell"] == "rnn"
    assert cfg["model"]["hidden_size"] == 20  # the flag wins over the file
    assert cfg["train"]["lr"] == 0.5


def test_unknown_yaml_key_lists_valid_keys(
    runner: CliRunner, corpus_file: Path, tmp_path: Path
):
    config = tmp_path / "lm.yaml"
    config.write_text("model:\n  hiden_size: 12\n", encoding="utf-8")
    line = assert_error(
        invoke(runner, "train-lm", corpus_file, "-c", config, "--dry-run"),
        "lm.yaml",
        "hiden_size",
    )
    assert "valid keys: bidirectional, cell, dropout, emb_size, hidden_size" in line


def test_bad_flag_value_is_an_error(runner: CliRunner, corpus_file: Path):
    assert_error(
        invoke(runner, "train-lm", corpus_file, "--cell", "foo", "--dry-run"),
        "--cell",
        "foo",
    )


def test_resume_through_the_cli(runner: CliRunner, corpus_file: Path, tmp_path: Path):
    out = tmp_path / "r.pt"
    assert_ok(
        invoke(runner, "train-lm", corpus_file, "--epochs", "1", *TINY, "-q", "-o", out)
    )
    result = invoke(
        runner, "train-lm", corpus_file, "--resume", "--epochs", "2", "-q", "-o", out
    )
    assert_ok(result)
    # -q: not even which snapshot resumes, nor that it trains to epoch 2 now.
    assert result.stderr == ""
    assert result.stdout.strip() == str(out)
    progress = load_checkpoint(out.with_suffix(".last.pt"))["train_state"]["progress"]
    assert progress["epoch"] == 3
    assert [h["epoch"] for h in progress["history"]] == [1, 2]
    # The stored config of the first run (tiny sizes) was kept.
    assert load_checkpoint(out)["config"]["model"]["hidden_size"] == 16


def test_a_quiet_resume_still_warns_of_a_changed_setting(
    runner: CliRunner, corpus_file: Path, tmp_path: Path
):
    out = tmp_path / "w.pt"
    assert_ok(
        invoke(runner, "train-lm", corpus_file, "--epochs", "1", *TINY, "-q", "-o", out)
    )
    result = invoke(runner, "train-lm", corpus_file, "--resume", "--epochs", "2",
                    "--dropout", "0.3", "-q", "-o", out)  # fmt: skip
    assert_ok(result)
    assert result.stderr.splitlines() == [
        "warning: --resume: model.dropout differs from the snapshot's: 0.1 -> 0.3"
    ]


def test_resume_without_a_snapshot(runner: CliRunner, corpus_file: Path, tmp_path):
    out = tmp_path / "none.pt"
    assert_error(
        invoke(runner, "train-lm", corpus_file, "--resume", "-o", out),
        "nothing to resume",
        "none.last.pt",
    )


# --- bad inputs: exit 2, one `error:` line naming the file, no traceback --------------
def test_missing_corpus(runner: CliRunner, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "train-lm", "missing.txt", "-q")
    assert_error(result, "missing.txt: file not found")


def test_missing_valid_file(runner: CliRunner, corpus_file: Path, tmp_path: Path):
    result = invoke(
        runner, "train-lm", corpus_file, "--valid", tmp_path / "nope.txt", "-q"
    )
    assert_error(result, "nope.txt: file not found")


def test_empty_corpus(runner: CliRunner, tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert_error(invoke(runner, "train-lm", empty, "-q", *TINY), str(empty), "empty")


def test_non_utf8_corpus(runner: CliRunner, tmp_path: Path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("the cat\nthe dog\nthe caf\u00e9\n".encode("latin-1") * 3)
    assert_error(invoke(runner, "train-lm", bad, "-q", *TINY), f"{bad}:3:", "UTF-8")


def test_corpus_too_small_for_the_batch(write_lines, runner: CliRunner, tmp_path: Path):
    small = write_lines(tmp_path / "small.txt", ["a b", "c d", "e f", "g h"])
    assert_error(
        invoke(runner, "train-lm", small, "-q", "--batch-size", "20"), str(small)
    )


@pytest.mark.parametrize(
    ("command", "task"),
    [("sample", "sentiment"), ("score", "sentiment"), ("evaluate", "poetry")],
)
def test_checkpoint_of_another_task(
    runner: CliRunner, model: Path, tmp_path: Path, command: str, task: str
):
    other = _rewrite(model, tmp_path / f"{task}.pt", task=task)
    args = {"sample": [], "score": ["-"], "evaluate": ["-"]}[command]
    line = assert_error(
        invoke(runner, command, *args, "-m", other, input="the cat\n"), str(other)
    )
    assert f"{task} checkpoint" in line


def test_sample_names_both_tasks(runner: CliRunner, model: Path, tmp_path: Path):
    other = _rewrite(model, tmp_path / "sentiment.pt", task="sentiment")
    assert_error(
        invoke(runner, "sample", "-m", other),
        "this is a sentiment checkpoint; `seqcli sample` needs an lm checkpoint",
    )


@pytest.mark.parametrize("command", ["sample", "score", "info", "evaluate"])
def test_truncated_checkpoint(runner: CliRunner, model: Path, tmp_path: Path, command):
    broken = tmp_path / "broken.pt"
    content = model.read_bytes()
    broken.write_bytes(content[: len(content) // 2])
    args = {
        "sample": ["-m", broken],
        "score": ["-", "-m", broken],
        "info": [broken],
        "evaluate": ["-", "-m", broken],
    }[command]
    assert_error(
        invoke(runner, command, *args, input="the cat\n"),
        str(broken),
        "truncated or damaged",
    )


@pytest.mark.parametrize("command", ["sample", "info", "evaluate"])
def test_tampered_checkpoint(runner: CliRunner, model: Path, tmp_path: Path, command):
    tampered = tmp_path / "tampered.pt"
    data = torch.load(model, map_location="cpu", weights_only=True)
    name = next(iter(data["state_dict"]))
    data["state_dict"][name] += 1.0
    torch.save(data, tampered)
    args = {
        "sample": ["-m", tampered],
        "info": [tampered],
        "evaluate": ["-", "-m", tampered],
    }[command]
    assert_error(
        invoke(runner, command, *args, input="the cat\n"), str(tampered), "modified"
    )


def test_out_is_a_directory(
    runner: CliRunner, corpus_file: Path, tmp_path: Path, monkeypatch
):
    # Refused up front: before, training ran and failed at its first save.
    monkeypatch.chdir(tmp_path)
    Path("outdir").mkdir()
    result = invoke(runner, "train-lm", corpus_file, *TINY, "-q", "-o", "outdir")
    assert_error(result, "--out outdir: is a directory")  # one line, not a usage box
    assert list(tmp_path.glob("**/*.pt")) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device(runner: CliRunner, model: Path):
    assert_error(
        invoke(runner, "sample", "-m", model, "--device", "cuda"),
        "CUDA is not available",
    )


def test_checkpoint_with_an_unknown_setting(
    runner: CliRunner, model: Path, tmp_path: Path
):
    # As a checkpoint written by a newer seqcli would look.
    config = {**load_checkpoint(model)["config"], "future_setting": 1}
    newer = _rewrite(model, tmp_path / "newer.pt", config=config)
    assert_error(invoke(runner, "sample", "-m", newer), str(newer), "future_setting")


def test_missing_checkpoint(runner: CliRunner, tmp_path: Path):
    missing = tmp_path / "missing.pt"
    assert_error(invoke(runner, "sample", "-m", missing), "not found", str(missing))


def test_non_utf8_input_to_score(runner: CliRunner, model: Path, tmp_path: Path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff\xfe\n")
    assert_error(invoke(runner, "score", bad, "-m", model), f"{bad}:2:")


def test_a_backward_lm_through_the_cli(runner: CliRunner, model_dir: Path):
    out = model_dir / "backward.pt"
    result = invoke(
        runner, "train-lm", model_dir / "corpus.txt", "--reverse", "--epochs", "1",
        *TINY, "-q", "-o", out,
    )  # fmt: skip
    assert_ok(result)
    assert load_checkpoint(out)["tokenizer"]["reverse"] is True
    result = invoke(
        runner, "sample", "-m", out, "-n", "3", "--prompt", "the dog .",
        "--max-length", "6", "--seed", "1",
    )  # fmt: skip
    assert_ok(result)
    samples = result.stdout.splitlines()
    assert len(samples) == 3
    # A backward LM writes what comes before the prompt: each sample ends with it
    # (detokenised: "the dog.") and is longer.
    assert all(s.endswith("the dog.") and len(s.split()) > 2 for s in samples)


def test_init_from_through_the_cli(runner: CliRunner, model_dir: Path, tmp_path: Path):
    corpus = model_dir / "corpus.txt"
    result = invoke(
        runner, "train-lm", corpus, "--init-from", tmp_path / "nope.pt", *TINY, "-q"
    )
    assert_error(result, "nope.pt")
    out = tmp_path / "tuned.pt"
    result = invoke(
        runner, "train-lm", corpus, "--init-from", model_dir / "m.pt", "--epochs", "1",
        *TINY, "-q", "-o", out,
    )  # fmt: skip
    assert_ok(result)
    tuned = load_checkpoint(out)
    assert tuned["config"]["init_from"] == str(model_dir / "m.pt")
    assert tuned["vocab"] == load_checkpoint(model_dir / "m.pt")["vocab"]
    assert tuned["config"]["tokenizer"]["level"] == "char"  # the LM's, not the flag's
