"""The recurrent backbone: every cell, both directions, and padding invariance."""

from __future__ import annotations

import pytest
import torch

from seqcli.batching import pad_batch
from seqcli.config import RecurrentConfig
from seqcli.nn.recurrent import (
    RecurrentEncoder,
    count_parameters,
    detach_state,
    select_state,
)
from seqcli.vocab import PAD_ID

VOCAB = 20
CELLS = ["rnn", "gru", "lstm"]


def encoder(cell: str, *, bidirectional: bool = False, layers: int = 1):
    torch.manual_seed(0)
    cfg = RecurrentConfig(
        cell=cell,
        emb_size=8,
        hidden_size=16,
        num_layers=layers,
        dropout=0.0,
        bidirectional=bidirectional,
    )
    return RecurrentEncoder(VOCAB, cfg).eval()


def hidden_of(state):
    return state[0] if isinstance(state, tuple) else state


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes(cell: str, bidirectional: bool):
    enc = encoder(cell, bidirectional=bidirectional, layers=2)
    directions = 2 if bidirectional else 1
    assert enc.output_size == 16 * directions
    batch = pad_batch([[1, 2, 3, 4], [5, 6]])
    outputs, state = enc(batch.ids, batch.lengths)
    assert outputs.shape == (2, 4, 16 * directions)
    assert hidden_of(state).shape == (2 * directions, 2, 16)
    assert isinstance(state, tuple) == (cell == "lstm")
    # Unpacked (full rows) too.
    outputs, _ = enc(batch.ids)
    assert outputs.shape == (2, 4, 16 * directions)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_real_positions(cell: str, bidirectional: bool):
    enc = encoder(cell, bidirectional=bidirectional)
    short, long = [3, 4, 5], [6, 7, 8, 9, 10, 11]
    with torch.no_grad():
        alone, alone_state = enc(torch.tensor([short]), torch.tensor([len(short)]))
        batch = pad_batch([long, short])
        padded, padded_state = enc(batch.ids, batch.lengths)
    assert torch.allclose(padded[1, : len(short)], alone[0], atol=1e-6)
    # Outputs at padding are exactly zero, and the final state is the last real one.
    assert (padded[1, len(short) :] == 0).all()
    # atol as above: a batch of one and of two take different kernels on some CPUs.
    assert torch.allclose(
        hidden_of(padded_state)[:, 1], hidden_of(alone_state)[:, 0], atol=1e-6
    )


def test_final_state_equals_last_real_output():
    enc = encoder("gru")
    batch = pad_batch([[1, 2, 3, 4, 5], [6, 7]])
    with torch.no_grad():
        outputs, state = enc(batch.ids, batch.lengths)
    for row, length in enumerate(batch.lengths.tolist()):
        assert torch.allclose(outputs[row, length - 1], state[-1, row])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_unpacked_outputs_and_gradients_equal_packed_ones(
    cell: str, bidirectional: bool, layers: int
):
    """final_state=False skips packing (the backward direction reads each row
    reversed): outputs and gradients must be those of the packed path."""
    enc = encoder(cell, bidirectional=bidirectional, layers=layers)
    batch = pad_batch([[1, 2, 3, 4, 5, 6], [7, 8], [9], [10, 11, 12, 13]])
    packed, _ = enc(batch.ids, batch.lengths)
    unpacked, state = enc(batch.ids, batch.lengths, final_state=False)
    torch.testing.assert_close(unpacked, packed)
    assert state is None
    params = list(enc.parameters())
    grads_packed = torch.autograd.grad(packed.pow(2).sum(), params)
    grads_unpacked = torch.autograd.grad(unpacked.pow(2).sum(), params)
    for got, want in zip(grads_unpacked, grads_packed, strict=True):
        torch.testing.assert_close(got, want)
    assert set(enc.state_dict()) == {n for n, _ in enc.named_parameters()}


def test_pad_embedding_is_zero():
    enc = encoder("lstm")
    assert (enc.embedding.weight[PAD_ID] == 0).all()
    assert enc.embedding.padding_idx == PAD_ID


def test_state_continues_across_calls():
    enc = encoder("lstm")
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        whole, _ = enc(ids)
        first, state = enc(ids[:, :3])
        second, _ = enc(ids[:, 3:], None, state)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)


def test_detach_and_select_state():
    enc = encoder("lstm")
    _, state = enc(torch.tensor([[1, 2], [3, 4], [5, 6]]))
    detached = detach_state(state)
    assert all(not s.requires_grad for s in detached)
    assert detach_state(None) is None
    picked = select_state(state, torch.tensor([2, 0]))
    assert torch.equal(picked[0][:, 0], state[0][:, 2])
    assert picked[1].shape == (1, 2, 16)
    gru_state = encoder("gru")(torch.tensor([[1], [2]]))[1]
    assert torch.equal(
        select_state(gru_state, torch.tensor([1]))[:, 0], gru_state[:, 1]
    )


def test_count_parameters_counts_tied_weights_once():
    enc = encoder("gru")
    total = sum(p.numel() for p in enc.parameters())
    assert count_parameters(enc) == total
    module = torch.nn.Sequential(enc.embedding, torch.nn.Linear(8, VOCAB))
    module[1].weight = enc.embedding.weight
    assert count_parameters(module) == VOCAB * 8 + VOCAB


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_step_equals_forward_on_one_token(cell: str, layers: int):
    enc = encoder(cell, layers=layers)
    ids = torch.tensor([[3, 7, 1], [5, 2, 9]])  # (batch, time)
    expected, expected_state = enc(ids)
    state = None
    for t in range(ids.size(1)):
        out, state = enc.step(ids[:, t], state)
        assert torch.allclose(out, expected[:, t], atol=1e-6)
    for got, want in zip(
        state if cell == "lstm" else (state,),
        expected_state if cell == "lstm" else (expected_state,),
        strict=True,
    ):
        assert torch.allclose(got, want, atol=1e-6)


def test_locked_dropout_keeps_one_mask_per_sequence() -> None:
    from seqcli.nn.recurrent import LockedDropout

    torch.manual_seed(0)
    drop = LockedDropout(0.5).train()
    out = drop(torch.ones(8, 7, 16))
    assert torch.equal(out, out[:, :1].expand_as(out))  # the same at every step
    assert set(out.unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1/keep
    flat = drop(torch.ones(64, 16))  # no time axis: a mask per element
    assert not torch.equal(flat, flat[:1].expand_as(flat))
    x = torch.randn(2, 3, 4)
    assert torch.equal(drop.eval()(x), x)  # off at inference


def test_the_lm_backbone_uses_locked_dropout_and_others_keep_nn_dropout() -> None:
    from seqcli.config import LMConfig, RecurrentConfig
    from seqcli.nn.recurrent import LockedDropout, RecurrentEncoder

    assert isinstance(RecurrentEncoder(10, LMConfig().model).dropout, LockedDropout)
    plain = RecurrentEncoder(10, RecurrentConfig()).dropout
    assert isinstance(plain, torch.nn.Dropout)
