"""Token-level temperature scaling of a translation model: train-translate
--calibrate, `translate --scores` at the stored temperature, `evaluate`'s
token-level ECE and Brier score, old checkpoints.

One tiny model of the toy copying task is trained once per module (a few seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import assert_ok
from test_cli_translation import invoke
from test_translation import tiny_config

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.tasks import translation_calibration as calibration
from seqcli.tasks.translation import train_translation
from seqcli.tasks.translation_data import Split
from seqcli.tasks.translation_inference import (
    load_translator,
    load_translators,
    translate,
)

pytestmark = pytest.mark.usefixtures("one_thread")

LINES = ["a b c", "h g f e", "", "d d a"]


@pytest.fixture(scope="module")
def model_path(
    copy_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("calibrated-mt") / "mt.pt"
    cfg = tiny_config(copy_corpus, out)
    cfg.train.epochs = 4  # half-learnt: probabilities far from 0 and 1
    return train_translation(cfg).path


def _with_temperature(model: Path, out: Path, t: float | None) -> Path:
    """The checkpoint with temperature `t` (None: without a calibration entry, as
    seqcli saved it before calibration existed)."""
    data = load_checkpoint(model)
    for key in ("calibration", "format", "format_version", "created", "digest"):
        data.pop(key, None)
    if t is not None:
        data["calibration"] = {"temperature": t}
    save_checkpoint(out, data)
    return out


def test_training_stores_a_fitted_temperature(model_path: Path) -> None:
    stored = load_checkpoint(model_path)["calibration"]
    assert set(stored) == {"temperature"}
    assert 0 < stored["temperature"] != 1.0
    assert load_translator(model_path).temperatures == (stored["temperature"],)


def test_an_old_checkpoint_reads_as_temperature_one(
    model_path: Path, tmp_path: Path
) -> None:
    old = _with_temperature(model_path, tmp_path / "old.pt", None)
    assert load_translator(old).temperatures == (1.0,)


class _Sharper(torch.nn.Module):
    """A model whose logits are twice another's: its fitted T must be twice too."""

    def __init__(self, network: Any) -> None:
        super().__init__()
        self.inner = network
        self.tgt_vocab = network.tgt_vocab

    def teacher_forced(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        logits, weights = self.inner.teacher_forced(batch)
        return 2 * logits, weights


def test_the_fit_scales_with_the_logits(
    model_path: Path, copy_corpus: dict[str, Path]
) -> None:
    """NLL(T; 2z) = NLL(T / 2; z): the fit reads the references' logits."""
    model = load_translator(model_path)
    lines = copy_corpus["valid_src"].read_text(encoding="utf-8").splitlines()
    refs = copy_corpus["valid_tgt"].read_text(encoding="utf-8").splitlines()
    split = Split(
        [model.encode_src(s) for s in lines],
        [model.encode_tgt(r) for r in refs],
        lines,
        refs,
    )
    t = calibration.fit_on_references(model.network, split).temperature
    assert t == pytest.approx(model.temperatures[0], rel=1e-3)  # what training fit
    doubled = calibration.fit_on_references(_Sharper(model.network), split)
    assert doubled.temperature == pytest.approx(2 * t, rel=0.02)


def test_the_fit_reads_whole_sentences_within_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    split = Split([[4], [], [5, 6], [7]], [[4, 5], [6], [7], [8, 9, 10]], [], [])
    monkeypatch.setattr(calibration, "FIT_LOGITS", 5 * 10)
    assert calibration._budget_rows(split, vocab=10) == [0, 2]  # 3 + 2 tokens
    monkeypatch.setattr(calibration, "FIT_LOGITS", 1)
    assert calibration._budget_rows(split, vocab=10) == [0]  # never none


def test_scores_follow_the_temperature_and_outputs_do_not(
    model_path: Path, tmp_path: Path
) -> None:
    def at(t: float) -> list[Any]:
        model = load_translator(_with_temperature(model_path, tmp_path / f"{t}.pt", t))
        return translate(model, LINES, beam=3, n_best=3, calibrated=True)

    found = {t: at(t) for t in (1.0, 0.5, 2.0)}
    for t in (0.5, 2.0):
        for one, other in zip(found[1.0], found[t], strict=True):
            assert other.texts == one.texts  # the search is the same ...
            assert other.hypotheses == one.hypotheses
            if one.hypotheses[0].ids:  # ... and only log P moves with T
                assert other.log_probs != pytest.approx(one.log_probs, abs=1e-3)
    for result in (r for rs in found.values() for r in rs):
        assert all(lp <= 0.0 for lp in result.log_probs)
    # At T = 1, the search's own log P: no second pass.
    for result in found[1.0]:
        assert result.log_probs == [h.log_prob for h in result.hypotheses]
    assert translate(load_translator(model_path), LINES)[0].log_probs is None


def test_the_rescoring_pass_at_t_one_is_the_searchs_log_prob(model_path: Path) -> None:
    model = load_translator(model_path)
    found = translate(model, LINES, beam=3, n_best=3)
    sources = [model.encode_src(line) for line in LINES]
    again = calibration.hypothesis_log_probs(
        model.network, (1.0 + 1e-12,), sources, [t.hypotheses for t in found]
    )
    for result, log_probs in zip(found, again, strict=True):
        expected = [h.log_prob for h in result.hypotheses]
        assert log_probs == pytest.approx(expected, abs=1e-4)


def test_an_ensemble_of_one_model_scores_as_that_model(model_path: Path) -> None:
    """The mixture of identical members at one T is that member at T."""
    one = load_translator(model_path)
    both = load_translators([model_path, model_path])
    assert both.temperatures == one.temperatures * 2
    alone = translate(one, LINES, beam=2, calibrated=True)
    mixed = translate(both, LINES, beam=2, calibrated=True)
    for a, b in zip(alone, mixed, strict=True):
        assert b.texts == a.texts
        assert b.log_probs == pytest.approx(a.log_probs, abs=1e-4)


def test_translate_scores_prints_the_calibrated_log_prob(
    model_path: Path, tmp_path: Path
) -> None:
    old = _with_temperature(model_path, tmp_path / "old.pt", None)
    given = "\n".join(LINES) + "\n"
    rows = {}
    for name, path in (("calibrated", model_path), ("old", old)):
        result = invoke("translate", "-", "-m", path, "--scores", input=given)
        assert_ok(result)
        rows[name] = [line.split("\t") for line in result.stdout.splitlines()]
    expected = translate(load_translator(model_path), LINES, calibrated=True)
    for cal, old_row, want in zip(
        rows["calibrated"], rows["old"], expected, strict=True
    ):
        assert cal[:2] == old_row[:2]  # text and the beam's score
        assert float(cal[2]) == pytest.approx(want.log_probs[0], abs=1e-4)
        assert float(cal[2]) <= 0.0
    plain = invoke("translate", "-", "-m", model_path, input=given)
    assert plain.stdout.splitlines() == [r[0] for r in rows["calibrated"]]
    n_best = invoke(
        "translate", "-", "-m", model_path, "--n-best", "2", "--scores", input=given
    )
    assert_ok(n_best)
    fields = [line.split("\t") for line in n_best.stdout.splitlines()]
    assert all(len(f) == 5 and float(f[3]) <= 0.0 for f in fields)


def test_translate_help_says_what_the_score_is() -> None:
    result = invoke("translate", "--help")
    assert_ok(result)
    assert "calibrated" in result.stdout
    assert "temperature" in result.stdout


def test_no_calibrate_stores_none(copy_corpus: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "plain.pt"
    result = invoke(
        "train-translate", copy_corpus["train_src"], copy_corpus["train_tgt"],
        "--valid-src", copy_corpus["valid_src"], "--valid-tgt",
        copy_corpus["valid_tgt"], "--epochs", "1", "--emb-size", "8",
        "--hidden-size", "8", "--min-freq", "1", "--device", "cpu", "--threads",
        "1", "-q", "--no-calibrate", "-o", out,
    )  # fmt: skip
    assert_ok(result)
    stored = load_checkpoint(out)
    assert "calibration" not in stored
    assert stored["config"]["calibrate"] is False


def test_evaluate_reports_token_calibration_before_and_after(
    model_path: Path, copy_corpus: dict[str, Path], tmp_path: Path
) -> None:
    files = (copy_corpus["valid_src"], copy_corpus["valid_tgt"])
    result = invoke("evaluate", *files, "-m", model_path, "--json")
    assert_ok(result)
    record = json.loads(result.stdout)
    assert set(record["metrics"]) >= {"bleu", "ppl"}
    calibrated = record["calibration"]
    stored = load_checkpoint(model_path)["calibration"]["temperature"]
    assert calibrated["temperature"] == pytest.approx(stored)
    assert "bias" not in calibrated
    for name in ("uncalibrated", "calibrated"):
        assert 0 <= calibrated[name]["ece"] <= 100
        assert 0 <= calibrated[name]["brier"] <= 2
    assert calibrated["calibrated"] != calibrated["uncalibrated"]
    old = _with_temperature(model_path, tmp_path / "old.pt", None)
    again = json.loads(invoke("evaluate", *files, "-m", old, "--json").stdout)
    assert again["calibration"]["calibrated"] == again["calibration"]["uncalibrated"]
    text = invoke("evaluate", *files, "-m", model_path)
    assert_ok(text)
    assert "calibration (temperature" in text.stdout


def test_token_brier_score_by_hand() -> None:
    """sum_v (p_v - [v = gold])^2, from log-probs, without listing the vocabulary."""
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    gold = torch.tensor([0, 1])
    stats = calibration._TokenStats()
    stats.add(probs.log(), gold)
    report = stats.report()
    by_hand = ((0.3**2 + 0.2**2 + 0.1**2) + (0.25**2 + 0.75**2 + 0.5**2)) / 2
    assert report.brier == pytest.approx(by_hand)
    assert report.examples == 2
    assert stats.correct == [True, False]


def test_plot_reliability_draws_a_translation_model(
    model_path: Path, copy_corpus: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    picture = tmp_path / "reliability.png"
    files = (copy_corpus["valid_src"], copy_corpus["valid_tgt"])
    result = invoke("evaluate", *files, "-m", model_path, "--plot-reliability", picture)
    assert_ok(result)
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_the_mixture_of_tempered_members_is_a_distribution() -> None:
    logits = [torch.randn(2, 3, 7), torch.randn(2, 3, 7)]  # (batch, time, vocab)
    mixed = calibration._mixture(logits, (0.5, 3.0))
    assert torch.allclose(mixed.exp().sum(-1), torch.ones(2, 3))
    alone = calibration._mixture(logits[:1], (0.5,))
    assert torch.allclose(alone, (logits[0] / 0.5).log_softmax(-1))
