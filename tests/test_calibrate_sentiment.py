"""Temperature scaling of a trained classifier: train-sentiment --calibrate, the
stored temperature (and a two-class classifier's bias) applied by classify and
evaluate, old checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_error, assert_ok
from test_cli_sentiment import (
    FILLER,
    TINY,
    TINY_NOTES,
    invoke,
    make_rows,
    write_tsv,
)

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.tasks.sentiment_data import Examples
from seqcli.tasks.sentiment_inference import (
    classify,
    evaluate_calibration,
    load_classifier,
)
from seqcli.temperature import UNCALIBRATED, Calibration

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
    return _with_calibration(model, out, None)


def _with_calibration(model: Path, out: Path, entry: dict[str, Any] | None) -> Path:
    """The checkpoint with `entry` as its calibration (None: without one)."""
    data = load_checkpoint(model)
    for key in ("calibration", "format", "format_version", "created", "digest"):
        data.pop(key, None)
    if entry is not None:
        data["calibration"] = entry
    save_checkpoint(out, data)
    return out


def test_training_with_valid_stores_a_fitted_temperature(
    calibrated: dict[str, Path],
) -> None:
    stored = load_checkpoint(calibrated["model"])["calibration"]
    assert stored["temperature"] > 0
    assert stored["temperature"] != 1.0


def test_a_temperature_keeps_labels_and_changes_probabilities(
    calibrated: dict[str, Path],
) -> None:
    model = load_classifier(calibrated["model"])
    t_only = Calibration(model.calibration.temperature)
    scaled = classify(dataclasses.replace(model, calibration=t_only), TEXTS)
    plain = classify(dataclasses.replace(model, calibration=UNCALIBRATED), TEXTS)
    assert scaled.labels == plain.labels
    changes = [abs(a[0] - b[0]) for a, b in zip(scaled.probs, plain.probs, strict=True)]
    assert max(changes) > 1e-4
    for row in scaled.probs:
        assert sum(row) == pytest.approx(1.0)


def test_classify_prints_the_calibrated_labels_and_probabilities(
    calibrated: dict[str, Path],
) -> None:
    scaled = classify(load_classifier(calibrated["model"]), TEXTS)
    _assert_classify_prints(calibrated["model"], scaled)


def test_a_binary_classifier_stores_a_bias_beside_its_temperature(
    calibrated: dict[str, Path],
) -> None:
    stored = load_checkpoint(calibrated["model"])["calibration"]
    assert set(stored) == {"temperature", "bias"}
    assert isinstance(stored["bias"], float) and math.isfinite(stored["bias"])
    loaded = load_classifier(calibrated["model"]).calibration
    assert loaded == Calibration(stored["temperature"], stored["bias"])


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


@pytest.mark.parametrize("bias", [1.5, -2.0])
def test_a_stored_bias_shifts_the_second_class_logit(
    calibrated: dict[str, Path], tmp_path: Path, bias: float
) -> None:
    """P(second) = sigmoid(logit difference / T + b), in the API and in classify."""
    model = calibrated["model"]
    t_only = _with_calibration(model, tmp_path / "a.pt", {"temperature": 2.0})
    plain = classify(load_classifier(t_only), TEXTS)
    shifted_path = _with_calibration(
        model, tmp_path / "b.pt", {"temperature": 2.0, "bias": bias}
    )
    shifted = classify(load_classifier(shifted_path), TEXTS)
    for before, after in zip(plain.probs, shifted.probs, strict=True):
        assert _logit(after[1]) == pytest.approx(_logit(before[1]) + bias, abs=1e-4)
    _assert_classify_prints(shifted_path, shifted)


@pytest.mark.parametrize("side", [0, 1])
def test_a_large_bias_moves_every_decision_to_one_class(
    calibrated: dict[str, Path], tmp_path: Path, side: int
) -> None:
    entry = {"temperature": 1.0, "bias": 1e4 if side else -1e4}
    model = load_classifier(
        _with_calibration(calibrated["model"], tmp_path / "m.pt", entry)
    )
    result = classify(model, TEXTS)
    assert set(result.labels) == {model.labels.itos[side]}


def test_a_checkpoint_without_a_bias_reads_as_bias_zero(
    calibrated: dict[str, Path], tmp_path: Path
) -> None:
    """A checkpoint calibrated before the bias existed: T alone, labels as at T = 1."""
    old = _with_calibration(
        calibrated["model"], tmp_path / "t.pt", {"temperature": 2.0}
    )
    model = load_classifier(old)
    assert model.calibration == Calibration(2.0, 0.0)
    raw = classify(dataclasses.replace(model, calibration=UNCALIBRATED), TEXTS)
    assert classify(model, TEXTS).labels == raw.labels


def test_evaluate_applies_and_shows_the_bias(
    calibrated: dict[str, Path], tmp_path: Path
) -> None:
    entry = {"temperature": 1.0, "bias": 1e4}  # every text the second class
    shifted = _with_calibration(calibrated["model"], tmp_path / "m.pt", entry)
    record = json.loads(
        invoke("evaluate", calibrated["test"], "-m", shifted, "--json").stdout
    )
    assert record["calibration"]["bias"] == 1e4
    assert record["metrics"]["accuracy"] == pytest.approx(50.0)  # half are "pos"
    assert record["calibration"]["calibrated"] != record["calibration"]["uncalibrated"]
    text = invoke("evaluate", calibrated["test"], "-m", shifted)
    assert_ok(text)
    assert "bias +10000.000" in text.stdout


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
    """On a held-out share of the training file, only --calibrate fits T (and,
    for two classes, b), and the run says so."""
    out = calibrated["folder"] / f"held-out-{fitted}.pt"
    result = invoke(
        "train-sentiment", calibrated["train"], "--epochs", "1", *flag, "-o", out,
        *TINY_NOTES,
    )  # fmt: skip
    assert_ok(result)
    assert ("calibration" in load_checkpoint(out)) is fitted
    said = " ".join(result.stderr.split())
    assert ("calibrated on the valid set: temperature" in said) is fitted
    assert (", bias " in said) is fitted


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
    assert_error(result, "--plot-reliability", "only for classifiers, taggers")
    assert not picture.exists()


def test_info_shows_the_temperature_and_bias(
    calibrated: dict[str, Path], tmp_path: Path
) -> None:
    stored = load_checkpoint(calibrated["model"])["calibration"]
    result = invoke("info", calibrated["model"], "--json")
    assert_ok(result)
    assert json.loads(result.stdout)["calibration"] == stored
    assert "bias:" in invoke("info", calibrated["model"]).stdout
    old = _without_calibration(calibrated["model"], tmp_path / "old.pt")
    assert json.loads(invoke("info", old, "--json").stdout)["calibration"] == {}
    assert "calibration: none" in invoke("info", old).stdout


# --- more than two classes: a temperature, no bias ---------------------------------
def _three_class_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """make_rows' texts, and every third one without a sentiment word: "neutral"."""
    rows = make_rows(n, seed)
    return [
        (" ".join(w for w in text.split() if w in FILLER) or "the", "neu")
        if i % 3 == 2
        else (text, label)
        for i, (text, label) in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("three")
    train = write_tsv(folder / "train.tsv", _three_class_rows(48, 1))
    valid = write_tsv(folder / "valid.tsv", _three_class_rows(18, 2))
    out = folder / "clf3.pt"
    result = invoke(
        "train-sentiment", train, "--valid", valid, "--epochs", "2", "-o", out, *TINY
    )
    assert_ok(result)
    return out


def test_a_multi_class_classifier_stores_a_temperature_only(
    three_classes: Path,
) -> None:
    assert set(load_checkpoint(three_classes)["calibration"]) == {"temperature"}
    assert load_classifier(three_classes).calibration.bias == 0.0


def test_a_bias_on_a_multi_class_checkpoint_is_refused(
    three_classes: Path, tmp_path: Path
) -> None:
    entry = {"temperature": 1.0, "bias": 0.5}
    forged = _with_calibration(three_classes, tmp_path / "m.pt", entry)
    result = invoke("classify", "-", "-m", forged, input="a good film\n")
    assert_error(result, str(forged), "calibration.bias", "3 classes")


def _assert_classify_prints(model: Path, expected: Any) -> None:
    """`classify --json --probs` prints the labels and probabilities the API gives."""
    result = invoke(
        "classify", "-", "-m", model, "--json", "--probs",
        input="\n".join(TEXTS) + "\n",
    )  # fmt: skip
    assert_ok(result)
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["label"] for p in printed] == expected.labels
    for record, probs in zip(printed, expected.probs, strict=True):
        assert list(record["probs"].values()) == pytest.approx(probs, abs=1e-6)


