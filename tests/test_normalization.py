"""Raw text in, read as the training text was: every inference path applies the
normalisation the checkpoint's tokenizer records (PTB split, lowercasing detected
from caseless training text, cleaning), and `tokenize encode -m` shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner, Result

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.cli import app
from seqcli.config import SentimentConfig, load_config
from seqcli.reporting import SilentReporter
from seqcli.tasks.lm import train_lm
from seqcli.tasks.lm_inference import evaluate_lm, load_lm, sample, score
from seqcli.tasks.sentiment import train_sentiment
from seqcli.tasks.sentiment_inference import classify, load_classifier
from seqcli.tokenizers import NO_CAPITALS_NOTE
from seqcli.vocab import UNK_ID

# SST-style training text: lowercased and PTB-tokenised.
ROWS = [
    ("it 's a good film .", "pos"),
    ("i do n't like the bad plot .", "neg"),
    ("a good , fine film !", "pos"),
    ("the film is bad .", "neg"),
] * 4


class Messages(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_message(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def invoke(*args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def sentiment_cfg(folder: Path, **settings: Any) -> SentimentConfig:
    data = folder / "train.tsv"
    body = "".join(f"{text}\t{label}\n" for text, label in ROWS)
    data.write_text("text\tlabel\n" + body, encoding="utf-8")
    base = {
        "train_path": str(data),
        "valid_path": str(data),
        "out": str(folder / "clf.pt"),
        "model.emb_size": 8,
        "model.hidden_size": 8,
        "train.epochs": 1,
        "train.device": "cpu",
    }
    return load_config(SentimentConfig, None, {**base, **settings})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A tiny classifier trained on caseless tokenised text, and its messages."""
    reporter = Messages()
    cfg = sentiment_cfg(tmp_path_factory.mktemp("clf"))
    outcome = train_sentiment(cfg, reporter=reporter)
    return outcome.path, reporter.lines


def test_classifier_reads_raw_text_as_its_training_text(trained):
    path, messages = trained
    model = load_classifier(path)
    assert model.tokenizer.tokenize("It's GOOD.") == ["it", "'s", "good", "."]
    assert UNK_ID not in model.encode(["It's a GOOD film."])[0]
    raw = classify(model, ["It's a GOOD film.", "I DON'T like the bad plot!"])
    tokenized = classify(model, ["it 's a good film .", "i do n't like the bad plot !"])
    assert raw.probs == tokenized.probs
    # The data summary says so, and the checkpoint records it.
    assert NO_CAPITALS_NOTE in messages
    stored = load_checkpoint(path)
    assert stored["tokenizer"]["lowercase_detected"] is True
    assert stored["tokenizer"]["split"] == "ptb"
    assert NO_CAPITALS_NOTE in stored["data"]["tokenizer"]


def test_classify_command_reads_raw_text(trained):
    path, _ = trained
    probs = [
        invoke("classify", "-", "-m", path, "--probs", input=text).stdout
        for text in ("It's a GOOD film.\n", "it 's a good film .\n")
    ]
    assert probs[0] == probs[1] and probs[0].strip()


def test_tokenize_encode_shows_what_the_model_sees(trained):
    path, _ = trained
    text = "It's GOOD, zebra!\n"
    seen = invoke("tokenize", "encode", "-", "-m", path, input=text)
    assert seen.exit_code == 0, seen.output
    assert seen.stdout == "it 's good , zebra !\n"
    unk = invoke("tokenize", "encode", "-", "-m", path, "--unk", input=text)
    assert unk.stdout == "it 's good , <unk> !\n"
    ids = invoke("tokenize", "encode", "-", "-m", path, "--ids", input=text)
    vocab = load_classifier(path).vocab
    assert ids.stdout.split() == [str(vocab.id_of(t)) for t in seen.stdout.split()]
    mixed = invoke("tokenize", "encode", "-", "-m", path, "--lowercase", input=text)
    assert mixed.exit_code == 2
    assert "--lowercase cannot be combined with -m" in mixed.stderr


