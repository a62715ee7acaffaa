"""DNA classification: FASTA input (`seqcli.fasta`), IUPAC codes, the
`train-classifier` alias of `train-sentiment`, bases read alike in either case.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok
from typer.testing import CliRunner, Result

from seqcli.cli import COMMANDS, app
from seqcli.errors import DataFormatError
from seqcli.fasta import is_fasta, read_fasta, read_labels

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--level", "char", "--emb-size", "8", "--hidden-size", "8", "--dropout", "0"]
TINY += ["--batch-size", "8", "--epochs", "1", "--device", "cpu", "-q"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- reading FASTA ---------------------------------------------------------------
def test_headers_with_labels_and_multi_line_sequences(tmp_path: Path) -> None:
    fasta = write(
        tmp_path / "a.fa",
        ">s1 EI\nACGTAC\nGTNNRY\n\n>s2 N\n; an old-style comment\nacgt acgt\n"
        ">s3 IE\nTTAG\n",
    )
    records = list(read_fasta(fasta))
    assert [(r.lineno, r.text, r.label) for r in records] == [
        (1, "ACGTACGTNNRY", "EI"),  # two lines joined, IUPAC codes kept
        (5, "acgtacgt", "N"),  # case kept (the tokenizer's --lowercase decides)
        (8, "TTAG", "IE"),
    ]


def test_labels_from_a_separate_file(tmp_path: Path) -> None:
    fasta = write(tmp_path / "a.fasta", ">s1 from chr1\nACGT\n>s2 from chr2\nGGCC\n")
    labels = write(tmp_path / "labels.tsv", "# id label\ns2\tN\ns1\tEI\n")
    records = list(read_fasta(fasta, labels=read_labels(labels)))
    assert [(r.text, r.label) for r in records] == [("ACGT", "EI"), ("GGCC", "N")]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("ACGT\n>s1 N\nACGT\n", 1, "before the first '>' header"),
        (">s1 N\nACGT\n>s2\nACGT\n", 3, "expected a header '>id label'"),
        (">s1 N\nAC1GT\n", 2, "'1' is not a sequence letter"),
        (">s1 N\n>s2 N\nACGT\n", 1, "'s1' has no sequence"),
        (">\nACGT\n", 1, "without an id"),
    ],
)
def test_bad_fasta_is_an_error_naming_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    fasta = write(tmp_path / "bad.fa", text)
    with pytest.raises(DataFormatError) as caught:
        list(read_fasta(fasta))
    assert f"bad.fa:{line}:" in str(caught.value)
    assert fragment in str(caught.value)


def test_an_id_missing_from_the_labels_file(tmp_path: Path) -> None:
    fasta = write(tmp_path / "a.fa", ">s1\nACGT\n>s9\nACGT\n")
    labels = read_labels(write(tmp_path / "l.tsv", "s1 N\n"))
    with pytest.raises(DataFormatError, match=r"a\.fa:3: .*no label for 's9'"):
        list(read_fasta(fasta, labels=labels, labels_name="l.tsv"))


def test_a_labels_file_must_agree_with_itself(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"l\.tsv:2: .*'EI' on line 1"):
        read_labels(write(tmp_path / "l.tsv", "s1\tEI\ns1\tIE\n"))


def test_fasta_is_told_by_its_extension() -> None:
    assert is_fasta("x.fa") and is_fasta("x.FASTA.gz") and is_fasta("x.fna")
    assert not is_fasta("x.tsv") and not is_fasta("-")


# --- training ---------------------------------------------------------------------
MOTIFS = {"EI": "GTAAGT", "IE": "TTTCAG", "N": "CCACCA"}


def dna_records(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(MOTIFS)[i % 3]
        left = "".join(rng.choices("ACGT", k=7))
        right = "".join(rng.choices("ACGT", k=7))
        rows.append((left + MOTIFS[label] + right, label))
    return rows


def test_train_classifier_is_train_sentiment_on_fasta(tmp_path: Path) -> None:
    assert COMMANDS["train-classifier"] == COMMANDS["train-sentiment"]
    train = "".join(
        f">t{i} {label}\n{seq[:10]}\n{seq[10:].lower()}\n"
        for i, (seq, label) in enumerate(dna_records(24, 1))
    )
    valid = "".join(
        f">v{i} {lab}\n{seq}\n" for i, (seq, lab) in enumerate(dna_records(6, 2))
    )
    files = [write(tmp_path / "train.fa", train), write(tmp_path / "valid.fa", valid)]
    out = tmp_path / "dna.pt"
    args = [files[0], "--valid", files[1], "--lowercase", "-o", out, *TINY]
    result = invoke("train-classifier", *args)
    assert_ok(result)
    assert out.exists()
    # IUPAC codes that training never saw are read (as <unk>), in either case.
    queries = write(tmp_path / "q.txt", "ACGTNNRYKMSWBDHV\nacgtnnrykmswbdhv\n")
    classified = invoke("classify", queries, "-m", out, "--probs")
    assert_ok(classified)
    upper, lower = classified.stdout.splitlines()
    assert upper == lower  # --lowercase reads both cases alike


def test_train_classifier_help_is_train_sentiment_help() -> None:
    alias = invoke("train-classifier", "--help")
    assert_ok(alias)
    assert "Usage: seqcli train-classifier" in alias.stdout
    for fragment in ("--fasta-labels", "--pooling", "FASTA"):
        assert fragment in alias.stdout


def test_fasta_labels_flag_and_its_errors(tmp_path: Path) -> None:
    rows = dna_records(12, 3)
    fasta = write(
        tmp_path / "seqs.fa", "".join(f">r{i}\n{s}\n" for i, (s, _) in enumerate(rows))
    )
    labels = write(
        tmp_path / "labels.tsv",
        "".join(f"r{i}\t{lab}\n" for i, (_, lab) in enumerate(rows)),
    )
    ok = invoke("train-classifier", fasta, "--fasta-labels", labels, "--dry-run")
    assert_ok(ok)
    assert "labels EI 3, IE 3, N 3" in ok.stderr  # 3 held out
    missing = invoke("train-classifier", fasta, "--dry-run", *TINY)
    assert_error(missing, "seqs.fa:1:", "'>id label'", "--fasta-labels")


def test_format_fasta_reads_a_file_of_any_name(tmp_path: Path) -> None:
    rows = dna_records(12, 4)
    data = write(
        tmp_path / "seqs.txt",
        "".join(f">r{i} {lab}\n{s}\n" for i, (s, lab) in enumerate(rows)),
    )
    assert_ok(invoke("train-classifier", data, "--format", "fasta", "--dry-run"))
    assert_error(
        invoke("train-classifier", data, "--dry-run"), "seqs.txt:1:", "one column"
    )


def test_position_embeddings_tell_where_a_motif_is() -> None:
    """--position-size: the encoder reads a learnt embedding of each position
    beside the token's (what a splice site needs: a motif at the centre); texts
    longer than the table share its last row."""
    import torch

    from seqcli.batching import pad_batch
    from seqcli.config import RecurrentConfig
    from seqcli.nn.classifier import MAX_POSITIONS, Classifier

    torch.manual_seed(0)
    cfg = RecurrentConfig(
        emb_size=4, hidden_size=6, num_layers=1, dropout=0.0, bidirectional=True
    )
    network = Classifier(10, 3, cfg, position_size=5).eval()
    assert network.encoder.rnn.weight_ih_l0.shape[1] == 4 + 5
    batch = pad_batch([[4, 5, 6]])
    before = network.logits(batch)
    with torch.no_grad():
        network.positions.weight[1] += 1.0  # change what position 2 means
    assert not torch.allclose(network.logits(batch), before)
    long = pad_batch([[4] * (MAX_POSITIONS + 5)])  # past the table: the last row
    assert network.logits(long).shape == (1, 3)
