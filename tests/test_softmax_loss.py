"""`linear_nll` against `F.cross_entropy(F.linear(...))`, and `AdaptiveSoftmax`
against PyTorch's adaptive softmax: values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqcli.nn import softmax_loss
from seqcli.nn.softmax_loss import AdaptiveSoftmax, linear_nll, padded_rows


def _inputs(rows: int, vocab: int = 50, size: int = 8) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    hidden = torch.randn(rows, size, requires_grad=True)
    weight = torch.randn(vocab, size, requires_grad=True)
    bias = torch.randn(vocab, requires_grad=True)
    targets = torch.randint(0, vocab, (rows,))
    return hidden, weight, bias, targets


def _loss_and_grads(fn, hidden, weight, bias, targets, scale):  # noqa: ANN001, ANN202
    for x in (hidden, weight, bias):
        x.grad = None
    nll = fn(hidden, weight, bias, targets)
    (nll * scale).sum().backward()  # uneven weights per row, as a mask makes
    return nll.detach(), [x.grad.clone() for x in (hidden, weight, bias)]


def _reference(hidden, weight, bias, targets):  # noqa: ANN001, ANN202
    return F.cross_entropy(F.linear(hidden, weight, bias), targets, reduction="none")


@pytest.mark.parametrize("rows", [1, 7, 300])  # less than, not a multiple of, a block
def test_values_and_gradients_equal_cross_entropy(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(softmax_loss, "ROWS_PER_BLOCK", 64)
    inputs = _inputs(rows)
    scale = torch.rand(rows)
    want, want_grads = _loss_and_grads(_reference, *inputs, scale)
    got, got_grads = _loss_and_grads(linear_nll, *inputs, scale)
    torch.testing.assert_close(got, want)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w)


def test_without_grad_it_returns_the_same_loss() -> None:
    hidden, weight, bias, targets = _inputs(20)
    with torch.no_grad():
        got = linear_nll(hidden, weight, bias, targets)
    torch.testing.assert_close(got, _reference(hidden, weight, bias, targets).detach())


def test_under_bf16_autocast_it_stays_close_and_gradients_are_fp32() -> None:
    inputs = _inputs(40)
    scale = torch.ones(40)
    want, want_grads = _loss_and_grads(_reference, *inputs, scale)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, got_grads = _loss_and_grads(linear_nll, *inputs, scale)
    assert got.dtype == torch.float32
    assert all(g.dtype == torch.float32 for g in got_grads)
    torch.testing.assert_close(got, want, atol=0.1, rtol=0.02)
    for g, w in zip(got_grads, want_grads, strict=True):
        cosine = F.cosine_similarity(g.flatten(), w.flatten(), dim=0)
        assert cosine > 0.999


def _adaptive(rows: int) -> tuple[AdaptiveSoftmax, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    layer = AdaptiveSoftmax(8, 60, [10, 30], div_value=2.0)
    hidden = torch.randn(rows, 8, requires_grad=True)
    targets = torch.randint(0, 60, (rows,))
    targets[:2] = torch.tensor([59, 15])  # both clusters, the last id among them
    return layer, hidden, targets


def _grads(layer: AdaptiveSoftmax, hidden: torch.Tensor) -> list[torch.Tensor]:
    return [hidden.grad.clone()] + [p.grad.clone() for p in layer.parameters()]


@pytest.mark.parametrize("rows", [2, 9, 70])  # tails padded to 8, 16, 24-48 rows
def test_adaptive_softmax_equals_pytorchs_with_its_rows_padded(rows: int) -> None:
    layer, hidden, targets = _adaptive(rows)
    scale = torch.rand(rows)
    want = layer(hidden, targets).output
    (want * scale).sum().backward()
    want_grads = _grads(layer, hidden)
    layer.zero_grad()
    hidden.grad = None
    got = layer.target_log_probs(hidden, targets)
    (got * scale).sum().backward()
    torch.testing.assert_close(got, want)
    for g, w in zip(_grads(layer, hidden), want_grads, strict=True):
        torch.testing.assert_close(g, w)


def test_adaptive_softmax_pads_tail_rows_to_few_sizes() -> None:
    layer, hidden, targets = _adaptive(200)
    seen: list[int] = []
    layer.tail[0].register_forward_hook(lambda m, inp, out: seen.append(len(inp[0])))
    with torch.no_grad():
        layer.target_log_probs(hidden, targets)
    in_tail = int(((targets >= 10) & (targets < 30)).sum())
    assert seen == [padded_rows(in_tail)] and seen[0] > in_tail


def test_padded_rows_gives_four_sizes_per_doubling_at_most_a_quarter_more() -> None:
    sizes = {padded_rows(n) for n in range(129, 257)}
    assert sizes == {160, 192, 224, 256}
    assert all(n <= padded_rows(n) <= 1.25 * n for n in range(32, 5000))
    assert {padded_rows(n) for n in range(1, 9)} == {8}


def test_adaptive_softmax_under_bf16_autocast_returns_fp32_close_values() -> None:
    layer, hidden, targets = _adaptive(70)
    want = layer(hidden, targets).output.detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = layer.target_log_probs(hidden, targets)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.detach(), want, atol=0.1, rtol=0.02)
