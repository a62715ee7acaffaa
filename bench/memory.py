"""Peak memory of `seqcli train-lm CORPUS --dry-run` on generated corpora.

Writes a corpus of each size asked for (WikiText-like: a Zipfian vocabulary of
about 50k word types, paragraphs of ~90 tokens between blank lines, headings) into
a temporary folder (under /tmp unless --tmp), runs the dry run at each level in a
subprocess, and reads that child's peak RSS from `os.wait4`. It prints a table and,
last, one JSON line of the figures. The corpora are deleted afterwards.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.memory --sizes 200 1000

`--baseline` also measures the same command on a tiny corpus (the fixed cost of
Python, torch and seqcli); `--compare-with DIR` also runs another checkout's code
(for instance main's) on each corpus, for a before/after figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from seqcli.outputs import OutputFile

REPO = Path(__file__).resolve().parent.parent
MB = 1_000_000
WORD_TYPES = 50_000
# The most frequent WikiText tokens, so that the head of the distribution looks real.
HEAD = [
    "the",
    ",",
    ".",
    "of",
    "and",
    "in",
    "to",
    "a",
    "=",
    "was",
    "@-@",
    "'s",
    "on",
    "as",
    "for",
    "that",
    "with",
    "by",
    "is",
    "his",
    "at",
    "from",
]
LETTERS = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
LETTER_P = np.array(
    [12.7, 9.1, 8.2, 7.5, 7.0, 6.3, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4]
    + [2.4, 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1]
)


def word_types(rng: np.random.Generator) -> list[str]:
    """HEAD, then made-up words whose length grows with their rank (rare = long);
    one in five is capitalised, as names are."""
    words, seen = list(HEAD), set(HEAD)
    p = LETTER_P / LETTER_P.sum()
    while len(words) < WORD_TYPES:
        rank = len(words)
        length = max(2, int(rng.normal(1.0 + 0.7 * np.log(rank), 1.2)))
        word = "".join(rng.choice(LETTERS, size=length, p=p))
        if rng.random() < 0.2:
            word = word.capitalize()
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def write_corpus(path: Path, size: int, seed: int = 0) -> None:
    """About `size` bytes of WikiText-shaped text with Zipf-distributed words."""
    rng = np.random.default_rng(seed)
    words = np.array(word_types(rng), dtype=object)
    ranks = np.arange(1, len(words) + 1)
    p = 1.0 / (ranks + 2.7)  # Zipf-Mandelbrot, exponent 1
    p /= p.sum()
    written = 0
    with OutputFile(path, inputs={}).open("w") as fh:
        while written < size:
            lengths = np.maximum(1, rng.lognormal(4.3, 0.7, size=1000).astype(int))
            ids = rng.choice(len(words), size=int(lengths.sum()), p=p)
            out, at = [], 0
            for n in lengths:
                if rng.random() < 0.1:  # a heading, as WikiText's " = = Title = = "
                    out.append(" = " + " ".join(words[ids[at : at + 3]]) + " = \n \n")
                out.append(" " + " ".join(words[ids[at : at + n]]) + " \n \n")
                at += n
            text = "".join(out)
            fh.write(text)
            written += len(text)


def peak_rss(cmd: list[str], env: dict[str, str]) -> tuple[int, float, float, int, str]:
    """(peak RSS in bytes, wall and CPU seconds, exit status, stderr tail) of one
    child. CPU seconds say more than wall seconds on a machine shared with others."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=env["PYTHONPATH"],  # `python -m` puts the working folder first on the path
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN is a max over all).
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    return usage.ru_maxrss * 1024, seconds, cpu, proc.returncode, stderr[-400:]


def run_one(code: Path, corpus: Path, level: str, python: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    cmd = [python, "-m", "seqcli", "train-lm", str(corpus), "--dry-run"]
    cmd += ["--level", level]
    rss, seconds, cpu, rc, err = peak_rss(cmd, env)
    size = corpus.stat().st_size
    row = {
        "code": str(code),
        "level": level,
        "corpus_bytes": size,
        "peak_rss_bytes": rss,
        "ratio": round(rss / size, 3),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "exit": rc,
    }
    if rc != 0:
        row["stderr"] = err
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--levels", nargs="+", default=["word", "char"])
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--compare-with", type=Path, default=None)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="seqcli-memory-", dir=args.tmp))
    codes = [REPO] + ([args.compare_with.resolve()] if args.compare_with else [])
    rows: list[dict] = []
    context = {
        "commit": _commit(REPO),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(context), flush=True)
    try:
        if args.baseline:
            tiny = folder / "tiny.txt"
            write_corpus(tiny, 20_000)
            for level in args.levels:
                rows.append({**run_one(REPO, tiny, level, args.python), "size": 0})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        for size_mb in args.sizes:
            corpus = folder / f"corpus-{size_mb}mb.txt"
            t0 = time.perf_counter()
            write_corpus(corpus, size_mb * MB)
            print(f"wrote {corpus} in {time.perf_counter() - t0:.0f} s", flush=True)
            for code in codes:
                for level in args.levels:
                    rows.append(
                        {**run_one(code, corpus, level, args.python), "size": size_mb}
                    )
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            corpus.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(rows)
    print(json.dumps({**context, "memory": rows}))


def _commit(folder: Path) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def print_table(rows: list[dict]) -> None:
    print("| code | level | corpus | peak RSS | RSS / corpus | wall s | CPU s | exit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {Path(r['code']).name} | {r['level']} | "
            f"{r['corpus_bytes'] / MB:,.1f} MB | {r['peak_rss_bytes'] / MB:,.0f} MB | "
            f"{r['ratio']:.2f} | {r['seconds']:.0f} | {r['cpu_seconds']:.0f} | "
            f"{r['exit']} |"
        )


if __name__ == "__main__":
    main()
