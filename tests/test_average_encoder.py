"""`train-sentiment --encoder average`: the mean of the word embeddings, then the
output layer (the course's baseline against the RNN)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from conftest import assert_error, assert_ok
from typer.testing import CliRunner

from seqcli.batching import pad_batch
from seqcli.checkpoint import load_checkpoint
from seqcli.cli import app
from seqcli.config import RecurrentConfig, SentimentConfig, load_config
from seqcli.nn.classifier import AverageEncoder, Classifier
from seqcli.tasks.sentiment import train_sentiment

pytestmark = pytest.mark.usefixtures("one_thread")

ROWS = [
    ("good film", "pos"),
    ("a good plot", "pos"),
    ("the film was good", "pos"),
    ("good", "pos"),
    ("bad film", "neg"),
    ("a bad plot", "neg"),
    ("the film was bad", "neg"),
    ("bad", "neg"),
]


def write_tsv(path: Path) -> Path:
    path.write_text(
        "text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in ROWS), encoding="utf-8"
    )
    return path


def config(tmp_path: Path, **overrides: object) -> SentimentConfig:
    data = write_tsv(tmp_path / "train.tsv")
    settings = {
        "train_path": str(data),
        "valid_path": str(data),
        "out": str(tmp_path / "avg.pt"),
        "text_encoder": "average",
        "model.emb_size": 8,
        "model.dropout": 0.0,
        "train.epochs": 30,
        "train.early_stop": 0,
        "train.batch_size": 4,
        "train.lr": 0.05,
        "train.device": "cpu",
        **overrides,
    }
    return load_config(SentimentConfig, None, settings)


def test_padding_does_not_change_the_average() -> None:
    torch.manual_seed(0)
    cfg = RecurrentConfig(emb_size=6, hidden_size=4, num_layers=1, dropout=0.0)
    network = Classifier(20, 3, cfg, encoder="average").eval()
    assert isinstance(network.encoder, AverageEncoder)
    short, long = [4, 5, 6], [7, 8, 9, 10, 11, 12, 13]
    alone = network.logits(pad_batch([short]))
    padded = network.logits(pad_batch([short, long]))  # short gets four <pad>s
    torch.testing.assert_close(padded[0], alone[0])
    # ... and it is the mean of the embeddings through the output layer.
    mean = network.encoder.embedding.weight[short].mean(dim=0)
    torch.testing.assert_close(alone[0], network.output(mean))


def test_the_average_model_has_no_recurrent_layer_and_ignores_order() -> None:
    cfg = RecurrentConfig(emb_size=6, hidden_size=4, num_layers=1, dropout=0.0)
    network = Classifier(20, 2, cfg, encoder="average", pooling="max").eval()
    assert network.pooling == "mean"
    assert not any("rnn" in name for name, _ in network.named_parameters())
    forward, backward = network.logits(pad_batch([[4, 5, 6], [6, 5, 4]]))
    torch.testing.assert_close(forward, backward)


def test_any_word_order_gives_the_average_model_the_same_output() -> None:
    """The averaging model sees a bag of words: every permutation of a text gets
    the same logits, in training mode too (dropout off), while the RNN on the
    same weights' sizes reads order ("not good , bad" is not "good , not bad")."""
    torch.manual_seed(0)
    cfg = RecurrentConfig(emb_size=6, hidden_size=4, num_layers=1, dropout=0.0)
    average = Classifier(30, 2, cfg, encoder="average")
    rnn = Classifier(30, 2, cfg, encoder="rnn")
    text = [4, 5, 6, 7, 4, 8, 9, 10, 11, 4, 12, 13]  # one word three times
    rng = random.Random(0)
    orders = [text] + [rng.sample(text, len(text)) for _ in range(5)]
    logits = average.logits(pad_batch(orders))  # (6, 2)
    for row in logits[1:]:
        torch.testing.assert_close(row, logits[0])
    rnn_logits = rnn.logits(pad_batch(orders))
    assert not torch.allclose(rnn_logits[1:], rnn_logits[0].expand(5, -1))


def test_the_average_model_trains_and_classifies(tmp_path: Path) -> None:
    outcome = train_sentiment(config(tmp_path))
    assert outcome.metrics["valid"]["accuracy"] == 100.0
    saved = load_checkpoint(outcome.path)
    assert saved["config"]["text_encoder"] == "average"
    texts = tmp_path / "texts.txt"
    texts.write_text("a good film\nthe plot was bad\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["classify", str(texts), "-m", str(outcome.path)])
    assert_ok(result)
    assert result.stdout.splitlines() == ["pos", "neg"]


def test_the_average_model_starts_from_word_vectors(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("2 8\ngood " + " ".join(["0.5"] * 8) + "\n", encoding="utf-8")
    cfg = config(
        tmp_path, embeddings=str(vectors), freeze_embeddings=True, **{"train.epochs": 1}
    )
    saved = load_checkpoint(train_sentiment(cfg).path)
    assert saved["data"]["embeddings"]["found"] == 1
    row = saved["vocab"]["tokens"].index("good")
    assert saved["state_dict"]["encoder.embedding.weight"][row].tolist() == [0.5] * 8


def test_the_cli_flag_and_its_choices(tmp_path: Path) -> None:
    data = write_tsv(tmp_path / "train.tsv")
    args = ["train-sentiment", str(data), "--valid", str(data)]
    dry = CliRunner().invoke(app, [*args, "--encoder", "average", "--dry-run"])
    assert_ok(dry)
    assert "text_encoder: average" in dry.stdout
    bad = CliRunner().invoke(app, [*args, "--encoder", "cnn"])
    assert_error(bad, "--encoder must be one of rnn, average")


def test_the_negated_sentences_read_as_a_balanced_table() -> None:
    """bench/sentiment.py scores both models on these; SST-2's labels (0/1)."""
    from collections import Counter

    from seqcli.readers import read_table

    path = Path(__file__).resolve().parents[1] / "corpora" / "negated-sentiment.tsv"
    records = list(read_table(path))
    assert Counter(r.label for r in records) == {"0": 20, "1": 20}
    assert records[0].text.startswith("completely lacking in good taste")
