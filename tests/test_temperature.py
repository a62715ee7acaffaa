"""Temperature scaling: fitting T on held-out scores (seqcli.temperature)."""

from __future__ import annotations

import pytest
import torch

from seqcli.errors import CheckpointError
from seqcli.temperature import UNCALIBRATED, calibration_of, fit_logits


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