def test_the_stored_test_metrics_are_the_calibrated_decisions(
    calibrated: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "with-test.pt"
    result = invoke(
        "train-sentiment", calibrated["train"], "--valid", calibrated["valid"],
        "--test", calibrated["test"], "--epochs", "3", "-o", out, *TINY,
    )  # fmt: skip
    assert_ok(result)
    data = load_checkpoint(out)
    assert "bias" in data["calibration"]  # a two-class model: its decisions move
    record = json.loads(
        invoke("evaluate", calibrated["test"], "-m", out, "--json").stdout
    )
    assert data["metrics"]["test"]["accuracy"] == record["metrics"]["accuracy"]


@pytest.mark.parametrize("side", [0, 1])
def test_score_decides_as_the_calibration_says(
    calibrated: dict[str, Path], side: int
) -> None:
    from seqcli.tasks.sentiment import score

    clf = load_classifier(calibrated["model"])
    rows = make_rows(16, 3)
    texts = [text for text, _ in rows]
    gold = [clf.labels.id_of(label) for _, label in rows]
    ex = Examples(clf.encode(texts), gold)
    pushed = Calibration(1.0, 1e4 if side else -1e4)  # every text to one class
    report = score(clf.network, ex, clf.labels, pushed)
    share = sum(1 for label in gold if label == side) / len(gold)
    assert report.accuracy == pytest.approx(100 * share)
    assert score(clf.network, ex, clf.labels).accuracy != report.accuracy
