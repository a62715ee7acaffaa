"""`Classifier` (pooling x cell), transfer from a language model, word vectors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqcli.batching import pad_batch
from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.config import (
    LMConfig,
    RecurrentConfig,
    SentimentConfig,
    load_config,
    to_dict,
)
from seqcli.nn.classifier import POOLINGS, Classifier
from seqcli.nn.lm import LanguageModel
from seqcli.tasks.sentiment import train_sentiment
from seqcli.tasks.sentiment_inference import load_classifier
from seqcli.tokenizers import make_tokenizer
from seqcli.vocab import SPECIALS

pytestmark = pytest.mark.usefixtures("one_thread")

# Label = the sentiment word; its position varies so that pooling must find it.
SENTENCES = [
    ("good the film", 1),
    ("the film good", 1),
    ("a good plot indeed", 1),
    ("plot good", 1),
    ("bad the film", 0),
    ("the film bad", 0),
    ("a bad plot indeed", 0),
    ("plot bad", 0),
]
WORDS = sorted({w for s, _ in SENTENCES for w in s.split()})
VOCAB = [*SPECIALS, *WORDS]


def tiny(cell: str = "lstm", *, bidirectional: bool = True) -> RecurrentConfig:
    return RecurrentConfig(
        cell=cell,
        emb_size=8,
        hidden_size=16,
        num_layers=1,
        dropout=0.0,
        bidirectional=bidirectional,
    )


def batch_of(sentences: list[tuple[str, int]]):  # noqa: ANN201 - a Batch
    ids = [[VOCAB.index(w) for w in s.split()] for s, _ in sentences]
    return pad_batch(ids, targets=[y for _, y in sentences])


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_every_pooling_and_cell_overfits(cell: str, pooling: str) -> None:
    torch.manual_seed(0)
    net = Classifier(len(VOCAB), 2, tiny(cell), pooling=pooling)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    batch = batch_of(SENTENCES)
    with torch.no_grad():
        first = float(net(batch))
    for _ in range(60):
        optimizer.zero_grad()
        loss = net(batch)
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < first / 5
    assert net.logits(batch).argmax(dim=-1).tolist() == [y for _, y in SENTENCES]


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_does_not_change_logits(pooling: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    net = Classifier(
        len(VOCAB), 2, tiny(bidirectional=bidirectional), pooling=pooling
    ).eval()
    short = SENTENCES[3:4]  # two words
    alone = net.logits(batch_of(short))
    padded = net.logits(batch_of([*short, SENTENCES[2]]))[:1]  # padded to four
    torch.testing.assert_close(alone, padded)


def test_unpacked_left_to_right_outputs_equal_packed_ones() -> None:
    """final_state=False skips packing for a unidirectional stack: same outputs."""
    torch.manual_seed(0)
    net = Classifier(len(VOCAB), 2, tiny(bidirectional=False)).eval()
    batch = batch_of(SENTENCES)
    packed, _ = net.encoder(batch.ids, batch.lengths)
    unpacked, state = net.encoder(batch.ids, batch.lengths, final_state=False)
    torch.testing.assert_close(packed, unpacked)
    assert state is None


def test_class_weights_weigh_the_loss_but_stay_out_of_the_state_dict() -> None:
    torch.manual_seed(0)
    plain = Classifier(len(VOCAB), 2, tiny())
    weighted = Classifier(len(VOCAB), 2, tiny(), class_weights=[1.0, 3.0])
    weighted.load_state_dict(plain.state_dict())
    assert set(plain.state_dict()) == set(weighted.state_dict())
    batch = batch_of(SENTENCES)
    with torch.no_grad():
        assert float(plain(batch)) != pytest.approx(float(weighted(batch)))


# --- transfer ----------------------------------------------------------------------
def write_table(path: Path) -> Path:
    lines = [f"{s}\t{'pos' if y else 'neg'}" for s, y in SENTENCES]
    path.write_text("text\tlabel\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def sentiment_cfg(tmp_path: Path, **overrides: object) -> SentimentConfig:
    data = write_table(tmp_path / "train.tsv")
    settings = {
        "train_path": str(data),
        "valid_path": str(data),
        "out": str(tmp_path / "clf.pt"),
        "model.emb_size": 8,
        "model.hidden_size": 16,
        "train.epochs": 1,
        "train.device": "cpu",
        # Far below float32's resolution (an lr of 0 is refused): the weights stay
        # as initialised, which is what the tests compare.
        "train.lr": 1e-30,
        **overrides,
    }
    return load_config(SentimentConfig, None, settings)


def save_lm(path: Path, *, reverse: bool = False) -> dict:
    """A language-model checkpoint as `train-lm` writes it (untrained weights)."""
    cfg = LMConfig(train_path="unused")
    cfg.model = RecurrentConfig(cell="gru", emb_size=6, hidden_size=10, num_layers=1)
    cfg.tokenizer.lowercase, cfg.tokenizer.reverse = True, reverse
    vocab = [*SPECIALS, "good", "film", "the", "unseen"]
    torch.manual_seed(3)
    network = LanguageModel(len(vocab), cfg.model)
    save_checkpoint(
        path,
        {
            "task": "lm",
            "config": to_dict(cfg),
            "vocab": {"tokens": vocab},
            "tokenizer": make_tokenizer(
                "word", lowercase=True, reverse=reverse
            ).to_dict(),
            "state_dict": network.state_dict(),
            "metrics": {},
        },
    )
    return network.state_dict()


def test_init_from_copies_the_language_model(tmp_path: Path) -> None:
    lm_state = save_lm(tmp_path / "lm.pt")
    cfg = sentiment_cfg(tmp_path, init_from=str(tmp_path / "lm.pt"), extend_vocab=True)
    outcome = train_sentiment(cfg)
    saved = load_checkpoint(outcome.path, task="sentiment")
    state = saved["state_dict"]
    lm_vocab = [*SPECIALS, "good", "film", "the", "unseen"]
    tokens = saved["vocab"]["tokens"]
    # The LM's vocabulary, then the training words it lacks (ids of LM words kept).
    assert tokens[: len(lm_vocab)] == lm_vocab
    assert set(tokens[len(lm_vocab) :]) == set(WORDS) - set(lm_vocab)
    assert saved["data"]["init_from"]["added"] == len(tokens) - len(lm_vocab)
    assert saved["config"]["model"]["cell"] == "gru"
    assert saved["config"]["model"]["hidden_size"] == 10
    emb, lm_emb = (
        state["encoder.embedding.weight"],
        lm_state["encoder.embedding.weight"],
    )
    torch.testing.assert_close(emb[: len(lm_vocab)], lm_emb)
    # Added words start at the mean of the LM's word vectors.
    mean = lm_emb[len(SPECIALS) :].mean(dim=0)
    torch.testing.assert_close(
        emb[len(lm_vocab) :], mean.expand(len(tokens) - len(lm_vocab), -1)
    )
    for name in ("rnn.weight_ih_l0", "rnn.weight_hh_l0"):
        torch.testing.assert_close(
            state[f"encoder.{name}"], lm_state[f"encoder.{name}"]
        )
    # The backward direction has no counterpart in a left-to-right LM.
    assert not torch.equal(
        state["encoder.rnn.weight_hh_l0_reverse"], lm_state["encoder.rnn.weight_hh_l0"]
    )
    copied = saved["data"]["init_from"]["copied"]
    assert {"embedding.weight", "rnn.weight_hh_l0"} <= set(copied)
    assert "rnn.weight_hh_l0_reverse" not in copied


def test_a_classifier_started_from_a_backward_lm_reads_backwards(
    tmp_path: Path,
) -> None:
    save_lm(tmp_path / "lm.pt", reverse=True)
    cfg = sentiment_cfg(tmp_path, init_from=str(tmp_path / "lm.pt"))
    model = load_classifier(train_sentiment(cfg).path)
    assert model.cfg.tokenizer.reverse and model.tokenizer.reverse
    stoi = model.vocab.stoi
    assert model.encode(["Good the FILM"]) == [
        [stoi["film"], stoi["the"], stoi["good"]]
    ]


def test_init_from_keeps_the_lm_vocabulary_by_default(tmp_path: Path) -> None:
    save_lm(tmp_path / "lm.pt")
    cfg = sentiment_cfg(tmp_path, init_from=str(tmp_path / "lm.pt"))
    saved = load_checkpoint(train_sentiment(cfg).path, task="sentiment")
    assert saved["vocab"]["tokens"] == [*SPECIALS, "good", "film", "the", "unseen"]
    assert saved["data"]["init_from"]["added"] == 0


def test_init_from_refuses_a_classifier_checkpoint(tmp_path: Path) -> None:
    first = train_sentiment(sentiment_cfg(tmp_path))
    from seqcli.errors import CheckpointError

    with pytest.raises(CheckpointError, match="needs an lm checkpoint"):
        train_sentiment(
            sentiment_cfg(
                tmp_path, init_from=str(first.path), out=str(tmp_path / "second.pt")
            )
        )


def test_embeddings_load_the_vectors_they_report(tmp_path: Path) -> None:
    vectors = {
        "good": [0.5] * 8,
        "film": [-0.25] * 8,
        "BAD": [1.0] * 8,
        "absent": [2.0] * 8,
    }
    path = tmp_path / "vectors.txt"
    path.write_text(
        "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()),
        encoding="utf-8",
    )
    cfg = sentiment_cfg(
        tmp_path, embeddings=str(path), freeze_embeddings=True, **{"train.lr": 0.05}
    )
    saved = load_checkpoint(train_sentiment(cfg).path)
    assert saved["data"]["embeddings"]["found"] == 3  # good, film, bad (lowercased)
    weight = saved["state_dict"]["encoder.embedding.weight"]
    tokens = saved["vocab"]["tokens"]
    for word, vector in (("good", 0.5), ("film", -0.25), ("bad", 1.0)):
        # Frozen: still exactly the file's vector after training.
        assert weight[tokens.index(word)].tolist() == [vector] * 8


def test_embeddings_of_the_wrong_size_are_refused(tmp_path: Path) -> None:
    from seqcli.errors import ConfigError

    path = tmp_path / "vectors.txt"
    path.write_text("good 1 2 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="pass --emb-size 3"):
        train_sentiment(sentiment_cfg(tmp_path, embeddings=str(path)))


def test_hold_out_is_stratified_seeded_and_keeps_file_order() -> None:
    from seqcli.readers import LabeledText
    from seqcli.tasks.sentiment_data import hold_out

    labels = ["a"] * 27 + ["b"] * 3 + ["c"]  # b is rare; c has one example only
    records = [LabeledText(i + 1, f"text {i}", lab) for i, lab in enumerate(labels)]
    train, valid = hold_out(records, 0.1, seed=1)
    assert sorted(r.label for r in valid) == ["a", "a", "a", "b"]
    assert {r.label for r in train} == {"a", "b", "c"}  # every label still trained
    assert len(train) + len(valid) == len(records)
    assert [r.lineno for r in valid] == sorted(r.lineno for r in valid)
    assert hold_out(records, 0.1, seed=1) == (train, valid)
    assert hold_out(records, 0.1, seed=2)[1] != valid
