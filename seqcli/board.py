"""TensorBoard scalars of a training run (`--tensorboard DIR`): a `Reporter` that
writes what `fit` reports, training loss and lr at each progress record and every
validation metric, then hands each call on to the reporter it wraps.

Needs the optional `tensorboard` package (``pip install 'seqcli[tensorboard]'``);
`open_board` checks it before training starts. The event files are written by
torch's SummaryWriter, TensorBoard's own format (not through seqcli.outputs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqcli.errors import SeqcliError
from seqcli.reporting import BOOKKEEPING, Reporter, StepInfo

MISSING = (
    "--tensorboard needs the tensorboard package, an optional extra: "
    "pip install 'seqcli[tensorboard]'"
)


def check_tensorboard() -> None:
    """Raise the one-line error when TensorBoard's writer cannot be imported."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise SeqcliError(MISSING) from None


class BoardReporter:
    """Writes the scalars of `fit`'s reports under `folder`, then passes each
    report on to `inner` (the terminal's reporter)."""

    def __init__(self, folder: Path, inner: Reporter) -> None:
        check_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        if folder.exists() and not folder.is_dir():
            raise SeqcliError(f"--tensorboard {folder}: is a file; give a folder")
        try:
            self.writer = SummaryWriter(log_dir=str(folder))
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SeqcliError(
                f"--tensorboard {folder}: cannot write ({reason})"
            ) from None
        self.inner = inner

    def on_epoch_start(self, epoch: int, steps: int | None, done: int) -> None:
        self.inner.on_epoch_start(epoch, steps, done)

    def on_step(self, info: StepInfo) -> None:
        if info.log is not None:
            step = info.global_step
            self.writer.add_scalar("train/loss", float(info.log["loss"]), step)
            self.writer.add_scalar("train/lr", info.lr, step)
            self.writer.add_scalar(
                "train/tokens_per_s", float(info.log["tokens_per_s"]), step
            )
        self.inner.on_step(info)

    def on_eval(self, record: dict[str, float]) -> None:
        step = int(record.get("step", 0))
        for key, value in record.items():
            if key not in BOOKKEEPING:
                self.writer.add_scalar(f"valid/{key}", float(value), step)
        self.writer.flush()
        self.inner.on_eval(record)

    def on_message(self, text: str) -> None:
        self.inner.on_message(text)

    def close(self) -> None:
        self.writer.close()
        close: Any = getattr(self.inner, "close", None)
        if close is not None:
            close()
