"""Music benchmark: a character LSTM composes Irish folk tunes in ABC notation.

    python -m bench.music [--budget 10] [--threads 1] [--tunes 50] [--keep DIR]

1. Trains a char LM on `music/irish-abc/train.abc` for `--budget` minutes (the
   recipe of README "Composing music": 2x256 LSTM, embeddings 64, BPTT 100,
   batch 32, Adam 0.002), validated on `valid.abc`: validation nats/char.
2. Samples `--tunes` tunes (prompt "X:1\\nT:", ending at the first blank line,
   `--stop-at "\\n\\n"`) at temperatures 1.0 and 0.8, and reports for each:
   - the share that `abc2midi` (Debian package `abcmidi`) turns into MIDI without
     an error line (warnings allowed); skipped, with a notice, when the program
     is not installed;
   - the share whose bars all have the length their M: and L: headers imply
     (`seqcli.abc.check_bars`: pickups allowed at a section's start and end).
   The same two shares for the real validation tunes are the ceiling to read
   them against.

`--keep DIR` keeps the model and the sampled tunes (`samples-T.abc`) there. The
last line printed is one JSON object holding every figure.
SEQCLI_CORPORA overrides the corpora folder (default: ../shared/corpora).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcli.abc import check_bars, split_tunes  # noqa: E402 - after the path
from seqcli.outputs import OutputFile  # noqa: E402

PROMPT = "X:1\nT:"
SEPARATOR = "\n\n"
MAX_LENGTH = 2000  # characters per tune at most; the longest training tune has 603
TEMPERATURES = (1.0, 0.8)


def corpora_dir() -> Path:
    default = ROOT.parent / "shared" / "corpora"
    return Path(os.environ.get("SEQCLI_CORPORA", default))


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def train(data: Path, out: Path, budget: float, threads: int) -> dict:
    """Train the README's recipe for `budget` minutes; its validation figures."""
    from seqcli.config import LMConfig, load_config
    from seqcli.tasks.lm import train_lm

    cfg = load_config(
        LMConfig,
        None,
        {
            "train_path": str(data / "train.abc"),
            "valid_path": str(data / "valid.abc"),
            "out": str(out),
            "bptt": 100,
            "tokenizer.level": "char",
            "model.emb_size": 64,
            "model.hidden_size": 256,
            "model.num_layers": 2,
            "train.batch_size": 32,
            "train.epochs": 1000,
            "train.max_time": budget,
            "train.num_threads": threads,
        },
    )
    start = time.perf_counter()
    outcome = train_lm(cfg)
    valid = outcome.metrics["valid"]
    return {
        "valid_nats_per_char": valid["loss"],
        "valid_bpc": valid["bpc"],
        "epochs": outcome.epochs,
        "stopped_by": outcome.stopped_by,
        "train_minutes": (time.perf_counter() - start) / 60,
    }


def compose(model: Path, num: int, temperature: float, seed: int) -> list[str]:
    """`num` tunes, each cut at its first blank line (the separator dropped)."""
    from seqcli.tasks.lm_inference import load_lm, sample

    lm = load_lm(model)
    texts = sample(
        lm,
        num=num,
        prompt=PROMPT,
        max_length=MAX_LENGTH,
        temperature=temperature,
        stop_at_eos=False,
        stop_at=SEPARATOR,
        seed=seed,
    )
    return [text.removesuffix(SEPARATOR).rstrip("\n") + "\n" for text in texts]


def abc2midi_accepts(tune: str, folder: Path) -> bool:
    """abc2midi writes the tune as MIDI and prints no "Error" line."""
    source, target = folder / "tune.abc", folder / "tune.mid"
    OutputFile(source, inputs={}).write_text(tune)
    target.unlink(missing_ok=True)
    try:
        done = subprocess.run(
            ["abc2midi", str(source), "-o", str(target)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    output = done.stdout + done.stderr
    return done.returncode == 0 and "Error" not in output and target.exists()


def judge(tunes: list[str], folder: Path) -> dict:
    """The shares of tunes abc2midi accepts and that keep their metre."""
    bars = [check_bars(tune) for tune in tunes]
    figures: dict = {
        "tunes": len(tunes),
        "bar_structure_kept": sum(r.ok for r in bars) / len(tunes),
        "mean_chars": sum(len(t) for t in tunes) / len(tunes),
        "first_failures": sorted({r.reason.split(";")[0] for r in bars if not r.ok})[
            :5
        ],
    }
    if shutil.which("abc2midi"):
        accepted = sum(abc2midi_accepts(tune, folder) for tune in tunes)
        figures["abc2midi_accepted"] = accepted / len(tunes)
    else:
        figures["abc2midi_accepted"] = None
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="training minutes")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--tunes", type=int, default=50, help="tunes to sample")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed")
    parser.add_argument("--keep", type=Path, help="keep the model and samples here")
    args = parser.parse_args()
    data = corpora_dir() / "music" / "irish-abc"
    if not shutil.which("abc2midi"):
        log("abc2midi not found (apt-get install abcmidi): its share is skipped")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        model = folder / "music-lm.pt"
        log(f"training a char LM on {data / 'train.abc'} for {args.budget} min")
        figures: dict = {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "load_average_at_start": os.getloadavg(),
            "budget_min": args.budget,
            "threads": args.threads,
            "recipe": "char, lstm 2x256, emb 64, bptt 100, batch 32, adam 2e-3",
        }
        figures["training"] = train(data, model, args.budget, args.threads)
        log(f"trained: {figures['training']}")
        real = split_tunes((data / "valid.abc").read_text(encoding="utf-8"))
        figures["valid_tunes"] = judge(real, Path(tmp))
        for temperature in TEMPERATURES:
            tunes = compose(model, args.tunes, temperature, args.seed)
            name = f"samples-{temperature}.abc"
            OutputFile(folder / name, inputs={}).write_text("\n".join(tunes))
            figures[f"samples_t{temperature}"] = judge(tunes, Path(tmp))
            log(f"temperature {temperature}: {figures[f'samples_t{temperature}']}")
        figures["load_average_at_end"] = os.getloadavg()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
