"""Temperature scaling: fitting T on held-out scores (seqcli.temperature)."""

from __future__ import annotations

import pytest
import torch

from seqcli.errors import CheckpointError
from seqcli.nn.tagger import scaled_nll
from seqcli.temperature import (
    UNCALIBRATED,
    Calibration,
    calibrated_logits,
    calibration_of,
    fit_binary_logits,
    fit_logits,
    fit_temperature,
)


@pytest.mark.parametrize("t0", [0.5, 2.5])
def test_fit_recovers_a_known_temperature(t0: float) -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 5, generator=generator) * 3  # (examples, classes)
    labels = torch.multinomial((logits / t0).softmax(-1), 1, generator=generator)
    fitted = fit_logits(logits, labels.squeeze(1)).temperature
    assert fitted == pytest.approx(t0, rel=0.08)


def _binary_labels(
    logits: torch.Tensor, t0: float, b0: float, generator: torch.Generator
) -> torch.Tensor:
    """Labels drawn with P(class 1) = sigmoid((z1 - z0) / t0 + b0)."""
    p1 = torch.sigmoid((logits[:, 1] - logits[:, 0]) / t0 + b0)
    return torch.bernoulli(p1, generator=generator).long()


@pytest.mark.parametrize(("t0", "b0"), [(0.5, 1.0), (2.5, -0.7), (1.0, 0.0)])
def test_fit_recovers_a_known_bias_and_temperature(t0: float, b0: float) -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 2, generator=generator) * 3  # (examples, classes)
    labels = _binary_labels(logits, t0, b0, generator)
    fitted = fit_binary_logits(logits, labels)
    assert fitted.temperature == pytest.approx(t0, rel=0.08)
    assert fitted.bias == pytest.approx(b0, abs=0.12)


def test_a_temperature_fitted_alone_soaks_up_an_off_centre_model() -> None:
    """Why T and b are fitted together: T alone comes out too large."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 2, generator=generator) * 3
    labels = _binary_labels(logits, 0.5, 1.0, generator)
    joint = fit_binary_logits(logits, labels).temperature
    alone = fit_logits(logits, labels).temperature
    assert abs(joint - 0.5) < abs(alone - 0.5)
    assert alone > 0.5


def test_a_one_class_validation_set_gives_a_bounded_bias() -> None:
    logits = torch.randn(50, 2, generator=torch.Generator().manual_seed(2))
    fitted = fit_binary_logits(logits, torch.ones(50, dtype=torch.long))
    assert 0 < fitted.bias <= 10.0
    assert 0 < fitted.temperature < float("inf")


def test_calibrated_logits_shift_the_second_class_of_two() -> None:
    logits = torch.tensor([[0.5, 1.5], [2.0, -1.0]])  # (examples, classes)
    scaled = calibrated_logits(logits, 2.0, 0.3).softmax(-1)
    expected = torch.sigmoid((logits[:, 1] - logits[:, 0]) / 2.0 + 0.3)
    assert scaled[:, 1].tolist() == pytest.approx(expected.tolist())
    three = torch.randn(4, 3)
    assert torch.equal(calibrated_logits(three, 2.0), three / 2.0)


def test_old_checkpoints_read_as_uncalibrated() -> None:
    assert calibration_of({}) == UNCALIBRATED
    assert calibration_of({"calibration": {"temperature": 2}}).temperature == 2.0
    # Calibrated before the bias existed: b = 0; and the entry round-trips.
    assert calibration_of({"calibration": {"temperature": 2.0}}).bias == 0.0
    entry = Calibration(1.5, -0.25).to_dict()
    assert entry == {"temperature": 1.5, "bias": -0.25}
    assert calibration_of({"calibration": entry}) == Calibration(1.5, -0.25)
    assert Calibration(1.5).to_dict() == {"temperature": 1.5}


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), "0.5", True, None])
def test_a_damaged_bias_is_refused(bad: object) -> None:
    stored = {"calibration": {"temperature": 1.0, "bias": bad}}
    with pytest.raises(CheckpointError, match="m.pt: .*calibration.bias"):
        calibration_of(stored, source="m.pt")


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "2", True, None])
def test_a_damaged_temperature_is_refused(bad: object) -> None:
    with pytest.raises(CheckpointError, match="calibration.temperature"):
        calibration_of({"calibration": {"temperature": bad}}, source="m.pt")


def test_a_softmax_taggers_temperature_is_recovered_over_real_tokens() -> None:
    """Padded positions hold tags that would pull T away; the mask keeps them out."""
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(200, 12, 6, generator=generator) * 3  # (batch, time, tags)
    probs = (scores / 2.0).softmax(-1).reshape(-1, 6)
    tags = torch.multinomial(probs, 1, generator=generator).reshape(200, 12)
    lengths = torch.randint(1, 13, (200,), generator=generator)
    mask = torch.arange(12) < lengths.unsqueeze(1)  # (batch, time)
    tags = tags.masked_fill(~mask, 0)  # padding says "tag 0", a wrong signal

    def nll(t: torch.Tensor) -> torch.Tensor:
        return scaled_nll(scores, tags, mask, None, t)

    assert fit_temperature(nll) == pytest.approx(2.0, rel=0.1)
