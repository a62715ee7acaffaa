"""The tagger network: padding is ignored, both decoders train, and character and
casing features tag words never seen in training."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from seqcli.batching import pad_tagged
from seqcli.config import RecurrentConfig
from seqcli.nn.crf import bioes_transitions
from seqcli.nn.tagger import Tagger, TaggerEnsemble
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


# --- ensembles ---------------------------------------------------------------------
def _crf_tagger(seed: int) -> Tagger:
    torch.manual_seed(seed)
    labels = ["O", "S-PER", "B-PER", "E-PER"]
    net = Tagger(30, 4, CFG, char_vocab=70, allowed=bioes_transitions(labels)).eval()
    with torch.no_grad():  # untrained transitions are all zero: give them values
        for p in net.crf.parameters():
            p.normal_()
    return net


def _permuted(net: Tagger, order: list[int]) -> Tagger:
    """The same tagger with its tags listed in another order: its tag j is the
    original's tag order[j]."""
    other = _crf_tagger(0)
    other.load_state_dict(net.state_dict())
    index = torch.tensor(order)
    with torch.no_grad():
        other.output.weight.copy_(net.output.weight[index])
        other.output.bias.copy_(net.output.bias[index])
        other.crf.transitions.copy_(net.crf.transitions[index][:, index])
        other.crf.start.copy_(net.crf.start[index])
        other.crf.end.copy_(net.crf.end[index])
        k = len(order)
        full = torch.cat([index, torch.tensor([k, k + 1])])
        other.crf.penalty = net.crf.penalty[full][:, full].clone()
    return other


def test_an_ensemble_scores_every_path_by_its_members_mean() -> None:
    a, b = _crf_tagger(1), _crf_tagger(2)
    ensemble = TaggerEnsemble([a, b], [[0, 1, 2, 3], [0, 1, 2, 3]]).eval()
    batch = _sentences([["Ann", "met", "Bo"]])
    mask = batch.mask
    paths = list(itertools.product(range(4), repeat=3))

    def mean_score(path: tuple[int, ...]) -> float:
        tags = torch.tensor([path])
        return float(
            sum(m.crf.score(m.emissions(batch), tags, mask) for m in (a, b)) / 2
        )

    with torch.no_grad():
        scores = {p: mean_score(p) for p in paths}
    ranked = sorted(scores.values(), reverse=True)
    best = ensemble.decode(batch, k=3)[0]
    assert [s for s, _ in best] == pytest.approx(ranked[:3], abs=1e-4)
    for score, path in best:
        assert scores[tuple(path)] == pytest.approx(score, abs=1e-4)


def test_an_ensemble_of_one_is_its_member_and_tag_order_does_not_matter() -> None:
    a, b = _crf_tagger(1), _crf_tagger(2)
    batch = _sentences([["Ann", "met", "Bo", "today"], ["Carl", "Dee"]])
    alone = TaggerEnsemble([a], [[0, 1, 2, 3]]).eval()
    assert alone.decode(batch, k=2) == a.decode(batch, k=2)
    order = [2, 0, 3, 1]  # b's tags listed as B-PER, O, E-PER, S-PER
    shuffled = _permuted(b, order)
    back = [order.index(j) for j in range(4)]  # where each of a's tags is in it
    same = TaggerEnsemble([a, b], [[0, 1, 2, 3], [0, 1, 2, 3]]).eval()
    mixed = TaggerEnsemble([a, shuffled], [[0, 1, 2, 3], back]).eval()
    for (s1, p1), (s2, p2) in zip(
        same.decode(batch, k=3)[0], mixed.decode(batch, k=3)[0], strict=True
    ):
        assert p1 == p2 and s1 == pytest.approx(s2, abs=1e-4)
    assert torch.allclose(same.marginals(batch), mixed.marginals(batch), atol=1e-5)


def test_an_ensemble_of_softmax_taggers_averages_log_probabilities() -> None:
    torch.manual_seed(3)
    a = Tagger(30, 2, CFG, char_vocab=70, decoder="softmax").eval()
    b = Tagger(30, 2, CFG, char_vocab=70, decoder="softmax").eval()
    batch = _sentences([["Ann", "met", "Bo"]])
    mean = (a.emissions(batch).log_softmax(-1) + b.emissions(batch).log_softmax(-1)) / 2
    ensemble = TaggerEnsemble([a, b], [[0, 1], [0, 1]]).eval()
    _, path = ensemble.decode(batch)[0][0]
    assert path == mean[0].argmax(-1).tolist()
    with pytest.raises(ValueError, match="CRF"):
        TaggerEnsemble([a, _crf_tagger(1)], [[0, 1], [0, 1, 2, 3]])
