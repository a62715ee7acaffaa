"""How many CPU threads torch uses: `set_threads`, for training and inference alike.

`--threads N` on every command ends here; 0 (the default) measures the choice.
"""

from __future__ import annotations

import math
import os
import time

import torch

from seqcli.errors import ConfigError

# The probe: one LSTM-cell step of PROBE_HIDDEN units over `rows` rows, the unit
# of work every seqcli network repeats (a training batch's time step, a sampled
# token), timed PROBE_STEPS times per thread count.
PROBE_HIDDEN = 256
PROBE_STEPS = 8
# More threads are chosen only when they take at most this share of the time of
# fewer: when about as fast, fewer threads leave cores to other work and lose less
# when it starts.
PROBE_GAIN = 0.85
# Rows of the probe's step when the caller does not say, and at most (more would
# only make the probe dearer).
PROBE_ROWS = 32
PROBE_MAX_ROWS = 2048
# A training step's largest products see a whole batch of sequences at once (the
# input projections of every time step, the softmax of every position): batch x
# time rows, with this standing for the time. Probed with the batch's rows alone,
# the products are too small to gain from a second thread, and a CPU on which
# training runs faster on two threads would be held to one.
PROBE_TRAINING_TIME = 32


def training_rows(batch_size: int) -> int:
    """The rows of the probe for a training run of `batch_size` sequences a step."""
    return batch_size * PROBE_TRAINING_TIME


def set_threads(requested: int = 0, *, rows: int = PROBE_ROWS) -> int:
    """Set torch's CPU threads to `requested`, or with 0 to the measured best.

    Args:
        requested: threads to use; 0 chooses them with `auto_threads`.
        rows: the rows of a typical product of the work to come (`training_rows`
            of the batch size for training; 1 for one sample drawn token by
            token), for the measurement.

    Returns:
        The number of threads set.

    Raises:
        ConfigError: `requested` is negative.
    """
    if requested < 0:
        raise ConfigError(
            f"--threads must be 0 (automatic) or a positive count (got {requested})"
        )
    count = requested or auto_threads(rows=rows)
    torch.set_num_threads(count)
    return count


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by OMP_NUM_THREADS
    when set, shared among the processes torchrun starts on this machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform (macOS)
        cores = os.cpu_count() or 1
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        cores = min(cores, int(omp))
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cores // max(1, local_processes))


def auto_threads(*, rows: int = PROBE_ROWS) -> int:
    """The thread count among 1, 2, 4, ... and all cores under which a recurrent
    step runs fastest, measured now (10-40 ms for a few rows on this project's
    2-core CPU, about a second for a training batch's `training_rows`).

    Measured rather than guessed: whether threads help depends on the size of the
    work and on what else the machine is doing. A recurrent step is many small
    operations, each a parallel region that waits for all its threads; when
    another process holds a core, a thread that is not scheduled stalls every
    region. On 2 cores with one busy, a 1x256 LSTM step took 40 ms on 1 thread and
    1,720 ms on 2; the load average, which this choice was once read from, lags
    by a minute and cannot tell a busy core from one about to be free. The probe
    sees the stall itself: a thread count whose steps wait is slower and loses.

    A wrong choice of more threads costs far more than a wrong choice of fewer, so
    a count is taken only when it is PROBE_GAIN faster than the best so far in two
    measurements, the best count timed again between them (a preemption during
    one measurement of the fewer threads would otherwise make more look faster).
    """
    cores = available_cores()
    if cores == 1:
        return 1
    rows = max(1, min(rows, PROBE_MAX_ROWS))
    counts = sorted({min(2**i, cores) for i in range(1, cores.bit_length() + 1)})
    best, best_time = 1, _probe_time(1, rows, limit=float("inf"))
    for count in counts:
        elapsed = _probe_time(count, rows, limit=best_time)
        if elapsed >= best_time * PROBE_GAIN:
            break  # doubling again would be waited on more
        best_time = min(best_time, _probe_time(best, rows, limit=best_time))
        elapsed = min(elapsed, _probe_time(count, rows, limit=best_time))
        if elapsed >= best_time * PROBE_GAIN:
            break
        best, best_time = count, elapsed
    return best


def _probe_time(threads: int, rows: int, *, limit: float) -> float:
    """The median seconds of PROBE_STEPS LSTM-cell steps on `threads` threads
    (the median, so that one preemption does not decide); inf for a run that
    takes over twice `limit` per step, which stops there."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(rows, PROBE_HIDDEN, generator=gen)  # (rows, hidden)
    h, c = torch.zeros_like(x), torch.zeros_like(x)
    w_ih = torch.rand(4 * PROBE_HIDDEN, PROBE_HIDDEN, generator=gen) * 0.1
    w_hh = torch.rand(4 * PROBE_HIDDEN, PROBE_HIDDEN, generator=gen) * 0.1
    times = []
    with torch.inference_mode():
        h, c = torch.lstm_cell(x, (h, c), w_ih, w_hh)  # warm-up: starts the pool
        start = time.perf_counter()
        for _ in range(PROBE_STEPS):
            h, c = torch.lstm_cell(x, (h, c), w_ih, w_hh)
            times.append(time.perf_counter() - start)
            if times[-1] > 2 * limit * PROBE_STEPS:
                return math.inf
    steps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    return sorted(steps)[len(steps) // 2]
