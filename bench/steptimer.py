"""`StepTimer`: the seqcli Reporter the benchmarks train with.

It sums the time spent in training steps alone (an evaluation's time is left out,
so tokens per second are the trainer's), keeps every evaluation record, and prints
the run's messages (and, with `echo_evals`, each evaluation) to stderr. Imported by
the bench scripts (`python -m bench.<script>` from the repository root).
"""

from __future__ import annotations

import json
import sys
import time


class StepTimer:
    def __init__(self, *, echo_evals: bool = False) -> None:
        self.echo_evals = echo_evals
        self.train_s = 0.0
        self.last: float | None = None
        self.evals: list[dict[str, float]] = []

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        self.last = time.perf_counter()

    def on_step(self, info) -> None:  # noqa: ANN001 - seqcli.training.StepInfo
        now = time.perf_counter()
        if self.last is not None:
            self.train_s += now - self.last
        self.last = now

    def on_eval(self, record: dict[str, float]) -> None:
        self.evals.append(record)
        if self.echo_evals:
            print(f"eval {json.dumps(record)}", file=sys.stderr, flush=True)
        self.last = None  # the next step's time would include the evaluation

    def on_message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)
