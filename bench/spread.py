"""`spread`: how a figure varies over seeds, as the benchmarks report it.

Imported by the bench scripts (`python -m bench.<script>` from the repository root).
"""

from __future__ import annotations

import statistics
from typing import Any


def spread(values: list[float], digits: int = 4) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one value), min and max, and n."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "mean": round(statistics.fmean(values), digits),
        "sd": round(sd, digits),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }
