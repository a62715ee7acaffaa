"""One reader per corpus format, yielding typed records with their line numbers.

Readers never tokenise or build vocabularies. Bad input raises `DataFormatError`
naming the file and line. ``-`` reads stdin; a name ending in ``.gz`` is gunzipped.
Every format reads through `lines.read_lines`, which drops a UTF-8 byte-order mark,
refuses NUL bytes and reports a closed stdin; outside this package no module opens
a text file (tests/test_read_path.py checks). Must not import torch.

lines     plain text, one record per line (what the other readers read through)
parallel  line-aligned source/target files, or a table of pairs
tables    labelled TSV, CSV and JSON Lines
conll     CoNLL columns: a token and its tags per line
vectors   word2vec/GloVe text vectors
metrics_log  a training run's metrics log (x.metrics.jsonl)

Every public name is importable from here (``from seqcli.readers import
read_table``).
"""

from seqcli.readers.conll import DOCSTART, ConllSentence, read_conll
from seqcli.readers.lines import (
    TextLine,
    display_name,
    empty_input,
    read_aligned_lines,
    read_lines,
    read_text,
    read_text_lines,
    stream_text,
)
from seqcli.readers.metrics_log import MetricsRecord, read_metrics_log
from seqcli.readers.parallel import SentencePair, read_pairs, read_parallel
from seqcli.readers.tables import (
    LABEL_NAMES,
    TABLE_FORMATS,
    TEXT_NAMES,
    LabeledText,
    looks_labelled,
    read_table,
    table_format,
)
from seqcli.readers.vectors import WordVectors, read_word_vectors

__all__ = [
    "DOCSTART",
    "LABEL_NAMES",
    "TABLE_FORMATS",
    "TEXT_NAMES",
    "ConllSentence",
    "LabeledText",
    "MetricsRecord",
    "SentencePair",
    "TextLine",
    "WordVectors",
    "display_name",
    "empty_input",
    "looks_labelled",
    "read_aligned_lines",
    "read_conll",
    "read_lines",
    "read_metrics_log",
    "read_pairs",
    "read_parallel",
    "read_table",
    "read_text",
    "read_text_lines",
    "read_word_vectors",
    "stream_text",
    "table_format",
]
