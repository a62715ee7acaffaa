"""FASTA files as labelled sequences for the classifier (DNA, RNA, protein).

A record is a header line ``>id label`` and the sequence on the lines below it,
as many as it takes (they are joined). The label comes from the header, or from
a separate labels file of ``id<TAB>label`` lines (``id label`` works too) for
FASTA files whose headers hold an identifier and a description::

    >seq1 EI                     seqs.fa + labels.tsv:  seq1<TAB>EI
    CCAGCTGCATCACAGGAGGCCAGCGAGCAGG
    TCTGTTCCAAGGGCCTTCGAGCCAGTCTG

Sequence letters are kept as written: IUPAC ambiguity codes (N, R, Y, K, M, S, W,
B, D, H, V) and gaps (``-``, ``.``) are read like A, C, G and T, and lowercase
(soft-masked) bases are lowercase characters: train with ``--lowercase`` to read
them alike. Spaces inside a line are dropped; anything else that is not a
sequence letter (a digit, a comma) is refused with its file and line.
Must not import torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from seqcli.errors import DataFormatError
from seqcli.readers import LabeledText, display_name, empty_input, read_lines

# Letters (IUPAC nucleotide and amino-acid codes), gaps, and "*" (a stop codon).
_SEQUENCE = re.compile(r"[A-Za-z.*\-]+")
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".ffn", ".faa", ".frn", ".fas")


def is_fasta(path: str | Path) -> bool:
    """A FASTA file by its extension (``.gz`` aside)."""
    suffixes = [s.lower() for s in Path(str(path)).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in FASTA_SUFFIXES


def read_labels(path: str | Path) -> dict[str, str]:
    """``id label`` lines (tab or spaces between; blank lines and ``#`` skipped)."""
    name = display_name(path)
    labels: dict[str, str] = {}
    where: dict[str, int] = {}
    for lineno, text in read_lines(path):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        fields = text.split()
        if len(fields) != 2:
            raise DataFormatError(
                f"expected 'id<TAB>label', found {len(fields)} fields", name, lineno
            )
        seq_id, label = fields
        if seq_id in labels and labels[seq_id] != label:
            raise DataFormatError(
                f"'{seq_id}' is labelled '{labels[seq_id]}' on line "
                f"{where[seq_id]} and '{label}' here",
                name,
                lineno,
            )
        labels[seq_id], where[seq_id] = label, lineno
    if not labels:
        raise DataFormatError("no labels in the file", name)
    return labels


def read_fasta(
    path: str | Path, *, labels: dict[str, str] | None = None, labels_name: str = ""
) -> Iterator[LabeledText]:
    """Yield one (sequence, label) record per FASTA entry, at its header's line.

    Args:
        labels: id -> label (from `read_labels`); then header labels are not read.
        labels_name: the labels file's name, for messages.

    Raises:
        DataFormatError: text before the first header, a header without an id or
            (with no labels file) without a label, an id the labels file lacks, a
            record without sequence, a character that is not a sequence letter.
    """
    name = display_name(path)
    header: tuple[int, str, str] | None = None  # (line, id, label)
    parts: list[str] = []
    seen = has_text = False
    for lineno, text in read_lines(path):
        line = text.strip()
        has_text = has_text or bool(line)
        if line.startswith(">"):
            if header is not None:
                yield _record(header, parts, name)
            header, parts, seen = (
                _header(line, lineno, name, labels, labels_name),
                [],
                True,
            )
            continue
        if not line or line.startswith(";"):  # blank lines, old-style comments
            continue
        if header is None:
            raise DataFormatError(
                "sequence before the first '>' header: is this a FASTA file?",
                name,
                lineno,
            )
        compact = "".join(line.split())
        bad = _SEQUENCE.sub("", compact)
        if bad:
            raise DataFormatError(
                f"'{bad[0]}' is not a sequence letter (IUPAC codes, '-', '.', '*')",
                name,
                lineno,
            )
        parts.append(compact)
    if header is not None:
        yield _record(header, parts, name)
    if not has_text:
        raise empty_input(path)
    if not seen:
        raise DataFormatError("no FASTA records ('>id label' lines)", name)


def _header(
    line: str,
    lineno: int,
    name: str,
    labels: dict[str, str] | None,
    labels_name: str,
) -> tuple[int, str, str]:
    fields = line[1:].split()
    if not fields:
        raise DataFormatError("a '>' header without an id", name, lineno)
    seq_id = fields[0]
    if labels is not None:
        if seq_id not in labels:
            raise DataFormatError(
                f"no label for '{seq_id}' in {labels_name or 'the labels file'}",
                name,
                lineno,
            )
        return lineno, seq_id, labels[seq_id]
    if len(fields) != 2:
        raise DataFormatError(
            f"expected a header '>id label', found {len(fields)} fields; "
            "or give the labels in a file (--fasta-labels)",
            name,
            lineno,
        )
    return lineno, seq_id, fields[1]


def _record(header: tuple[int, str, str], parts: list[str], name: str) -> LabeledText:
    lineno, seq_id, label = header
    if not parts:
        raise DataFormatError(f"'{seq_id}' has no sequence", name, lineno)
    return LabeledText(lineno, "".join(parts), label)
