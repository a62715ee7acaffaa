"""The exceptions seqcli raises for problems a user can fix. Must not import torch.

Every message is one line a user can act on; the CLI prints it as `error: ...` and
exits with code 2. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


def a_or_an(word: str) -> str:
    """`word` with its indefinite article, as a message says it: "an lm
    checkpoint", "a ner checkpoint", "an embeddings checkpoint"."""
    spoken_vowel = word[:1].lower() in set("aeiou") or word.lower() == "lm"
    return f"{'an' if spoken_vowel else 'a'} {word}"


class SeqcliError(Exception):
    """Base class: a problem with the user's input, files or settings."""


class ConfigError(SeqcliError):
    """An unknown key, a wrong type or an impossible value in the configuration."""


class DataFormatError(SeqcliError):
    """A data file that cannot be read as the expected format.

    The message starts with ``file:line:`` when the place is known, as compilers do,
    so that editors and terminals can jump to it.
    """

    def __init__(
        self, message: str, path: str | Path | None = None, line: int | None = None
    ):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")


class CheckpointError(SeqcliError):
    """A checkpoint that is missing, damaged, of another task or format."""


class OutputError(SeqcliError):
    """An output path a run cannot use: one of its inputs, held by another run, or
    in a place that cannot be written."""


class TrainingDiverged(SeqcliError):
    """The training loss became inf or NaN; what was saved before is kept."""

    def __init__(self, message: str, step: int):
        self.step = step
        super().__init__(message)