def test_tokenize_encode_without_a_model_needs_no_unk():
    result = invoke("tokenize", "encode", "-", "--unk", input="a b\n")
    assert result.exit_code == 2 and "--unk needs -m MODEL" in result.stderr


def rewrite_tokenizer(path: Path, out: Path, tokenizer: dict, **config: Any) -> Path:
    """A copy of a checkpoint with another stored tokenizer (and config values)."""
    data = load_checkpoint(path)
    data["tokenizer"] = tokenizer
    data["config"] = {**data["config"], **config}
    payload = {k: v for k, v in data.items() if k not in ("format", "digest")}
    return save_checkpoint(out, payload)


def test_checkpoints_from_before_keep_their_reading(trained, tmp_path: Path):
    path, _ = trained
    old = rewrite_tokenizer(path, tmp_path / "old.pt", {"kind": "word"})
    model = load_classifier(old)
    assert model.tokenizer.tokenize("It's GOOD.") == ["It's", "GOOD."]
    seen = invoke("tokenize", "encode", "-", "-m", old, input="It's GOOD.\n")
    assert seen.stdout == "It's GOOD.\n"
    # A classifier trained with --clean cleaned its inputs in the task then.
    raw = {"kind": "word", "lowercase": True}
    cleaned = rewrite_tokenizer(path, tmp_path / "clean.pt", raw, clean=True)
    model = load_classifier(cleaned)
    assert model.tokenizer.tokenize("It's<br />GOOD.") == ["it", "'s", "good", "."]


def test_whitespace_split_stays_available(tmp_path: Path):
    cfg = sentiment_cfg(tmp_path, **{"tokenizer.word_split": "whitespace"})
    path = train_sentiment(cfg).path
    model = load_classifier(path)
    assert model.tokenizer.tokenize("It's GOOD.") == ["it's", "good."]


def test_language_model_reads_raw_text_as_its_training_text(
    lm_config, tmp_path: Path, write_lines
):
    reporter = Messages()
    path = train_lm(lm_config(), reporter=reporter).path  # caseless corpus
    assert NO_CAPITALS_NOTE in reporter.lines
    lm = load_lm(path)
    raw, tokenized = "The CAT sees the owl.", "the cat sees the owl ."
    scores = score(lm, [raw, tokenized]).sentences
    assert scores[0].unk == 0
    assert scores[0].logprob == pytest.approx(scores[1].logprob)
    # A prompt is read the same way; the sample shows it as the model read it.
    text = sample(lm, prompt="The CAT", max_length=3, seed=1)[0]
    assert text.startswith("the cat")
    cased = write_lines(tmp_path / "cased.txt", [raw, "The Dog likes the Fox."])
    caseless = write_lines(
        tmp_path / "caseless.txt", [tokenized, "the dog likes the fox ."]
    )
    assert evaluate_lm(lm, cased)["loss"] == pytest.approx(
        evaluate_lm(lm, caseless)["loss"]
    )


def test_word_tokenizer_flag_and_key(corpus_file: Path):
    result = invoke(
        "train-lm", corpus_file, "--word-tokenizer", "whitespace", "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "word_split: whitespace" in result.stdout
    bad = invoke("train-lm", corpus_file, "--word-tokenizer", "moses", "--dry-run")
    assert bad.exit_code == 2
    assert "--word-tokenizer must be one of ptb, whitespace (got 'moses')" in bad.stderr


def test_a_classifier_from_a_cased_lm_lowercases_like_its_own_text(
    lm_config, tmp_path: Path, write_lines
):
    cased = write_lines(tmp_path / "cased.txt", ["The Cat sees the Dog."] * 40)
    lm = train_lm(lm_config(train_path=str(cased))).path
    assert not load_lm(lm).tokenizer.lowercase
    cfg = sentiment_cfg(tmp_path, init_from=str(lm), extend_vocab=True, clean=True)
    model = load_classifier(train_sentiment(cfg).path)
    assert model.tokenizer.lowercase_detected and model.tokenizer.clean
    assert model.tokenizer.tokenize("It's<br />GOOD.") == ["it", "'s", "good", "."]
