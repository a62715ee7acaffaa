"""Translation's tokenization level on raw text (issue #27 point 13).

    python -m bench.translate_levels [--budget 30] [--seeds 1] [--threads 1]
        [--levels word,joint,separate] [--test-lines N] [--work DIR]

Multi30k German -> English from the raw files (translation/multi30k: cased,
untokenized), trained by `seqcli train-translate` with the same recipe, budget,
seed and threads at three levels: word (seqcli's default), subword with one
SentencePiece model for both sides (--joint-vocab) and subword with one per side
(--separate-vocab), each with seqcli's defaults otherwise (--min-freq at word
level, --sp-vocab-size per SentencePiece model). Each model translates test2016
with `seqcli translate` as a user runs it (beam 5; at word level `<unk>` is
replaced by the most attended source word, and the word model is also run with
--keep-unk to show what that buys), and the detokenized output is scored with
sacreBLEU's own BLEU (13a, cased, as sacreBLEU's CLI does).

The last line of stdout is one JSON object (`measure`'s result); the same is
written to WORK/translate-levels.json. `python -m bench` runs each level as its
own figure (translation-raw-word, -joint, -separate; `figure`). Models and
outputs go to WORK (bench/results/levels by default, git-ignored).
`--test-lines` scores only the first N test sentences: for a smoke run, never
for a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "results" / "levels"
# The 30-minute Multi30k recipe is TranslationConfig's defaults; as in
# bench/translate.py's runs, validation every 400 steps (about 2/3 of a word-level
# epoch), so that a budget ends close to a validated checkpoint.
RECIPE = ["--eval-every", "400"]
LEVELS: dict[str, list[str]] = {
    "word": ["--level", "word"],
    "joint": ["--level", "subword", "--joint-vocab"],
    "separate": ["--level", "subword", "--separate-vocab"],
}


def corpus() -> Path:
    """The raw Multi30k files (SEQCLI_CORPORA overrides ../shared/corpora)."""
    shared = Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))
    return shared / "translation" / "multi30k"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def seqcli(args: list[str], *, threads: int, stdout: Path | None = None) -> float:
    """Run `python -m seqcli ARGS` (stdout to a file through seqcli's write path);
    returns its wall time in seconds."""
    from seqcli.outputs import OutputFile

    cmd = [sys.executable, "-m", "seqcli", *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    if stdout is None:
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    else:
        with OutputFile(stdout, inputs={}, flag="stdout").open("w") as sink:
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=sink)
    return time.perf_counter() - start


def read(path: Path, limit: int | None = None) -> list[str]:
    from seqcli.readers import read_lines

    lines = [line.text for line in read_lines(path)]
    return lines if limit is None else lines[:limit]


def sacrebleu_score(outputs: list[str], references: list[str]) -> dict[str, Any]:
    """sacreBLEU's BLEU with its defaults (13a, cased), called directly."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    score = bleu.corpus_score(outputs, [references])
    return {"bleu": round(score.score, 2), "signature": str(bleu.get_signature())}


def unk_share(outputs: list[str]) -> float:
    """The share of output lines holding a `<unk>`."""
    return round(sum("<unk>" in line for line in outputs) / max(1, len(outputs)), 4)


def train(level: str, budget: float, seed: int, threads: int, work: Path) -> Path:
    d = corpus()
    model = work / f"multi30k-raw-{level}-s{seed}.pt"
    args = [
        "train-translate", str(d / "train.de"), str(d / "train.en"),
        "--valid-src", str(d / "valid.de"), "--valid-tgt", str(d / "valid.en"),
        *LEVELS[level], *RECIPE,
        "--max-time", f"{budget:g}", "--seed", str(seed),
        "--threads", str(threads), "--device", "cpu", "-q", "-o", str(model),
    ]  # fmt: skip
    log(f"train {level}, seed {seed}: {budget:g} min")
    seqcli(args, threads=threads)
    return model


def score(
    model: Path, src: Path, refs: list[str], *, threads: int, flags: list[str]
) -> dict[str, Any]:
    """`seqcli translate SRC -m MODEL FLAGS > OUT`, scored against `refs`."""
    tag = "".join(flag.replace("--", "-") for flag in flags)
    out = model.with_suffix(f".test2016{tag}.en")
    args = ["translate", str(src), "-m", str(model), "--threads", str(threads)]
    seconds = seqcli([*args, "-q", *flags], threads=threads, stdout=out)
    outputs = read(out)
    return {
        **sacrebleu_score(outputs, refs),
        "unk_lines": unk_share(outputs),
        "translate_s": round(seconds, 1),
        "output": str(out),
        "command": " ".join(["seqcli", *args, *flags]),
    }


def test_source(work: Path, test_lines: int | None) -> Path:
    """test2016's source file, or a copy of its first lines (a smoke run)."""
    from seqcli.outputs import OutputFile

    src = corpus() / "test2016.de"
    if test_lines is None:
        return src
    first = work / f"test2016-first{test_lines}.de"
    lines = read(src, test_lines)
    OutputFile(first, inputs={}, flag="test").write_text("\n".join(lines) + "\n")
    return first


def run_level(
    level: str, budget: float, seed: int, threads: int, work: Path, src: Path
) -> dict[str, Any]:
    """Train one level for the budget, then translate and score test2016 (`src`:
    all of it, or its first lines)."""
    from seqcli.checkpoint import load_checkpoint

    model = train(level, budget, seed, threads, work)
    refs = read(corpus() / "test2016.en")[: len(read(src))]
    data = load_checkpoint(model)
    result = {
        "level": level,
        "seed": seed,
        "model": str(model),
        "vocab": {side: len(data["vocab"][side]) for side in ("src", "tgt")},
        "valid": data["metrics"].get("valid", {}),
        "test": score(model, src, refs, threads=threads, flags=[]),
    }
    if level == "word":  # what replacing <unk> (translate's default here) buys
        result["test_keep_unk"] = score(
            model, src, refs, threads=threads, flags=["--keep-unk"]
        )
    log(f"{level}, seed {seed}: test2016 BLEU {result['test']['bleu']}")
    return result


def measure(
    budget: float,
    seeds: list[int],
    *,
    threads: int = 1,
    levels: list[str] | None = None,
    work: Path = WORK,
    test_lines: int | None = None,
) -> dict[str, Any]:
    """Every level for every seed; BLEU per level (one value per seed)."""
    levels = levels or list(LEVELS)
    src = test_source(work, test_lines)
    runs = [
        run_level(level, budget, seed, threads, work, src)
        for seed in seeds
        for level in levels
    ]
    return {
        "figure": "translate-levels",
        "metric": "test2016 BLEU (sacreBLEU 13a, cased, detokenized)",
        "budget_min": budget,
        "seeds": seeds,
        "threads": threads,
        "test_lines": test_lines,
        "values": {
            level: [r["test"]["bleu"] for r in runs if r["level"] == level]
            for level in levels
        },
        "command": f"python -m bench.translate_levels --budget {budget:g} "
        f"--seeds {','.join(map(str, seeds))} --threads {threads} "
        f"--levels {','.join(levels)}"
        + ("" if test_lines is None else f" --test-lines {test_lines}"),
        "runs": runs,
    }


def figure(level: str) -> Callable[[Any, Path, str | None], Any]:
    """For bench/figures.py: the figure of one level, trained and scored as
    `measure` does (the three figures share the recipe, budget, seeds and threads,
    so that RESULTS.md compares them like for like)."""

    def run(b: Any, work: Path, reuse: str | None) -> Any:
        from bench.results import Measurement

        raw = measure(
            b.amount, list(b.seeds), threads=b.threads or 1, levels=[level], work=work
        )
        details: dict[str, Any] = {"metric": raw["metric"], "runs": raw["runs"]}
        if level == "word":  # translate's default replaces <unk>; without it:
            details["keep_unk_bleu"] = [r["test_keep_unk"]["bleu"] for r in raw["runs"]]
        return Measurement(
            values=raw["values"][level],
            seeds=list(b.seeds),
            command=raw["command"],
            details=details,
        )

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0, help="minutes each")
    parser.add_argument("--seeds", default="1", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--levels", default=",".join(LEVELS))
    parser.add_argument("--test-lines", type=int, help="smoke runs only")
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)
    levels = [name.strip() for name in args.levels.split(",") if name.strip()]
    unknown = [name for name in levels if name not in LEVELS]
    if unknown:
        parser.error(f"--levels: no level {', '.join(unknown)} ({', '.join(LEVELS)})")
    seeds = [int(s) for s in args.seeds.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    result = measure(
        args.budget,
        seeds,
        threads=args.threads,
        levels=levels,
        work=args.work,
        test_lines=args.test_lines,
    )
    from seqcli.outputs import OutputFile

    text = json.dumps(result, indent=2)
    OutputFile(args.work / "translate-levels.json", inputs={}).write_text(text)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
