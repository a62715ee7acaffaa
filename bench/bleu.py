"""Time `seqcli bleu` against the `sacrebleu` command line on the same 3,000 lines.

The references are Multi30k English sentences (test2016, valid, then train); the
hypotheses are the same sentences with seeded word drops, swaps and substitutions,
so that the score is neither 0 nor 100. Both tools run as fresh processes, as a user
runs them, alternating so that machine noise falls on both; the figures are medians.
The last line printed is one JSON object holding every figure.

    .venv/bin/python -m bench.bleu [--runs 11] [--lines 3000]

SEQCLI_CORPORA overrides the corpora folder (default: ../shared/corpora).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("test2016.en", "valid.en", "train.en")
TARGET_RATIO = 1.2


def corpora_dir() -> Path:
    default = ROOT.parent / "shared" / "corpora"
    return Path(os.environ.get("SEQCLI_CORPORA", default))


def reference_lines(n: int) -> list[str]:
    """The first ``n`` English lines of Multi30k, test2016 first."""
    folder = corpora_dir() / "translation" / "multi30k"
    lines: list[str] = []
    for name in SPLITS:
        text = (folder / name).read_text(encoding="utf-8")
        lines.extend(text.splitlines())
        if len(lines) >= n:
            return lines[:n]
    raise SystemExit(f"only {len(lines)} lines under {folder}; need {n}")


def perturb(line: str, rng: random.Random, vocab: list[str]) -> str:
    """Drop, swap or replace a few words, like an imperfect translation."""
    words = line.split()
    out: list[str] = []
    for word in words:
        roll = rng.random()
        if roll < 0.08:
            continue  # dropped
        out.append(rng.choice(vocab) if roll < 0.18 else word)
    for i in range(len(out) - 1):
        if rng.random() < 0.05:
            out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def write_pair(folder: Path, n: int) -> tuple[Path, Path]:
    refs = reference_lines(n)
    rng = random.Random(1)
    vocab = sorted({w for line in refs for w in line.split()})
    hyps = [perturb(line, rng, vocab) for line in refs]
    hyp, ref = folder / "hyp.en", folder / "ref.en"
    from seqcli.outputs import OutputFile

    OutputFile(hyp, inputs={}).write_text("".join(h + "\n" for h in hyps))
    OutputFile(ref, inputs={}).write_text("".join(r + "\n" for r in refs))
    return hyp, ref


def commands(hyp: Path, ref: Path) -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    seqcli = bin_dir / "seqcli"
    ours = [str(seqcli)] if seqcli.exists() else [sys.executable, "-m", "seqcli"]
    return {
        "seqcli": [*ours, "bleu", str(hyp), str(ref)],
        "sacrebleu": [str(bin_dir / "sacrebleu"), str(ref), "-i", str(hyp)],
    }


def child_env() -> dict[str, str]:
    """The environment of the timed runs: bytecode caching on, as on a user's machine.

    With PYTHONDONTWRITEBYTECODE set (some sandboxes set it), seqcli's modules, which
    an editable install leaves uncompiled, would be recompiled on every run while
    sacreBLEU's come precompiled from site-packages: that would time the compiler.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        cmd, capture_output=True, text=True, check=True, env=child_env()
    )
    return time.perf_counter() - start, done.stdout


def score_of(tool: str, stdout: str) -> float:
    """The BLEU score each tool printed (sacreBLEU prints JSON by default)."""
    if tool == "sacrebleu":
        return float(json.loads(stdout)["score"])
    return float(stdout.split(" = ", 1)[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="timed runs of each tool")
    parser.add_argument("--lines", type=int, default=3000, help="segments to score")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hyp, ref = write_pair(Path(tmp), args.lines)
        cmds = commands(hyp, ref)
        # Warm-up runs: fill the page cache and write seqcli's bytecode cache.
        for _ in range(2):
            scores = {tool: score_of(tool, timed(cmd)[1]) for tool, cmd in cmds.items()}
        times: dict[str, list[float]] = {tool: [] for tool in cmds}
        for _ in range(args.runs):
            for tool, cmd in cmds.items():  # alternate, so noise hits both tools
                times[tool].append(timed(cmd)[0])
    medians = {tool: statistics.median(values) for tool, values in times.items()}
    ratio = medians["seqcli"] / medians["sacrebleu"]
    print(f"{'tool':<10} {'median s':>9} {'min s':>7} {'max s':>7}  score")
    for tool, values in times.items():
        print(
            f"{tool:<10} {medians[tool]:>9.3f} {min(values):>7.3f} "
            f"{max(values):>7.3f}  {scores[tool]}"
        )
    print(f"ratio seqcli / sacrebleu = {ratio:.3f} (target <= {TARGET_RATIO})")
    figures = {
        "benchmark": "bleu",
        "lines": args.lines,
        "runs": args.runs,
        "median_s": {tool: round(value, 4) for tool, value in medians.items()},
        "times_s": {
            tool: [round(v, 4) for v in values] for tool, values in times.items()
        },
        "ratio": round(ratio, 4),
        "target_ratio": TARGET_RATIO,
        "same_score": scores["seqcli"] == scores["sacrebleu"],
        "score": scores["seqcli"],
        "commands": {
            tool: " ".join(cmd).replace(str(hyp), "HYP").replace(str(ref), "REF")
            for tool, cmd in cmds.items()
        },
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
