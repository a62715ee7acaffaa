"""The one entry point of the benchmarks.

    python -m bench [--suite quick|full] [--only NAME,...] [--list]
                    [--out DIR] [--budget AMOUNT] [--seeds 1,2] [--isa avx2]

Runs each figure of the suite (`bench/figures.py`) in its own process, one after
the other, and writes one results file per figure (docs/results/NAME.json unless
--out says otherwise), then regenerates docs/RESULTS.md from docs/results/.

- `quick`: every headline figure at a small budget (about ten minutes on a 2-core
  CPU), to see that nothing is broken and roughly where the figures stand.
- `full`: every headline figure at its stated budget and seeds; it needs a clean
  checkout (the commit it records must be what ran) and takes no --budget/--seeds.
- `--budget` and `--seeds` shrink a quick run further (a smoke test); the budget
  is recorded in the results file, marked as given by hand.
- `--isa avx2` re-runs the command with oneDNN, MKL and ATen held to their AVX2
  code paths, so that a newer CPU stands in for an AVX2-only one (recorded in the
  machine class).

Corpora come from ../shared/corpora (SEQCLI_CORPORA overrides); models and other
scratch go to bench/results/ (git-ignored), never to docs/.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.figures import FIGURES, Budget, Figure
from bench.machine import AVX2_SWITCHES, describe, forced_avx2
from bench.results import (
    RESULTS_DIR,
    ROOT,
    GitState,
    Measurement,
    Peer,
    build_record,
    git_state,
    write_record,
)

WORK = ROOT / "bench" / "results" / "work"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--suite", choices=("quick", "full"), default="quick")
    parser.add_argument("--only", help="comma-separated figure names (see --list)")
    parser.add_argument("--list", action="store_true", help="list the figures")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results dir")
    parser.add_argument("--budget", type=float, help="quick only: amount per seed")
    parser.add_argument("--seeds", help="quick only: comma-separated seeds")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native")
    parser.add_argument("--no-report", action="store_true", help="skip RESULTS.md")
    return parser.parse_args(argv)


def chosen(only: str | None) -> list[Figure]:
    """The figures to run, in the suite's order; an unknown name is an error."""
    if not only:
        return list(FIGURES.values())
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise SystemExit(
            f"error: --only: no figure {', '.join(unknown)} "
            f"(figures: {', '.join(FIGURES)})"
        )
    return [f for f in FIGURES.values() if f.name in names]


def budget_of(figure: Figure, args: argparse.Namespace) -> Budget:
    b = figure.quick if args.suite == "quick" else figure.full
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else b.seeds
    amount = args.budget if args.budget is not None else b.amount
    return Budget(amount, seeds, b.threads, b.unit)


def run_figure(figure: Figure, budget: Budget, reuse: str | None) -> dict[str, Any]:
    """The figure in its own process; its last stdout line, parsed."""
    work = WORK / figure.name
    shutil.rmtree(work, ignore_errors=True)  # every run starts fresh
    cmd = [
        sys.executable, "-m", "bench.figures", figure.name,
        "--amount", f"{budget.amount:g}",
        "--seeds", ",".join(map(str, budget.seeds)),
        "--threads", str(budget.threads), "--unit", budget.unit,
        "--work", str(work),
    ]  # fmt: skip
    if reuse:
        cmd += ["--reuse", reuse]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{figure.name} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measurement_of(raw: dict[str, Any]) -> Measurement:
    peer = raw.get("peer")
    return Measurement(
        values=raw["values"],
        seeds=raw["seeds"],
        command=raw["command"],
        peer=Peer(**peer) if peer else None,
        details=raw["details"],
        artefact=raw.get("artefact"),
    )


def budget_record(budget: Budget, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "amount": budget.amount,
        "unit": budget.unit,
        "seeds": len(budget.seeds),
        "threads": budget.threads,
        "by_hand": args.budget is not None or args.seeds is not None,
    }


def run_suite(args: argparse.Namespace, argv: list[str], git: GitState) -> int:
    command = shlex.join(["python", "-m", "bench", *argv])
    reusable: dict[str, str] = {}
    failed = []
    for figure in chosen(args.only):
        budget = budget_of(figure, args)
        log(f"{figure.name}: {budget.amount:g} {budget.unit} x {len(budget.seeds)}")
        load_before = list(os.getloadavg())
        try:
            raw = run_figure(figure, budget, reusable.get(figure.needs or ""))
        except (RuntimeError, ValueError) as err:  # a figure's failure, not the run's
            log(f"{figure.name}: {err}")
            failed.append(figure.name)
            continue
        measurement = measurement_of(raw["measurement"])
        if measurement.artefact:
            reusable[figure.name] = measurement.artefact
        record = build_record(
            figure,
            measurement,
            suite=args.suite,
            budget=budget_record(budget, args),
            command=command,
            git=git,
            machine=describe(
                # a figure that resolved "automatic" itself says how many it used
                measurement.details.get("threads", budget.threads),
                gpu=raw.get("gpu"),
                aten=raw.get("aten_capability"),
            ),
            torch_version=raw["torch"],
            load_before=load_before,
            load_after=list(os.getloadavg()),
        )
        path = write_record(record, args.out)
        log(f"{figure.name}: {record['metric']} {record['value']:.4g} -> {path}")
    if failed:
        log(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.list:
        for f in FIGURES.values():
            q, full = f.quick, f.full
            print(
                f"{f.name:28} {f.metric:22} quick {q.amount:g} {q.unit} x "
                f"{len(q.seeds)}, full {full.amount:g} {full.unit} x {len(full.seeds)}"
            )
        return 0
    if args.isa == "avx2" and not forced_avx2():
        env = {**os.environ, **AVX2_SWITCHES}
        os.execve(sys.executable, [sys.executable, "-m", "bench", *argv], env)
    if args.suite == "full" and (args.budget is not None or args.seeds):
        raise SystemExit("error: --budget and --seeds are for quick runs only")
    git = git_state()
    if args.suite == "full" and (git.dirty or not git.commit):
        raise SystemExit(
            "error: --suite full needs a clean checkout at a commit "
            "(commit or stash your changes)"
        )
    status = run_suite(args, argv, git)
    if not args.no_report and args.out.resolve() == RESULTS_DIR.resolve():
        from bench import report

        report.main([])
    return status


if __name__ == "__main__":
    sys.exit(main())
