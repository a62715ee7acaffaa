"""The encoder-decoder: teacher forcing and stepping agree, padding is ignored,
and a tiny model learns to reverse its input (then greedy and beam search agree)."""

from __future__ import annotations

import random

import pytest
import torch

from seqcli.batching import pad_parallel
from seqcli.config import RecurrentConfig
from seqcli.decoding import beam_search, greedy
from seqcli.nn.seq2seq import ATTENTIONS, Seq2Seq
from seqcli.tasks.translation import decode_ids
from seqcli.vocab import BOS_ID, EOS_ID, PAD_ID

CFG = RecurrentConfig(cell="gru", emb_size=16, hidden_size=32, num_layers=1, dropout=0)
VARIANTS = [(a, False) for a in ATTENTIONS] + [("general", True), ("dot", True)]


def _net(attention: str, feeding: bool, cell: str = "gru", **kw) -> Seq2Seq:
    torch.manual_seed(0)
    cfg = RecurrentConfig(**{**CFG.__dict__, "cell": cell})
    return Seq2Seq(12, 11, cfg, attention=attention, input_feeding=feeding, **kw).eval()


def _batch():
    sources = [[4, 5, 6, 7], [8, 9], [10, 4, 5]]
    outputs = [[4, 4, 5], [6], [7, 8, 9, 10]]
    return pad_parallel(sources, outputs)


@pytest.mark.parametrize(("attention", "feeding"), VARIANTS)
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_stepping_equals_teacher_forcing(
    attention: str, feeding: bool, cell: str
) -> None:
    net, batch = _net(attention, feeding, cell), _batch()
    with torch.no_grad():
        logits, weights = net.teacher_forced(batch)
        state = net.start(batch.ids, batch.lengths)
        for t in range(batch.decoder_ids.size(1)):
            log_probs, state = net.step(batch.decoder_ids[:, t], state)
            assert torch.allclose(log_probs, logits[:, t].log_softmax(-1), atol=1e-5)
            assert torch.allclose(state.attention, weights[:, t], atol=1e-6)
    # Attention never looks at source padding, and each row sums to one.
    assert torch.all(weights[1, :, 2:] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:2]))


def test_source_padding_changes_nothing() -> None:
    net = _net("general", True)
    alone = pad_parallel([[8, 9]], [[6, 7]])
    padded = pad_parallel([[8, 9], [4, 5, 6, 7, 8, 9]], [[6, 7], [4]])
    with torch.no_grad():
        a = net.sequence_log_probs(alone)[0]
        b = net.sequence_log_probs(padded)[0]
    assert torch.allclose(a, b, atol=1e-5)


def test_tied_embeddings_share_the_weight() -> None:
    net = _net("dot", False, tie_embeddings=True)
    assert net.output.weight is net.embedding.weight
    assert net(_batch()).item() > 0


def _reverse_task(n: int, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    rng = random.Random(seed)
    sources = [[rng.randint(4, 9) for _ in range(rng.randint(2, 4))] for _ in range(n)]
    return sources, [s[::-1] for s in sources]


def test_a_tiny_model_learns_to_reverse() -> None:
    torch.manual_seed(0)
    cfg = RecurrentConfig(
        cell="gru", emb_size=32, hidden_size=64, num_layers=1, dropout=0
    )
    net = Seq2Seq(10, 10, cfg, attention="general", input_feeding=False)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sources, outputs = _reverse_task(512, seed=1)
    # Clipped, as training clips: unclipped, an early spike sent the 1-thread run to
    # 25/50 right and the 2-thread run to 45 (floating-point order decides).
    for step in range(400):
        rows = range((step * 32) % 512, (step * 32) % 512 + 32)
        loss = net(pad_parallel([sources[i] for i in rows], [outputs[i] for i in rows]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    net.eval()
    test_src, test_out = _reverse_task(50, seed=2)
    batch = pad_parallel(test_src, test_out)
    bos = torch.full((50,), BOS_ID)
    with torch.no_grad():
        found = greedy(net, net.start(batch.ids, batch.lengths), bos, max_len=8)
        beams = beam_search(
            net,
            net.start(batch.ids, batch.lengths),
            bos,
            beam_size=4,
            max_len=[8] * 50,
            banned_ids=(PAD_ID, BOS_ID),
        )
    right = sum(ids == [*y, EOS_ID] for ids, y in zip(found, test_out, strict=True))
    assert right >= 45
    right_beam = sum(h[0].ids == y for h, y in zip(beams, test_out, strict=True))
    assert right_beam >= right - 2


@pytest.mark.parametrize(
    ("attention", "feeding", "cell"),
    [("bahdanau", False, "gru"), ("general", True, "lstm"), ("dot", False, "gru")],
)
def test_batched_beam_search_equals_one_sentence_at_a_time(
    attention: str, feeding: bool, cell: str
) -> None:
    # A random network in float64 (so that batching cannot move a score by a
    # rounding), 600 target words (the chunked candidate search), sources of many
    # lengths (so sentences leave the batch at different steps).
    torch.manual_seed(0)
    cfg = RecurrentConfig(**{**CFG.__dict__, "cell": cell, "num_layers": 2})
    net = Seq2Seq(12, 600, cfg, attention=attention, input_feeding=feeding)
    net = net.double().eval()
    rng = random.Random(3)
    sources = [[rng.randint(4, 11) for _ in range(rng.randint(1, 7))] for _ in range(9)]
    kw = {"beam": 3, "n_best": 3, "alpha": 0.6, "max_len_ratio": 0.5}
    together = decode_ids(net, sources, batch_size=9, **kw)
    for source, hyps in zip(sources, together, strict=True):
        (alone,) = decode_ids(net, [source], batch_size=1, **kw)
        assert [h.ids for h in hyps] == [h.ids for h in alone]
        assert [h.log_prob for h in hyps] == pytest.approx([h.log_prob for h in alone])
