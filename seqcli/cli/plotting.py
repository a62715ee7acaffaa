"""`seqcli plot`: learning curves of one or more runs from their metrics logs.

Must not import torch (nor matplotlib at module level: it is an optional extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqcli.cli._shared import QuietOpt, handle_errors, not_a_directory, print_dim


@handle_errors
def plot(
    logs: Annotated[
        list[Path],
        typer.Argument(
            help="Metrics logs of training runs (models/NAME.metrics.jsonl).",
            callback=not_a_directory,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="PNG file to write.", callback=not_a_directory
        ),
    ],
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Validation metric of the lower panels (default: the first one "
            "the logs hold besides the loss, such as ppl, f1 or bleu).",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Draw training and validation curves against steps and training time.

    Example: seqcli plot models/a.metrics.jsonl models/b.metrics.jsonl -o curves.png
    """
    from seqcli.curves import draw_curves, load_runs, require_matplotlib
    from seqcli.outputs import OutputFile

    require_matplotlib()
    inputs = {f"RUN {i + 1}": path for i, path in enumerate(logs)}
    target = OutputFile(out, inputs=inputs, flag="-o/--out")
    runs = load_runs(list(logs))
    figure = draw_curves(runs, metric=metric)
    target.write_figure(figure, dpi=100)  # the format follows -o's suffix
    if not quiet:
        print_dim(
            f"{len(runs)} run(s) drawn in {out}: {', '.join(r.name for r in runs)}"
        )
