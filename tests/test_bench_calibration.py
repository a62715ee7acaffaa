"""The calibration figures of issue #28 and IMDB's accuracy (bench/calibration.py,
run by `python -m bench` through bench/figures.py): registered with both budgets,
and what a run records, with the training replaced by a fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import bench_record

from bench import calibration, report
from bench.figures import FIGURES, Budget
from bench.results import validate

ECE_FIGURES = {
    "calibration-sst2": "sst2",
    "calibration-imdb": "imdb",
    "calibration-conll2003": "conll",
}


@pytest.mark.parametrize("name", [*ECE_FIGURES, "sentiment-imdb"])
def test_calibration_figures_are_registered_with_both_budgets(name: str) -> None:
    figure = FIGURES[name]
    assert figure.higher_is_better is (name == "sentiment-imdb")  # ECE: lower
    assert figure.quick.amount < calibration.QUICK_BELOW <= figure.full.amount
    assert figure.quick.seeds == (1,)
    assert figure.full.seeds == (1, 2, 3)
    assert figure.quick.threads == figure.full.threads == 1


def test_imdb_accuracy_reuses_the_calibration_runs_at_the_same_budgets() -> None:
    accuracy, ece = FIGURES["sentiment-imdb"], FIGURES["calibration-imdb"]
    assert accuracy.needs == "calibration-imdb"
    names = list(FIGURES)
    assert names.index("calibration-imdb") < names.index("sentiment-imdb")
    assert (accuracy.quick, accuracy.full) == (ece.quick, ece.full)


class FakeRuns:
    """Stands in for the training and scoring of one calibrated model: seed s
    scores 80 + s, its ECE is 10 + s before scaling and 2 + s after."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        self.calls: list[tuple[str, int, str]] = []
        self.tmp = tmp_path
        monkeypatch.setattr(calibration, "sentiment_run", self.sentiment_run)
        monkeypatch.setattr(calibration, "conll_run", self.conll_run)
        monkeypatch.setattr(calibration, "imdb_files", self.imdb_files)

    def imdb_files(self, out: Path, seed: int) -> dict[str, str]:
        """Tables of ten rows, sorted by label as IMDB's test set is."""
        rows = "".join(f"review {i}\t{i // 5}\n" for i in range(10))
        paths = {}
        for key in ("train_path", "valid_path", "bench_test"):
            path = self.tmp / f"{key}.tsv"
            path.write_text("text\tlabel\n" + rows, encoding="utf-8")
            paths[key] = str(path)
        return paths

    def _figures(self, seed: int) -> dict[str, Any]:
        return {"score": 80.0 + seed, "temperature": 1.5,
                "ece_before": 10.0 + seed, "ece_after": 2.0 + seed,
                "brier_before": 0.2, "brier_after": 0.15, "examples": 10}  # fmt: skip

    def sentiment_run(
        self, name: str, overrides: dict[str, Any], test_path: str, seed: int
    ) -> dict[str, Any]:
        self.calls.append((name, seed, test_path))
        return self._figures(seed)

    def conll_run(
        self, files: dict[str, str], budget: float, threads: int, out: Path, seed: int
    ) -> dict[str, Any]:
        self.calls.append(("conll", seed, files["test"]))
        return self._figures(seed)


@pytest.mark.parametrize("name", ECE_FIGURES)
def test_an_ece_figure_holds_before_and_after_over_seeds(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRuns(monkeypatch, tmp_path)
    figure = FIGURES[name]
    m = figure.run(figure.full, tmp_path, None)
    assert [seed for _, seed, _ in fake.calls] == [1, 2, 3]
    assert (m.values, m.seeds) == ([3.0, 4.0, 5.0], [1, 2, 3])  # ECE after
    d = m.details
    assert d["ece_before"]["mean"] == 12.0
    assert d["ece_after"]["mean"] == 4.0
    assert d["brier_before"]["mean"] == 0.2
    assert d["brier_after"]["mean"] == 0.15
    assert d["bins"] == 15
    assert d["records_limit"] is None  # a full run scores the whole test set
    assert [r["values"] for r in d["references"]] == [
        [11.0, 12.0, 13.0],
        [81.0, 82.0, 83.0],
    ]
    record = bench_record(FIGURES[name], m)
    assert validate(record) == []
    notes = "\n".join(report.notes(record))
    assert "Beside it: before scaling (T = 1) 12.00 (sd 1.000, 3 seeds);" in notes


def test_a_quick_imdb_run_scores_an_even_share_of_the_test_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRuns(monkeypatch, tmp_path)
    monkeypatch.setattr(calibration, "QUICK_LIMITS", {"imdb": 4})
    figure = FIGURES["calibration-imdb"]
    m = figure.run(figure.quick, tmp_path, None)
    ((_, _, test),) = fake.calls
    rows = Path(test).read_text(encoding="utf-8").splitlines()
    assert rows[0] == "text\tlabel"
    assert {row.split("\t")[1] for row in rows[1:]} == {"0", "1"}  # both labels
    assert len(rows) == 1 + 4
    assert m.details["records_limit"] == 4


def test_imdb_accuracy_comes_from_the_calibration_runs_when_they_ran_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRuns(monkeypatch, tmp_path)
    budget = Budget(15, (1, 2, 3), 1)
    ece = FIGURES["calibration-imdb"].run(budget, tmp_path, None)
    accuracy = FIGURES["sentiment-imdb"]
    m = accuracy.run(budget, tmp_path / "b", ece.artefact)
    assert len(fake.calls) == 3  # nothing trained again
    assert (m.values, m.seeds) == ([81.0, 82.0, 83.0], [1, 2, 3])
    assert m.details["models_from"] == "calibration-imdb"
    alone = accuracy.run(budget, tmp_path / "c", None)
    assert len(fake.calls) == 6
    assert alone.details["models_from"] == "this figure"
    other = accuracy.run(Budget(10, (1, 2, 3), 1), tmp_path / "d", ece.artefact)
    assert other.details["models_from"] == "this figure"  # budgets differ
