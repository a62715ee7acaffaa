"""Decoding speed of a translation checkpoint: beam search, batched vs one sentence
at a time, for each torch thread count asked, in one process.

    python -m bench.translate_speed MODEL.pt [--threads 1,2] [--beam 5]

Reads test2016 of Multi30k (the tokenized preparation, as `bench/translate.py`
trains on it) from ../shared/corpora (or SEQCLI_CORPORA). For each thread count it
translates the whole test set in batches of 64 sentences, and its first 200
sentences both in batches and one at a time, and reports sentences per second
(wall clock and CPU time) and the ratio. The load average is recorded before and
after. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_AT_A_TIME = 200  # sentences decoded both ways for the ratio


def corpora() -> Path:
    return Path(os.environ.get("SEQCLI_CORPORA", ROOT.parent / "shared" / "corpora"))


def _rate(translate, model, src: list[str], **kw) -> tuple[float, float]:  # noqa: ANN001
    wall, cpu = time.perf_counter(), time.process_time()
    translate(model, src, **kw)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(src) / wall, len(src) / cpu


def measure(model_path: Path, threads: list[int], beam: int) -> dict:
    import torch

    from seqcli.tasks.translation_inference import load_translator, translate

    src = (
        (corpora() / "translation" / "multi30k-tok" / "test2016.de")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    model = load_translator(model_path)
    results = {}
    for n in threads:
        torch.set_num_threads(n)
        translate(model, src[:16], beam=beam)  # warm-up
        full = _rate(translate, model, src, beam=beam, batch_size=64)
        batched = _rate(translate, model, src[:ONE_AT_A_TIME], beam=beam, batch_size=64)
        single = _rate(translate, model, src[:ONE_AT_A_TIME], beam=beam, batch_size=1)
        results[f"threads{n}"] = {
            "full_test_sent_per_s_wall": round(full[0], 1),
            "full_test_sent_per_s_cpu": round(full[1], 1),
            "batched_sent_per_s_wall": round(batched[0], 1),
            "one_at_a_time_sent_per_s_wall": round(single[0], 1),
            "speedup_wall": round(batched[0] / single[0], 2),
            "speedup_cpu": round(batched[1] / single[1], 2),
        }
        print(f"{n} thread(s): {results[f'threads{n}']}", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = measure(args.model, [int(t) for t in args.threads.split(",")], args.beam)
    record = {
        "model": str(args.model),
        "beam": args.beam,
        "sentences": {"full": 1000, "ratio": ONE_AT_A_TIME},
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **results,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
