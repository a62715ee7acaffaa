"""Smaller copies of the corpora, for the benchmarks' quick and smoke runs.

Records are taken evenly over a file rather than from its head, so that a file
sorted by label (IMDB's test set: every negative review, then every positive one)
keeps its labels in their proportions. Copies are written through seqcli's one
write path.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from seqcli.outputs import OutputFile


def spaced(path: str | Path, out: Path, records: int, *, blank_separated: bool) -> str:
    """`records` records of a corpus file (all of them if it holds fewer), evenly
    spaced over it, written to `out`: CoNLL sentences (`blank_separated`) or the
    rows of a table, whose header is kept. A name ending in .gz is read through
    gzip. Returns `out`."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        text = fh.read()
    if blank_separated:
        header, separator = "", "\n\n"
        items = [block.strip("\n") for block in text.split("\n\n") if block.strip()]
    else:
        # rows end in "\n" only: str.splitlines would also cut a review at the
        # U+0085 or U+2028 inside it, which the table reader keeps in the text
        first, _, rest = text.partition("\n")
        header, separator = first + "\n", "\n"
        items = rest.rstrip("\n").split("\n")
    if records < len(items):
        items = [items[i * len(items) // records] for i in range(records)]
    OutputFile(out, inputs={"corpus": path}).write_text(
        header + separator.join(items) + "\n"
    )
    return str(out)
