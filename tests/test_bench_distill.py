"""The distillation figures of issue #28 (bench/distill.py, run by `python -m bench`
through bench/figures.py): registered with both budgets, and what a run records,
with the training replaced by a fake (no model is trained here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import bench_record

from bench import distill, report
from bench.figures import FIGURES
from bench.results import validate

CORPORA = {"ner-conll2003-distill": "conll", "sentiment-sst2-distill": "sst2"}


@pytest.mark.parametrize("name", CORPORA)
def test_distill_figures_are_registered_with_both_budgets(name: str) -> None:
    figure = FIGURES[name]
    assert figure.higher_is_better
    # a quick run is what the figure's code takes for one, a full run is not
    assert figure.quick.amount < distill.QUICK_BELOW <= figure.full.amount
    assert figure.quick.seeds == (1,)
    assert figure.full.seeds == (1, 2, 3)  # the three seeds
    assert figure.quick.threads == figure.full.threads == 1


class FakeTraining:
    """Stands in for `distill.train` and the scoring around it: teachers score
    80 + k, plain models 85 + seed, students 90 + seed; every run trains for its
    whole budget, and a student's teachers label for 12 s."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs: list[dict[str, Any]] = []
        self.records: list[dict[str, int]] = []
        self.ensembles: list[list[str]] = []
        monkeypatch.setattr(distill, "train", self.train)
        monkeypatch.setattr(distill, "data_files", self.data_files)
        monkeypatch.setattr(distill, "ensemble_score", self.ensemble_score)
        monkeypatch.setattr(distill, "speed", self.speed)

    def data_files(
        self, corpus: str, work: Path, records: dict[str, int]
    ) -> dict[str, str]:
        self.records.append(records)
        return {split: f"{corpus}/{split}" for split in ("train", "valid", "test")}

    def train(self, corpus: str, files: dict, out: Path, **run: Any) -> dict:
        seed, minutes = run["seed"], run["minutes"]
        teachers = run["overrides"].get("distill.teachers", [])
        self.runs.append({"seed": seed, "minutes": minutes, "teachers": teachers})
        test = 80.0 + seed - 100 if seed > 100 else (90 if teachers else 85) + seed
        return {
            "seed": seed,
            "model": str(out),
            "test": float(test),
            "valid": float(test),
            "train_s": 60.0 * minutes,
            "labelling_s": 12.0 if teachers else 0.0,
        }

    def ensemble_score(self, corpus: str, models: list[str], test: str) -> float:
        self.ensembles.append(models)
        return 91.5

    def speed(self, corpus: str, model: str, test: str, threads: int) -> dict:
        return {"per_s": 1000.0 if "student" in model else 800.0, "unit": "x/s"}


@pytest.mark.parametrize("name", CORPORA)
def test_a_quick_run_has_two_teachers_and_reports_them_apart(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTraining(monkeypatch)
    corpus = CORPORA[name]
    m = FIGURES[name].run(FIGURES[name].quick, tmp_path, None)
    teachers = [r for r in fake.runs if r["seed"] > 100]
    assert [r["seed"] for r in teachers] == [101, 102]
    assert fake.records == [distill.QUICK_RECORDS[corpus]]
    (student,) = [r for r in fake.runs if r["teachers"]]
    assert student["teachers"] == fake.ensembles[0]  # the ensemble it learns from
    assert len(student["teachers"]) == 2
    assert (m.values, m.seeds) == ([91.0], [1])
    assert "--teacher T1 --teacher T2 --max-time 0.25" in m.command
    d = m.details
    assert d["ensemble_test"] == 91.5
    assert d["plain"]["test"]["mean"] == 86.0
    assert d["records_limit"] == (distill.QUICK_RECORDS[corpus] or None)
    assert [(r["name"], r["value"]) for r in d["references"]] == [
        ("the 2 teachers' ensemble", 91.5),
        ("the plain model, same recipe and budget", 86.0),
    ]
    # 2 teachers x 15 s, 12 s of labelling, the student's and plain model's 15 s
    assert [c["minutes"] for c in d["compute"]] == [0.5, 0.2, 0.25, 0.25]
    assert d["speed_student_vs_plain"] == 1.25
    record = bench_record(FIGURES[name], m)
    assert validate(record) == []
    notes = "\n".join(report.notes(record))
    assert "Beside it: the 2 teachers' ensemble 91.50; the plain model" in notes
    assert "Compute: teachers' training (2 models, once) 0.500 min;" in notes


def test_a_full_run_has_four_teachers_three_seeds_and_all_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTraining(monkeypatch)
    figure = FIGURES["ner-conll2003-distill"]
    m = figure.run(figure.full, tmp_path, None)
    assert [r["seed"] for r in fake.runs if r["seed"] > 100] == [101, 102, 103, 104]
    assert {r["minutes"] for r in fake.runs} == {30}  # teachers' budget as students'
    assert fake.records == [{}]
    assert (m.values, m.seeds) == ([91.0, 92.0, 93.0], [1, 2, 3])
    assert m.details["plain"]["test"]["mean"] == 87.0
    assert m.details["references"][1]["values"] == [86.0, 87.0, 88.0]
    assert m.details["compute"][0] == {
        "what": "teachers' training (4 models, once)",
        "minutes": 120.0,
    }
    assert validate(bench_record(FIGURES["ner-conll2003-distill"], m)) == []


def test_translation_distill_states_ensemble_single_models_and_compute() -> None:
    from bench import translate_distill

    def run(bleu: float) -> dict[str, Any]:
        return {"bleu": bleu, "train_and_labelling_s": 120.0}

    details = {
        "teachers": [run(30.0), run(32.0)],
        "ensemble": {"bleu": 33.5},
        "students": [run(31.0), {**run(31.5), "train_and_labelling_s": 180.0}],
        "teachers_train_s": 240.0,
    }
    extra = translate_distill.beside(details)
    ensemble, singles = extra["references"]
    assert ensemble["name"] == "the 2 teachers' ensemble"
    assert ensemble["value"] == 33.5
    assert singles["value"] == pytest.approx(31.0)
    assert singles["values"] == [30.0, 32.0]
    assert [c["minutes"] for c in extra["compute"]] == [4.0, 2.5]
