"""A user's mistake ends in one `error:` line and exit code 2, never a traceback.

Bad flags and config values (named as the user typed them), unknown devices,
tampered and truncated checkpoints, bad files given to the wrong command. One tiny
language model and one tiny classifier are trained through the CLI once per module;
each test makes its own broken inputs from them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner, Result

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.cli import app
from seqcli.errors import ConfigError

TINY = ["--emb-size", "8", "--hidden-size", "16", "--num-layers", "1",
        "--batch-size", "4", "--seed", "1", "--device", "cpu", "-q"]  # fmt: skip
SENTENCES = ["the cat sees the dog .", "the owl likes the fox .", "a dog runs ."]


def invoke(*args: Any, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, result.output + repr(result.exception)


def assert_error(result: Result, *fragments: str) -> str:
    """Exit code 2, one `error:` line on stderr holding every fragment."""
    assert result.exit_code == 2, result.output + repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """corpus.txt, lm.pt (a word LM), labelled.tsv and clf.pt (a classifier)."""
    folder = tmp_path_factory.mktemp("user-errors")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 6) + "\n", encoding="utf-8")
    assert_ok(invoke("train-lm", corpus, "--epochs", 1, "--bptt", 8, *TINY,
                     "-o", folder / "lm.pt"))  # fmt: skip
    rows = [f"{s}\t{'pos' if i % 2 else 'neg'}" for i, s in enumerate(SENTENCES * 6)]
    labelled = folder / "labelled.tsv"
    labelled.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert_ok(invoke("train-sentiment", labelled, "--valid", labelled,
                     "--epochs", 1, *TINY, "-o", folder / "clf.pt"))  # fmt: skip
    return folder


def rewrite(model: Path, dest: Path, edit: Any) -> Path:
    """A copy of `model` changed by `edit(data)`, its digest recomputed (a forgery
    the digest cannot catch)."""
    data = load_checkpoint(model)
    for key in ("format", "format_version", "seqcli_version", "created", "digest"):
        data.pop(key)
    data = copy.deepcopy(data)
    edit(data)
    return save_checkpoint(dest, data)


# --- flags and config values ----------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "-1"], "--lr must be > 0 (got -1.0)"),
        (["--lr", "0"], "--lr must be > 0 (got 0.0)"),
        (["--epochs", "0"], "--epochs must be >= 1 (got 0)"),
        (["--max-time", "-1"], "--max-time must be > 0 (got -1.0)"),
        (["--min-freq", "0"], "--min-freq must be >= 1 (got 0)"),
        (["--max-vocab", "-5"], "--max-vocab must be >= 0 (got -5)"),
        (["--clip", "-1"], "--clip must be >= 0 (got -1.0)"),
        (["--dropout", "1.5"], "--dropout must be in [0, 1) (got 1.5)"),
        (["--hidden-size", "0"], "--hidden-size must be >= 1 (got 0)"),
        (["--batch-size", "0"], "--batch-size must be >= 1 (got 0)"),
        (["--bptt", "0"], "--bptt must be >= 1 (got 0)"),
        (["--cell", "tree"], "--cell must be one of rnn, gru, lstm (got 'tree')"),
        (["--device", "tpu"], "--device must be auto, cpu, cuda, cuda:N or mps"),
        (
            ["--precision", "fp8"],
            "--precision must be one of auto, fp32, bf16 (got 'fp8')",
        ),
    ],
)
def test_train_lm_refuses_nonsense_flags_naming_them(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n", encoding="utf-8")
    out = tmp_path / "m.pt"
    result = invoke("train-lm", corpus, *flags, "-q", "-o", out)
    assert_error(result, message)
    assert "saved" not in result.output
    assert not out.exists()


def test_train_sentiment_refuses_a_negative_learning_rate(folder: Path) -> None:
    result = invoke("train-sentiment", folder / "labelled.tsv", "--valid",
                    folder / "labelled.tsv", "--lr", "-1", "--dry-run")  # fmt: skip
    assert_error(result, "--lr must be > 0 (got -1.0)")


def test_save_every_in_yaml_is_named_with_its_file(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n", encoding="utf-8")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("train:\n  save_every: -1\n", encoding="utf-8")
    result = invoke("train-lm", corpus, "-c", cfg, "--dry-run")
    assert_error(result, f"train.save_every in {cfg} must be >= 0 (got -1")


def test_choices_are_accepted_in_any_case(folder: Path) -> None:
    flags = ["--cell", "LSTM", "--level", "Char", "--optimizer", "SGD"]
    result = invoke("train-lm", folder / "corpus.txt", *flags, "--dry-run")
    assert_ok(result)
    assert "cell: lstm" in result.stdout
    assert "level: char" in result.stdout
    assert "optimizer: sgd" in result.stdout


def test_a_bidirectional_lm_in_yaml_is_a_config_error(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n", encoding="utf-8")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model:\n  bidirectional: true\n", encoding="utf-8")
    result = invoke("train-lm", corpus, "-c", cfg, "--dry-run")
    assert_error(
        result,
        "a language model reads left to right",
        f"model.bidirectional in {cfg} must be false",
    )


def test_an_unknown_device_is_refused_by_the_inference_commands(folder: Path) -> None:
    result = invoke("sample", "-m", folder / "lm.pt", "--device", "tpu")
    assert_error(result, "--device must be auto, cpu, cuda, cuda:N or mps (got 'tpu')")


def test_resolve_device_refuses_unknown_names() -> None:
    from seqcli.devices import resolve_device

    with pytest.raises(ConfigError, match="auto, cpu, cuda, cuda:N or mps"):
        resolve_device("tpu")
    assert resolve_device("CPU") == torch.device("cpu")


# --- tampered, incomplete and truncated checkpoints -----------------------------------
def _huge(data: dict) -> None:
    data["config"]["model"]["hidden_size"] = 10**6


def _no_vocab(data: dict) -> None:
    del data["vocab"]


def _no_tokenizer(data: dict) -> None:
    del data["tokenizer"]


def _no_tokenizer_kind(data: dict) -> None:
    del data["tokenizer"]["kind"]


def _no_config(data: dict) -> None:
    del data["config"]


def _no_weight(data: dict) -> None:
    del data["state_dict"]["encoder.embedding.weight"]


def _extra_weight(data: dict) -> None:
    data["state_dict"]["spy"] = torch.zeros(1)


def _wider_vocab(data: dict) -> None:
    data["vocab"]["tokens"].append("extra")


def _zero_layers(data: dict) -> None:
    data["config"]["model"]["num_layers"] = 0


def _bidirectional(data: dict) -> None:
    data["config"]["model"]["bidirectional"] = True


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_huge, "'encoder.rnn.weight_ih_l0' has shape [64, 8], the config needs"),
        (_no_vocab, "not a complete checkpoint: no 'vocab'"),
        (_no_tokenizer, "not a complete checkpoint: no 'tokenizer'"),
        (_no_tokenizer_kind, "damaged checkpoint: no 'tokenizer.kind'"),
        (_no_config, "not a complete checkpoint: no 'config'"),
        (_no_weight, "'encoder.embedding.weight' is missing"),
        (_extra_weight, "'spy' is not part of the network"),
        (_wider_vocab, "'encoder.embedding.weight' has shape"),
        (_zero_layers, "model.num_layers must be >= 1 (got 0)"),
        (_bidirectional, "model.bidirectional must be false"),
    ],
)
def test_a_forged_lm_checkpoint_is_refused_before_anything_is_built(
    folder: Path, tmp_path: Path, edit: Any, message: str
) -> None:
    forged = rewrite(folder / "lm.pt", tmp_path / "forged.pt", edit)
    assert_error(invoke("sample", "-m", forged), str(forged), message)


@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_every_lm_command_checks_the_shapes(
    folder: Path, tmp_path: Path, command: str
) -> None:
    forged = rewrite(folder / "lm.pt", tmp_path / "forged.pt", _huge)
    result = invoke(command, "-", "-m", forged, input="the cat\n")
    assert_error(result, str(forged), "the config needs [4000000, 8]")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_huge, "has shape"),
        (lambda d: d["vocab"].pop("labels"), "no 'vocab.labels'"),
        (lambda d: d["vocab"]["labels"].append("x"), "has shape"),
        (_no_weight, "'encoder.embedding.weight' is missing"),
    ],
)
def test_a_forged_classifier_checkpoint_is_refused(
    folder: Path, tmp_path: Path, edit: Any, message: str
) -> None:
    forged = rewrite(folder / "clf.pt", tmp_path / "forged.pt", edit)
    result = invoke("classify", "-", "-m", forged, input="the cat\n")
    assert_error(result, str(forged), message)


@pytest.mark.parametrize("command", ["train-lm", "train-sentiment"])
def test_a_forged_init_from_is_refused_before_anything_is_built(
    folder: Path, tmp_path: Path, command: str
) -> None:
    forged = rewrite(folder / "lm.pt", tmp_path / "forged.pt", _huge)
    inputs = [folder / "corpus.txt"]
    if command == "train-sentiment":
        inputs = [folder / "labelled.tsv", "--valid", folder / "labelled.tsv"]
    result = invoke(command, *inputs, "--init-from", forged, "--epochs", 1, *TINY,
                    "-o", tmp_path / "out.pt")  # fmt: skip
    assert_error(result, f"--init-from {forged}", "the config needs [4000000, 8]")


def test_training_settings_of_a_stored_config_are_not_checked(
    folder: Path, tmp_path: Path
) -> None:
    # They do not shape the network; a run through the Python API may hold values
    # the CLI refuses (an lr of 0 to keep weights as they are).
    def zero_lr(data: dict) -> None:
        data["config"]["train"]["lr"] = 0.0

    model = rewrite(folder / "lm.pt", tmp_path / "m.pt", zero_lr)
    assert_ok(invoke("score", "-", "-m", model, input="the cat\n"))


def test_a_truncated_checkpoint_says_so_without_errno(
    folder: Path, tmp_path: Path
) -> None:
    content = (folder / "lm.pt").read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(content[: len(content) // 2])
    line = assert_error(invoke("sample", "-m", broken), str(broken), "truncated")
    assert "not a seqcli" in line
    assert "Errno" not in line


# --- sampling and BLEU flags ----------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--temperature", "nan"], "--temperature must be 0 (greedy) or a finite"),
        (["--temperature", "inf"], "(got inf)"),
        (["--top-p", "nan"], "--top-p must be in (0, 1] (got nan)"),
    ],
)
def test_sample_refuses_non_finite_settings(
    folder: Path, flags: list[str], message: str
) -> None:
    assert_error(invoke("sample", "-m", folder / "lm.pt", *flags), message)


def test_bleu_refuses_a_negative_width(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("a b c\n", encoding="utf-8")
    assert_error(invoke("bleu", text, text, "--width", "-1"), "--width must be 0 to")


# --- output paths ---------------------------------------------------------------------
def test_tokenize_vocab_refuses_a_directory_as_out(folder: Path, tmp_path: Path):
    result = invoke("tokenize", "vocab", folder / "corpus.txt", "-o", tmp_path)
    assert_error(result, f"--out {tmp_path}: is a directory")


def test_tokenize_train_creates_missing_folders(folder: Path, tmp_path: Path):
    out = tmp_path / "missing" / "dir" / "sp.model"
    result = invoke("tokenize", "train", folder / "corpus.txt", "-o", out,
                    "--vocab-size", "30")  # fmt: skip
    assert_ok(result)
    assert out.stat().st_size > 0


def test_tokenize_train_under_a_file_is_one_line(folder: Path, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    out = blocker / "sp.model"
    expected = (f"-o/--out {out}: cannot create folder", f"{blocker} is a file")
    result = invoke("tokenize", "train", folder / "corpus.txt", "-o", out)
    assert_error(result, *expected)
    result = invoke("tokenize", "vocab", folder / "corpus.txt", "-o", out)
    assert_error(result, *expected)


@pytest.mark.parametrize("command", ["train-lm", "train-sentiment"])
def test_training_refuses_a_directory_as_out(folder: Path, command: str) -> None:
    inputs = [folder / "corpus.txt"]
    if command == "train-sentiment":
        inputs = [folder / "labelled.tsv", "--valid", folder / "labelled.tsv"]
    result = invoke(command, *inputs, "-o", folder, "--dry-run")
    assert_error(result, f"--out {folder}: is a directory; give a file path")


@pytest.mark.parametrize(
    "args", [["sample"], ["score", "-"], ["evaluate", "-"], ["classify", "-"]]
)
def test_a_directory_as_model_is_one_line(folder: Path, args: list[str]) -> None:
    result = invoke(*args, "-m", folder, input="the cat\n")
    assert_error(result, f"--model {folder}: is a directory")


# --- SentencePiece --------------------------------------------------------------------
def test_a_corrupt_sentencepiece_model_is_named_not_internal(
    folder: Path, tmp_path: Path
) -> None:
    fake = tmp_path / "sp.model"
    fake.write_bytes(bytes(range(256)) * 3)
    result = invoke("tokenize", "encode", "-", "--sp-model", fake, input="a\n")
    line = assert_error(result, str(fake), "not a SentencePiece model")
    assert "INTERNAL" not in line


def test_a_sentencepiece_vocabulary_too_small_for_the_text(folder: Path, tmp_path):
    result = invoke("tokenize", "train", folder / "corpus.txt", "--vocab-size", "5",
                    "-o", tmp_path / "sp.model")  # fmt: skip
    line = assert_error(result, "vocabulary of 5 pieces is too small", "at least")
    assert "INTERNAL" not in line and "trainer_interface" not in line


def test_sentencepiece_training_errors_are_cleaned() -> None:
    from seqcli.tokenizers import sentencepiece_training_error

    raw = "INTERNAL: src/trainer_interface.cc(94) [x > 0] Something failed."
    assert sentencepiece_training_error(raw) == (
        "SentencePiece could not train a model on this text (Something failed.)"
    )


def test_a_character_coverage_out_of_range_is_refused(folder: Path, tmp_path):
    out = tmp_path / "sp.model"
    result = invoke("tokenize", "train", folder / "corpus.txt",
                    "--character-coverage", "2", "-o", out)  # fmt: skip
    assert_error(result, "character coverage must be in (0, 1] (got 2.0)")


# --- data given to the wrong command --------------------------------------------------
@pytest.mark.parametrize(
    ("content", "found"),
    [
        ("the cat sees the dog .\na dog runs .\n", "found one column of plain text"),
        ("-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n",
         "found what looks like a CoNLL file"),
        ("EU B-ORG\nrejects O\n", "found what looks like a CoNLL file"),
    ],
)  # fmt: skip
def test_train_sentiment_on_plain_text_or_conll_says_what_it_expected(
    tmp_path: Path, content: str, found: str
) -> None:
    data = tmp_path / "data.txt"
    data.write_text(content, encoding="utf-8")
    result = invoke("train-sentiment", data, "--valid", data, "--dry-run")
    line = assert_error(result, f"{data}:1: expected labelled data", found)
    assert "asked for" not in line


def test_evaluate_refuses_labelled_data_with_a_language_model(folder: Path) -> None:
    labelled = folder / "labelled.tsv"
    for source, stdin in ((labelled, None), ("-", labelled.read_text("utf-8"))):
        result = invoke("evaluate", source, "-m", folder / "lm.pt", input=stdin)
        assert_error(result, "looks like labelled data", "pass a sentiment model")
    # Plain text is still scored.
    assert_ok(invoke("evaluate", folder / "corpus.txt", "-m", folder / "lm.pt"))


def test_looks_labelled() -> None:
    from seqcli.readers import looks_labelled

    assert looks_labelled(["text\tlabel", "good film\tpos", "bad\tneg", "ok\tpos"])
    assert looks_labelled(["1\tgood film", "0\tbad film", "1\tfine"])
    assert not looks_labelled(["the cat sat .", "a dog ran ."])
    assert not looks_labelled(["a\tthe long tail one", "b\tanother long tail"])
    assert not looks_labelled(["x\ty", "the cat sat .", "a dog", "an owl"])


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_classify_of_no_text_is_an_error(folder: Path, content: str) -> None:
    result = invoke("classify", "-", "-m", folder / "clf.pt", input=content)
    assert_error(result, "<stdin>: empty input: no text to read")


@pytest.mark.parametrize("as_json", [False, True])
def test_classify_keeps_blank_lines_blank(folder: Path, as_json: bool) -> None:
    flags = ["--json"] if as_json else []
    result = invoke("classify", "-", "-m", folder / "clf.pt", *flags,
                    input="the cat\n\na dog runs .\n")  # fmt: skip
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    if as_json:
        assert lines[1] == '{"label": null, "score": null}'
        assert all('"label": "' in lines[i] for i in (0, 2))
    else:
        assert lines[1] == ""
        assert lines[0] in ("pos", "neg") and lines[2] in ("pos", "neg")


# --- scoring long lines ---------------------------------------------------------------
def test_a_long_line_is_scored_in_windows_as_if_read_at_once(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqcli.tasks import lm_inference as use

    lm = use.load_lm(folder / "lm.pt")
    lines = [" ".join(SENTENCES * 20), "the cat", "a dog runs ."]
    whole = [s.logprob for s in use.score(lm, lines).sentences]
    monkeypatch.setattr(use, "SCORE_WINDOW", 7)  # the first line now takes windows
    windowed = [s.logprob for s in use.score(lm, lines).sentences]
    assert windowed == pytest.approx(whole, rel=1e-5)
    tokens = use.token_log_probs(lm, lines[0])
    assert sum(lp for _, lp in tokens) == pytest.approx(whole[0], rel=1e-5)


def test_a_50000_token_line_reads_one_window_at_a_time(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqcli.tasks import lm_inference as use

    lm = use.load_lm(folder / "lm.pt")
    longest = []
    encoder = lm.network.encoder
    original = encoder.forward

    def spy(ids: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        longest.append(ids.numel())  # what memory grows with
        return original(ids, *args, **kwargs)

    monkeypatch.setattr(encoder, "forward", spy)
    line = " ".join(["the cat sees the dog ."] * 8334)  # 50,004 tokens
    (result,) = use.score(lm, [line]).sentences
    assert result.tokens == 50_005
    assert max(longest) <= use.SCORE_WINDOW
    assert result.logprob < 0


def test_tokenize_choices_are_accepted_in_any_case(folder: Path, tmp_path: Path):
    result = invoke("tokenize", "encode", "-", "--level", "CHAR", input="ab\n")
    assert_ok(result)
    assert result.stdout.split() == ["a", "b"]
    out = tmp_path / "sp.model"
    result = invoke("tokenize", "train", folder / "corpus.txt", "--model-type", "BPE",
                    "--vocab-size", "30", "-o", out)  # fmt: skip
    assert_ok(result)
    assert_error(
        invoke("tokenize", "encode", "-", "--level", "byte", input="ab\n"),
        "--level must be one of word, char, subword (got 'byte')",
    )
