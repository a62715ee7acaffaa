"""docs/RESULTS.md and the results files behind it (bench/results.py, bench/report.py,
`python -m bench`): the page is what the generator writes, every commit it names
is in the history, every results file follows the schema."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import __main__ as entry
from bench import report
from bench.figures import FIGURES, Budget, Figure
from bench.machine import AVX2_SWITCHES, cpu_flags, forced_avx2, machine_class
from bench.results import (
    RESULTS_DIR,
    ROOT,
    GitState,
    Measurement,
    Peer,
    build_record,
    compute,
    read_records,
    reference,
    result_path,
    validate,
    write_record,
)

RESULTS_FILES = sorted(RESULTS_DIR.glob("*.json"))


def _in_git_checkout() -> bool:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def _record(**changes: Any) -> dict[str, Any]:
    """A results record as the entry point builds it, of a made-up run."""
    figure = Figure(
        "demo", "demo task", "a demo figure", "words/s", True,
        Budget(1), Budget(10), lambda *a: None,  # type: ignore[arg-type, return-value]
    )  # fmt: skip
    measurement = Measurement(
        values=[30.0, 34.0],
        seeds=[1, 2],
        command="seqcli demo",
        peer=Peer("other tool", [16.0, 16.0], "other demo"),
    )
    record = build_record(
        figure,
        measurement,
        suite="quick",
        budget={"amount": 1, "unit": "min", "seeds": 2, "threads": 0},
        command="python -m bench --only demo",
        git=GitState("0" * 40, False),
        machine={
            "cpu": "Test CPU",
            "isa": {"avx2": True},
            "cpus": 2,
            "threads": 0,
            "gpu": None,
            "class": "x86-64 AVX2",
        },
        torch_version="2.13.0",
        load_before=[0.5, 0.4, 0.3],
        load_after=[1.5, 1.4, 1.3],
    )
    return {**record, **changes}


# --- the committed page and files ----------------------------------------------------
def test_results_page_is_what_the_generator_writes() -> None:
    page = ROOT / "docs" / "RESULTS.md"
    assert page.exists(), "docs/RESULTS.md is missing: run python -m bench.report"
    assert page.read_text(encoding="utf-8") == report.generate(RESULTS_DIR), (
        "docs/RESULTS.md is out of date with docs/results/: run python -m bench.report"
    )


@pytest.mark.parametrize("path", RESULTS_FILES, ids=[p.stem for p in RESULTS_FILES])
def test_results_file_follows_the_schema(path: Path) -> None:
    record = json.loads(path.read_text(encoding="utf-8"))
    assert validate(record, path.name) == []
    assert path == result_path(
        record["name"], path.parent, forced=bool(record["machine"].get("isa_switches"))
    )


def test_every_commit_named_is_in_the_history() -> None:
    if not _in_git_checkout():
        pytest.skip("not a git checkout: the history cannot be asked")
    page = (ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8")
    named = {r["commit"] for r in read_records(RESULTS_DIR)}
    named |= set(re.findall(r"`([0-9a-f]{7,40})`", page))
    for sha in sorted(named):
        proc = subprocess.run(
            ["git", "cat-file", "-e", f"{sha}^{{commit}}"],
            cwd=ROOT,
            capture_output=True,
        )
        assert proc.returncode == 0, f"commit {sha} is not in the history"


# --- the schema ----------------------------------------------------------------------
def test_a_built_record_is_valid_and_holds_the_peer_ratio() -> None:
    record = _record()
    assert validate(record) == []
    assert record["value"] == 32.0
    assert record["spread"] == pytest.approx(2.828, abs=1e-3)
    assert record["peer"]["ratio"] == 2.0


def test_schema_problems_are_named() -> None:
    record = _record(value="fast")
    del record["commit"]
    problems = validate(record)
    assert any("'commit'" in p for p in problems)
    assert any("'value' is str" in p for p in problems)
    assert validate(_record(values=[1.0])) == ["record: one value per seed expected"]
    assert validate(_record(suite="slow"))[0].endswith(
        "is not one of ('quick', 'full')"
    )


def test_a_full_run_must_come_from_a_clean_commit() -> None:
    assert validate(_record(suite="full")) == []
    assert validate(_record(suite="full", dirty=True)) == [
        "record: a full run needs a clean checkout at a commit"
    ]


# --- the page ------------------------------------------------------------------------
def test_page_has_one_table_per_task_with_peer_ratio_class_and_commit() -> None:
    text = report.render(
        [_record(), _record(name="other", task="another task", title="other")]
    )
    assert text.count("\n## ") == 2
    (row,) = [line for line in text.splitlines() if line.startswith("| a demo")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "32.00 (sd 2.828, 2 seeds)"
    assert cells[2:5] == ["other tool", "16.00 (sd 0.000, 2 seeds)", "2.00x"]
    assert cells[5] == "x86-64 AVX2"
    assert cells[6] == "`0000000000`"
    assert cells[8] == "`python -m bench --only demo`"


def test_references_and_compute_are_listed_under_the_table() -> None:
    details = {
        "references": [
            reference("the ensemble", [40.0]),
            reference("the plain model", [30.0, 32.0], "same budget"),
        ],
        "compute": [compute("teachers' training", 600.0), compute("labelling", 30)],
    }
    record = _record(details=details)
    assert validate(record) == []
    assert report.notes(record)[-2:] == [
        "  Beside it: the ensemble 40.00; "
        "the plain model 31.00 (sd 1.414, 2 seeds) (same budget).",
        "  Compute: teachers' training 10.00 min; labelling 0.500 min.",
    ]
    assert len(report.notes(_record())) == 2  # none given: no such lines


def test_malformed_references_and_compute_are_named() -> None:
    record = _record(details={"references": [{"name": "x"}], "compute": "a lot"})
    problems = validate(record)
    assert "record: references[0]: no 'value'" in problems
    assert "record: details 'compute' is not a list" in problems


def test_report_check_fails_until_the_page_is_regenerated(tmp_path: Path) -> None:
    results, page = tmp_path / "results", tmp_path / "RESULTS.md"
    results.mkdir()
    write_record(_record(), results)
    args = ["--results", str(results), "--page", str(page)]
    assert report.main([*args, "--check"]) == 1
    assert report.main(args) == 0
    assert report.main([*args, "--check"]) == 0
    write_record(_record(value=99.0), results)
    assert report.main([*args, "--check"]) == 1


def test_records_round_trip_through_the_write_path(tmp_path: Path) -> None:
    path = write_record(_record(), tmp_path)
    assert path == tmp_path / "demo.json"
    assert read_records(tmp_path) == [json.loads(json.dumps(_record()))]


def test_a_forced_avx2_run_keeps_its_own_file_beside_the_native_one(
    tmp_path: Path,
) -> None:
    forced = _record()
    forced["machine"] = {
        **forced["machine"],
        "isa_switches": {"ATEN_CPU_CAPABILITY": "avx2"},
        "class": "x86-64 AVX2 (forced)",
    }
    assert write_record(forced, tmp_path) == tmp_path / "demo.avx2.json"
    write_record(_record(), tmp_path)
    page = report.render(read_records(tmp_path))
    assert "- demo (x86-64 AVX2):" in page
    assert "- demo (x86-64 AVX2 (forced)):" in page


def test_a_target_is_reported_met_or_missed_with_its_number() -> None:
    lower = {"higher_is_better": False, "value": 152.5, "suite": "full"}
    missed = report.render([_record(**lower, details={"target": 150})])
    assert "Target <= 150: missed (152.5)." in missed
    met = report.render([_record(suite="full", details={"target": 30})])  # 32.0/s
    assert "Target >= 30: met (32.0)." in met
    quick = report.render([_record(details={"target": 30})])  # not its budget
    assert "Target" not in quick


# --- the machine ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "label"),
    [
        ({"avx2"}, "x86-64 AVX2"),
        ({"avx2", "avx512f"}, "AVX-512"),
        ({"avx2", "avx512f", "avx512_bf16"}, "AVX-512 BF16"),
        ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AMX"),
    ],
)
def test_machine_class_follows_the_instructions(flags: set[str], label: str) -> None:
    isa = {f: f in flags for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")}
    assert machine_class(isa) == label
    assert machine_class(isa, forced=True, aten="AVX2") == "x86-64 AVX2 (forced)"
    assert machine_class(isa, forced=True, aten="AVX512").endswith("ATen ran AVX512")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Test Xeon\nflags\t\t: fpu avx2 amx_bf16\n\n"
        "processor\t: 1\nmodel name\t: Test Xeon\nflags\t\t: fpu avx2 amx_bf16\n"
    )
    assert cpu_flags(str(cpuinfo)) == ("Test Xeon", {"fpu", "avx2", "amx_bf16"})


def test_avx2_is_forced_only_with_every_switch() -> None:
    assert forced_avx2(dict(AVX2_SWITCHES))
    partial = dict(AVX2_SWITCHES)
    partial.pop("MKL_ENABLE_INSTRUCTIONS")
    assert not forced_avx2(partial)


# --- the entry point -----------------------------------------------------------------
def test_only_names_known_figures() -> None:
    assert [f.name for f in entry.chosen("dna-splice,lm-wikitext2")] == [
        "lm-wikitext2",
        "dna-splice",
    ]
    with pytest.raises(SystemExit, match="no figure nope"):
        entry.chosen("nope")


def test_full_suite_takes_no_budget_by_hand() -> None:
    with pytest.raises(SystemExit, match="quick runs only"):
        entry.main(["--suite", "full", "--budget", "0.1"])


def test_full_suite_refuses_a_checkout_with_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(entry, "git_state", lambda: GitState("a" * 40, True))
    monkeypatch.setattr(entry, "run_suite", lambda *a: pytest.fail("it ran"))
    with pytest.raises(SystemExit, match="needs a clean checkout"):
        entry.main(["--suite", "full", "--only", "dna-splice"])


def test_every_figure_has_a_smaller_quick_budget() -> None:
    for figure in FIGURES.values():
        assert figure.quick.unit == figure.full.unit
        assert figure.quick.amount * len(figure.quick.seeds) <= (
            figure.full.amount * len(figure.full.seeds)
        ), figure.name


def test_entry_point_writes_one_results_file_per_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[str, Budget, str | None]] = []

    def fake_run(figure: Figure, budget: Budget, reuse: str | None) -> dict:
        ran.append((figure.name, budget, reuse))
        measurement = {
            "values": [1.5],
            "seeds": list(budget.seeds),
            "command": f"measure {figure.name}",
            "peer": None,
            "details": {},
            "artefact": f"/models/{figure.name}.pt",
        }
        return {"measurement": measurement, "torch": "2.13.0", "gpu": None}

    monkeypatch.setattr(entry, "run_figure", fake_run)
    argv = ["--only", "lm-wikitext2,lm-sampling", "--budget", "0.2", "--seeds", "4"]
    assert entry.main([*argv, "--out", str(tmp_path)]) == 0
    assert [(name, b.amount, b.seeds) for name, b, _ in ran] == [
        ("lm-wikitext2", 0.2, (4,)),
        ("lm-sampling", 0.2, (4,)),
    ]
    assert ran[1][2] == "/models/lm-wikitext2.pt"  # sampling reuses the model
    records = read_records(tmp_path)
    assert [r["name"] for r in records] == ["lm-sampling", "lm-wikitext2"]
    for record in records:
        assert validate(record) == []
        assert record["budget"]["by_hand"] is True
        assert record["command"].startswith("python -m bench --only lm-wikitext2")


def test_engine_figures_share_one_reference_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import lm

    calls: list[tuple[str, dict]] = []

    def fake_worker(name: str, threads: int, **kwargs: Any) -> dict:
        calls.append((name, {"threads": threads, **kwargs}))
        return {"tokens_per_s": 100.0 if name == "reference-speed" else 250.0}

    monkeypatch.setattr(lm, "run_worker", fake_worker)
    budget = Budget(3, unit="s", threads=2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    same = FIGURES["lm-engine-same-recipe"].run(budget, tmp_path / "a", None)
    default = FIGURES["lm-engine-default"].run(budget, tmp_path / "b", same.artefact)
    names = [name for name, _ in calls]
    assert names == [
        "reference-speed",
        "seqcli-speed-reference",
        "seqcli-speed-default",
    ]
    precisions = {kwargs["precision"] for _, kwargs in calls}
    assert len(precisions) == 1  # the reference runs in seqcli's precision
    assert same.peer is not None and default.peer is not None
    assert default.peer.values == same.peer.values == [100.0]
    assert default.details["reference_from"] == "lm-engine-same-recipe"
    longer = FIGURES["lm-engine-default"].run(
        Budget(5, unit="s", threads=2), tmp_path / "b", same.artefact
    )
    assert longer.details["reference_from"] == "this figure"  # budgets differ
