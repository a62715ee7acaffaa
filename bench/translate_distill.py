"""Multi30k de->en: a teacher ensemble and its distilled single student (issue #28).

    python bench/translate_distill.py [--budget 30] [--teachers 4] [--seeds 1]
                                      [--limit 0] [--work DIR]

Everything runs through the command line, as a user runs it, one thread each:

1. `--teachers` models of the figure-1 recipe of bench/translate.py (5.4M
   parameters on multi30k-tok), seeds 1..N, each trained for --budget minutes;
   each one's test2016 BLEU at beam 5 (`seqcli translate`, `seqcli bleu
   --tokenize none`).
2. The ensemble: `seqcli translate -m T1 ... -m TN --beam 5`, scored alike.
3. The student, per seed: the same recipe and budget with `--teacher T1 ...
   --teacher TN` (sequence-level distillation at --distill-beam 5; the teachers'
   translation of the training source is timed apart from the student's own
   training), scored alike.

`--limit N` keeps the first N training pairs (a smoke run: every step runs, the
figures mean nothing). The last line of output is one JSON object: the students'
BLEU as `values` (one per seed), the ensemble and the single teachers beside it.
`figure()` is the same measurement for `python -m bench` (bench/figures.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from translate import RECIPE, RESULTS, env, tok_dir  # noqa: E402 - bench/ on the path

from seqcli.outputs import OutputFile  # noqa: E402

TITLE = "Multi30k de->en test2016, BLEU at beam 5: distilled student vs ensemble"
QUICK_BELOW = 5.0  # minutes a model: below it, train on QUICK_PAIRS pairs only
QUICK_PAIRS = 2000
BEAM = 5
# The recipe of bench/translate.py's figure 1 as command-line flags.
RECIPE_FLAGS = [
    "--cell", RECIPE["cell"], "--emb-size", str(RECIPE["emb_size"]),
    "--hidden-size", str(RECIPE["hidden_size"]),
    "--num-layers", str(RECIPE["num_layers"]), "--dropout", str(RECIPE["dropout"]),
    "--attention", RECIPE["attention"], "--no-input-feeding", "--tie-embeddings",
    "--label-smoothing", str(RECIPE["label_smoothing"]),
    "--batch-tokens", str(RECIPE["batch_tokens"]), "--lr", str(RECIPE["lr"]),
    "--level", RECIPE["level"], "--min-freq", str(RECIPE["min_freq"]),
    "--word-tokenizer", RECIPE["word_split"],
    "--eval-every", str(RECIPE["eval_every"]), "--threads", "1", "-q",
]  # fmt: skip


def seqcli(*args: str | Path, stdout: Path | None = None) -> tuple[str, float]:
    """Run `python -m seqcli ARGS`: its stdout (also written to `stdout`, through
    seqcli's write path, when given) and its wall-clock seconds."""
    cmd = [sys.executable, "-m", "seqcli", *map(str, args)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env())
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed with {proc.returncode}")
    if stdout is not None:
        OutputFile(stdout, inputs={}, flag="output").write_text(proc.stdout)
    return proc.stdout, seconds


def data_files(work: Path, limit: int) -> dict[str, Path]:
    """multi30k-tok's files; with `limit`, the first `limit` training pairs."""
    d = tok_dir()
    files = {
        name: d / f"{name.replace('_', '.')}"
        for name in ("train_de", "train_en", "valid_de", "valid_en")
    }
    files |= {"test_de": d / "test2016.de", "test_en": d / "test2016.en"}
    if limit:
        for side in ("de", "en"):
            lines = files[f"train_{side}"].read_text(encoding="utf-8").splitlines()
            cut = OutputFile(
                work / f"train.{side}", inputs={side: files[f"train_{side}"]}
            )
            cut.write_text("\n".join(lines[:limit]) + "\n")
            files[f"train_{side}"] = cut.path
    return files


def train(files: dict[str, Path], out: Path, budget: float, seed: int, *extra: Any):
    """`seqcli train-translate` with the recipe; returns its wall-clock seconds."""
    _, seconds = seqcli(
        "train-translate", files["train_de"], files["train_en"],
        "--valid-src", files["valid_de"], "--valid-tgt", files["valid_en"],
        *RECIPE_FLAGS, "--max-time", f"{budget:g}", "--seed", str(seed),
        "-o", out, *extra,
    )  # fmt: skip
    return seconds


def test_bleu(files: dict[str, Path], models: list[Path], work: Path, name: str):
    """test2016 BLEU at beam 5 of one model or an ensemble, and its command."""
    hyp = work / f"{name}.test2016.en"
    flags = [arg for model in models for arg in ("-m", str(model))]
    _, seconds = seqcli(
        "translate", files["test_de"], *flags, "--beam", str(BEAM), "--threads", "1",
        stdout=hyp,
    )  # fmt: skip
    line, _ = seqcli("bleu", files["test_en"], "-i", hyp, "--tokenize", "none")
    command = (
        f"seqcli translate test2016.de {' '.join(flags)} --beam {BEAM} > {hyp.name}; "
        f"seqcli bleu test2016.en -i {hyp.name} --tokenize none"
    )
    return {
        "bleu": _score_of(line),
        "bleu_line": line.strip(),
        "translate_s": round(seconds, 1),
        "command": command,
    }


def _score_of(line: str) -> float | None:
    for part in line.replace("=", " ").split():
        try:
            return float(part)
        except ValueError:
            continue
    return None


def measure(
    budget: float, teachers: int, seeds: list[int], work: Path, limit: int = 0
) -> dict[str, Any]:
    """The figure: students' BLEU per seed, the ensemble's and each teacher's."""
    work.mkdir(parents=True, exist_ok=True)
    files = data_files(work, limit)
    models, singles, teacher_s = [], [], 0.0
    for k in range(1, teachers + 1):
        model = work / f"teacher{k}.pt"
        teacher_s += train(files, model, budget, k)
        models.append(model)
        singles.append(test_bleu(files, [model], work, f"teacher{k}"))
    ensemble = test_bleu(files, models, work, "ensemble") if teachers > 1 else None
    students = []
    for seed in seeds:
        student = work / f"student{seed}.pt"
        flags = [arg for m in models for arg in ("--teacher", str(m))]
        seconds = train(files, student, budget, seed, *flags, "--distill-beam", "5")
        students.append({**test_bleu(files, [student], work, student.stem),
                         "train_and_labelling_s": round(seconds, 1)})  # fmt: skip
    values = [s["bleu"] for s in students]
    return {
        "values": values,
        "seeds": seeds,
        "command": f"seqcli train-translate train.de train.en ... --teacher T1 ... "
        f"--teacher T{teachers} --max-time {budget:g} --seed S; "
        + students[0]["command"],
        "details": {
            "recipe": RECIPE,
            "budget_min_per_model": budget,
            "training_pairs_limit": limit or None,
            "teachers": singles,
            "best_single_teacher_bleu": max(
                (s["bleu"] or 0.0 for s in singles), default=None
            ),
            "ensemble": ensemble,
            "students": students,
            "student_mean": statistics.mean(v for v in values if v is not None)
            if any(v is not None for v in values)
            else None,
            # The compute stated apart: the teachers' training, and each student's
            # run (its teachers' translation of the training source included).
            "teachers_train_s": round(teacher_s, 1),
            "target": "above the best single model's 37.40 (issue #28)",
        },
    }


def figure(b: Any, work: Path, reuse: str | None) -> Any:
    """For bench/figures.py: ``Figure("translation-multi30k-distill", "translation",
    TITLE, "BLEU", True, Budget(0.5, threads=1), Budget(30, seeds=(1, 2, 3),
    threads=1), translate_distill.figure)``."""
    from bench.results import Measurement

    # Labelling the training source with a 4-member ensemble at beam 5 takes far
    # longer than a quick budget's teachers train: a quick run takes a subset.
    limit = 0 if b.amount >= QUICK_BELOW else QUICK_PAIRS
    raw = measure(b.amount, 4, list(b.seeds), work, limit)
    return Measurement(
        values=raw["values"],
        seeds=raw["seeds"],
        command=raw["command"],
        details={**raw["details"], **beside(raw["details"])},
    )


def beside(details: dict[str, Any]) -> dict[str, Any]:
    """RESULTS.md's references and compute of a measurement's details: the
    ensemble and the single models of the same recipe and budget (the teachers
    themselves), and the compute in parts."""
    from bench.results import compute, reference

    singles = [t["bleu"] for t in details["teachers"] if t["bleu"] is not None]
    students = details["students"]
    references = [reference("one model, the same recipe and budget (each teacher)",
                            singles)] if singles else []  # fmt: skip
    if details["ensemble"] and details["ensemble"]["bleu"] is not None:
        k = len(details["teachers"])
        references.insert(
            0, reference(f"the {k} teachers' ensemble", [details["ensemble"]["bleu"]])
        )
    student_s = statistics.fmean(s["train_and_labelling_s"] for s in students)
    return {
        "references": references,
        "compute": [
            compute(
                f"teachers' training ({len(details['teachers'])} models, once)",
                details["teachers_train_s"],
            ),  # fmt: skip
            compute("a student's run, the teachers' labelling included", student_s),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0, help="minutes/model")
    parser.add_argument("--teachers", type=int, default=4)
    parser.add_argument("--seeds", default="1", help="students' seeds, e.g. 1,2,3")
    parser.add_argument("--limit", type=int, default=0, help="training pairs (0=all)")
    parser.add_argument("--work", type=Path, default=RESULTS / "distill")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    result = measure(args.budget, args.teachers, seeds, args.work, args.limit)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
