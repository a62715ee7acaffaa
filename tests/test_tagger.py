"""The tagger network: padding is ignored, both decoders train, and character and
casing features tag words never seen in training."""

from __future__ import annotations

import random

import pytest
import torch

from seqcli.batching import pad_tagged
from seqcli.config import RecurrentConfig
from seqcli.nn.crf import bioes_transitions
from seqcli.nn.tagger import Tagger
from seqcli.vocab import CASINGS, casing_id

CFG = RecurrentConfig(
    cell="lstm",
    emb_size=8,
    hidden_size=16,
    num_layers=1,
    dropout=0.0,
    bidirectional=True,
)
LABELS = ["O", "S-PER"]


KNOWN = ["the", "saw", "and", "met", "today", "there", "Ann", "Bo", "Carl", "Dee"]


def _sentences(words: list[list[str]], tags: list[list[int]] | None = None):
    # Words outside KNOWN read as <unk> (id 1), as unseen words do.
    word_ids = [[4 + KNOWN.index(w) if w in KNOWN else 1 for w in s] for s in words]
    chars = [[[4 + (ord(c) % 60) for c in w] for w in s] for s in words]
    casing = [[casing_id(w) for w in s] for s in words]
    return pad_tagged(word_ids, chars, casing, tags)


@pytest.mark.parametrize("char_features", ["cnn", "lstm", "none"])
@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_padding_changes_nothing(char_features: str, decoder: str) -> None:
    torch.manual_seed(0)
    net = Tagger(
        30, 2, CFG, char_vocab=70, char_features=char_features, decoder=decoder
    ).eval()
    alone = _sentences([["Ann", "sees", "Bo"]])
    padded = _sentences([["Ann", "sees", "Bo"], ["a", "much", "longer", "line", "x"]])
    a, b = net.emissions(alone)[0], net.emissions(padded)[0, :3]
    assert torch.allclose(a, b, atol=1e-5)
    (score_a, path_a), (score_b, path_b) = (
        net.decode(alone)[0][0],
        net.decode(padded)[0][0],
    )
    assert path_a == path_b and score_a == pytest.approx(score_b, abs=1e-5)
    marg = net.marginals(padded)
    assert torch.allclose(marg[1].sum(-1), torch.ones(5), atol=1e-5)


def test_casing_categories() -> None:
    names = {
        w: CASINGS[casing_id(w)]
        for w in ["1984", "10-21", "bank", "EU", "Paris", "F1", "iPhone"]
    }
    assert names == {
        "1984": "numeric",
        "10-21": "mostly_numeric",
        "bank": "lower",
        "EU": "upper",
        "Paris": "title",
        "F1": "has_digit",
        "iPhone": "other",
    }


def _toy(
    n: int, seed: int, names: list[str], filler: list[str]
) -> tuple[list[list[str]], list[list[int]]]:
    rng = random.Random(seed)
    words, tags = [], []
    for _ in range(n):
        s = [rng.choice(filler + names) for _ in range(rng.randint(3, 6))]
        words.append(s)
        tags.append([1 if w[0].isupper() else 0 for w in s])
    return words, tags


@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_features_tag_unseen_words(decoder: str) -> None:
    torch.manual_seed(0)
    net = Tagger(
        30,
        2,
        CFG,
        char_vocab=70,
        char_features="cnn",
        decoder=decoder,
        allowed=bioes_transitions(LABELS) if decoder == "crf" else None,
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    # Some words of each kind are outside the vocabulary (<unk>), so <unk> alone
    # does not tell a name: the casing and the characters must.
    words, tags = _toy(
        200, 1, ["Ann", "Bo", "Carl", "Dee", "Hal", "Ida"], [*KNOWN[:6], "over", "up"]
    )
    for step in range(60):
        rows = range((step * 20) % 200, (step * 20) % 200 + 20)
        loss = net(_sentences([words[i] for i in rows], [tags[i] for i in rows]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    # Words never seen in training, of both kinds (made of letters it has seen).
    test_words, test_tags = _toy(30, 2, ["Dan", "Cal", "Hana"], ["the", "tone", "sped"])
    predicted = [best[0][1] for best in net.decode(_sentences(test_words))]
    right = sum(p == t for p, t in zip(predicted, test_tags, strict=True))
    assert right >= 27, (predicted[:5], test_tags[:5])
