"""Temperature scaling: fitting T on held-out scores (seqcli.temperature)."""

from __future__ import annotations

import pytest
import torch

from seqcli.errors import CheckpointError
from seqcli.nn.tagger import scaled_nll
from seqcli.temperature import (
    UNCALIBRATED,
    calibration_of,
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


def test_old_checkpoints_read_as_uncalibrated() -> None:
    assert calibration_of({}) == UNCALIBRATED
    assert calibration_of({"calibration": {"temperature": 2}}).temperature == 2.0


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
