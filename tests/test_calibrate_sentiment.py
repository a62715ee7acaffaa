"""Temperature scaling of a trained classifier: train-sentiment --calibrate, the
stored temperature applied by classify and evaluate, old checkpoints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok
from test_cli_sentiment import TINY, invoke, make_rows, write_tsv

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.tasks.sentiment_inference import (
    classify,
    evaluate_calibration,
    load_classifier,
)
from seqcli.temperature import UNCALIBRATED

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["a good film", "the plot was bad", "the film", "fine awful", "a poor plot"]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("calibrated")
    files = {
        "train": write_tsv(folder / "train.tsv", make_rows(48, 1)),
        "valid": write_tsv(folder / "valid.tsv", make_rows(16, 2)),
        "test": write_tsv(folder / "test.tsv", make_rows(16, 3)),
    }
    out = folder / "clf.pt"
    result = invoke(
        "train-sentiment", files["train"], "--valid", files["valid"],
        "--epochs", "3", "-o", out, *TINY,
    )  # fmt: skip
    assert_ok(result)
    return {**files, "model": out, "folder": folder}


def _without_calibration(model: Path, out: Path) -> Path:
    """The checkpoint as seqcli saved it before calibration existed."""
    data = load_checkpoint(model)
    for key in ("calibration", "format", "format_version", "created", "digest"):
        data.pop(key, None)
    save_checkpoint(out, data)
    return out


def test_training_with_valid_stores_a_fitted_temperature(
    calibrated: dict[str, Path],
) -> None:
    stored = load_checkpoint(calibrated["model"])["calibration"]
    assert stored["temperature"] > 0
    assert stored["temperature"] != 1.0


def test_calibrated_model_keeps_labels_and_changes_probabilities(
    calibrated: dict[str, Path],
) -> None:
    model = load_classifier(calibrated["model"])
    raw = dataclasses.replace(model, calibration=UNCALIBRATED)
    scaled, plain = classify(model, TEXTS), classify(raw, TEXTS)
    assert scaled.labels == plain.labels
    changes = [abs(a[0] - b[0]) for a, b in zip(scaled.probs, plain.probs, strict=True)]
    assert max(changes) > 1e-4
    for row in scaled.probs:
        assert sum(row) == pytest.approx(1.0)
    # The CLI prints the calibrated probabilities.
    result = invoke(
        "classify", "-", "-m", calibrated["model"], "--json", "--probs",
        input="\n".join(TEXTS) + "\n",
    )  # fmt: skip
    assert_ok(result)
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["label"] for p in printed] == scaled.labels
    for record, probs in zip(printed, scaled.probs, strict=True):
        assert list(record["probs"].values()) == pytest.approx(probs, abs=1e-6)


def test_no_calibrate_stores_temperature_one(calibrated: dict[str, Path]) -> None:
    out = calibrated["folder"] / "plain.pt"
    result = invoke(
        "train-sentiment", calibrated["train"], "--valid", calibrated["valid"],
        "--epochs", "1", "--no-calibrate", "-o", out, *TINY,
    )  # fmt: skip
    assert_ok(result)
    assert load_classifier(out).calibration.temperature == 1.0


@pytest.mark.parametrize(("flag", "fitted"), [([], False), (["--calibrate"], True)])
def test_without_valid_calibration_is_asked_for(
    calibrated: dict[str, Path], flag: list[str], fitted: bool
) -> None:
    """On a held-out share of the training file, only --calibrate fits T."""
    out = calibrated["folder"] / f"held-out-{fitted}.pt"
    result = invoke(
        "train-sentiment", calibrated["train"], "--epochs", "1", *flag, "-o", out,
        *TINY,
    )  # fmt: skip
    assert_ok(result)
    assert ("calibration" in load_checkpoint(out)) is fitted


def test_an_old_checkpoint_loads_uncalibrated(
    calibrated: dict[str, Path], tmp_path: Path
) -> None:
    old = _without_calibration(calibrated["model"], tmp_path / "old.pt")
    assert load_classifier(old).calibration == UNCALIBRATED
    report, calibration = evaluate_calibration(load_classifier(old), calibrated["test"])
    assert calibration["calibrated"] == calibration["uncalibrated"]
    assert report.examples == 16


def test_evaluate_reports_ece_and_brier_before_and_after(
    calibrated: dict[str, Path], tmp_path: Path
) -> None:
    args = ("evaluate", calibrated["test"], "-m", calibrated["model"])
    result = invoke(*args, "--json")
    assert_ok(result)
    record = json.loads(result.stdout)["calibration"]
    stored = load_checkpoint(calibrated["model"])["calibration"]["temperature"]
    assert record["temperature"] == pytest.approx(stored)
    for name in ("uncalibrated", "calibrated"):
        assert 0 <= record[name]["ece"] <= 100
        assert 0 <= record[name]["brier"] <= 2
    assert record["calibrated"] != record["uncalibrated"]
    # An old checkpoint's two rows are the same (T = 1 both times).
    old = _without_calibration(calibrated["model"], tmp_path / "old.pt")
    again = json.loads(
        invoke("evaluate", calibrated["test"], "-m", old, "--json").stdout
    )
    assert again["calibration"]["calibrated"] == again["calibration"]["uncalibrated"]
    text = invoke(*args)
    assert_ok(text)
    assert "calibration (temperature" in text.stdout
    assert "uncalibrated" in text.stdout


def test_plot_reliability_writes_a_png(calibrated: dict[str, Path]) -> None:
    pytest.importorskip("matplotlib")
    picture = calibrated["folder"] / "reliability.png"
    result = invoke(
        "evaluate", calibrated["test"], "-m", calibrated["model"],
        "--plot-reliability", picture,
    )  # fmt: skip
    assert_ok(result)
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_plot_reliability_refuses_its_input_and_conlleval(
    calibrated: dict[str, Path], tmp_path: Path
) -> None:
    test = calibrated["test"]
    result = invoke(
        "evaluate", test, "-m", calibrated["model"], "--plot-reliability", test
    )
    assert_error(result, "--plot-reliability")
    columns = tmp_path / "columns.txt"
    columns.write_text("EU B-ORG B-ORG\nrejects O O\n", encoding="utf-8")
    picture = tmp_path / "x.png"
    result = invoke("evaluate", columns, "--conlleval", "--plot-reliability", picture)
    assert_error(result, "--plot-reliability", "only for classifiers and taggers")
    assert not picture.exists()


def test_info_shows_the_temperature(
    calibrated: dict[str, Path], tmp_path: Path
) -> None:
    stored = load_checkpoint(calibrated["model"])["calibration"]["temperature"]
    result = invoke("info", calibrated["model"], "--json")
    assert_ok(result)
    assert json.loads(result.stdout)["calibration"]["temperature"] == stored
    old = _without_calibration(calibrated["model"], tmp_path / "old.pt")
    assert json.loads(invoke("info", old, "--json").stdout)["calibration"] == {}
    assert "calibration: none" in invoke("info", old).stdout
