"""Temperature scaling of a trained tagger: fitted by train-ner, applied by
`tag --probs` and reported per token by `evaluate`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import assert_ok
from typer.testing import CliRunner

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.cli import app
from seqcli.tasks.ner_calibration import tagger_calibration
from seqcli.tasks.ner_inference import conll_sentences, load_tagger, tag
from seqcli.temperature import UNCALIBRATED

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tagger_stores_a_temperature_that_changes_probs_not_tags(
    ner_model: Path, ner_files: dict[str, Path]
) -> None:
    stored = load_checkpoint(ner_model)["calibration"]["temperature"]
    assert stored > 0 and stored != 1.0
    model = load_tagger(ner_model)
    assert model.calibration.temperature == stored
    raw = dataclasses.replace(model, calibration=UNCALIBRATED)
    sentences = conll_sentences(str(ner_files["test"]))
    scaled, plain = tag(model, sentences, probs=True), tag(raw, sentences, probs=True)
    assert [t.best.tags for t in scaled] == [t.best.tags for t in plain]
    changes = [
        abs(a - b)
        for s, p in zip(scaled, plain, strict=True)
        for a, b in zip(s.best.probs or [], p.best.probs or [], strict=True)
    ]
    assert max(changes) > 1e-4


def test_evaluate_reports_per_token_calibration(
    ner_model: Path, ner_files: dict[str, Path], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["evaluate", str(ner_files["test"]), "-m", str(ner_model), "--json"]
    )
    assert_ok(result)
    record = json.loads(result.stdout)
    tokens = record["metrics"]["tokens"]
    reports = tagger_calibration(load_tagger(ner_model), str(ner_files["test"]))
    assert reports["calibrated"].examples == tokens
    for name in ("uncalibrated", "calibrated"):
        assert record["calibration"][name]["ece"] == pytest.approx(reports[name].ece)
    # An old checkpoint (no calibration entry) reads as T = 1: both rows agree.
    data = load_checkpoint(ner_model)
    for key in ("calibration", "format", "format_version", "created", "digest"):
        data.pop(key, None)
    old = save_checkpoint(tmp_path / "old.pt", data)
    again = tagger_calibration(load_tagger(old), str(ner_files["test"]))
    assert again["calibrated"] == again["uncalibrated"]
    assert again["uncalibrated"] == reports["uncalibrated"]


def test_no_calibrate_and_the_reliability_diagram(
    ner_config, ner_files: dict[str, Path], tmp_path: Path
) -> None:
    from seqcli.tasks.ner import train_ner

    out = tmp_path / "plain.pt"
    train_ner(ner_config(out, calibrate=False, **{"train.epochs": 1}))
    assert "calibration" not in load_checkpoint(out)
    assert load_tagger(out).calibration == UNCALIBRATED
    pytest.importorskip("matplotlib")
    picture = tmp_path / "reliability.png"
    result = CliRunner().invoke(
        app,
        ["evaluate", str(ner_files["test"]), "-m", str(out),
         "--plot-reliability", str(picture)],
    )  # fmt: skip
    assert_ok(result)
    assert picture.read_bytes().startswith(b"\x89PNG")
