"""Distillation: `--teacher`, `--distill-weight`, `--distill-temperature` and
`--unlabeled` on train-sentiment and train-ner, and the losses they train with.

A teacher here is trained on labels that differ from the gold ones on a few texts
(`DISPUTED`), so that how far a student follows its teacher can be seen.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import assert_error, assert_ok
from test_cli_sentiment import TINY, invoke, make_rows, write_tsv

from seqcli.batching import pad_batch, with_soft_targets
from seqcli.checkpoint import load_checkpoint
from seqcli.config import RecurrentConfig
from seqcli.nn.classifier import Classifier
from seqcli.nn.tagger import Tagger
from seqcli.tasks.ner import batch_of
from seqcli.tasks.ner_data import Encoded
from seqcli.tasks.sentiment_inference import classify, load_classifier

pytestmark = pytest.mark.usefixtures("one_thread")

# Texts of one word the gold labels call "pos" and the teacher learnt as "neg".
TINY_NER = ["--emb-size", "8", "--hidden-size", "8", "--device", "cpu", "-q"]
DISPUTED = ("meh", "meh meh", "the film was meh", "meh plot", "a meh film")


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Gold files, and a teacher trained where the disputed texts are "neg"."""
    folder = tmp_path_factory.mktemp("distill")
    rows = make_rows(48, 1)
    files = {
        "train": write_tsv(folder / "train.tsv", rows + [(t, "pos") for t in DISPUTED]),
        "valid": write_tsv(folder / "valid.tsv", make_rows(16, 2)),
        "teacher_train": write_tsv(
            folder / "teacher.tsv", rows + [(t, "neg") for t in DISPUTED]
        ),
        "teacher": folder / "teacher.pt",
    }
    assert_ok(
        invoke(
            "train-sentiment", files["teacher_train"], "--valid", files["valid"],
            "--epochs", "8", "-o", files["teacher"], *TINY,
        )
    )  # fmt: skip
    return files


def teacher_share(model: Path) -> float:
    """Share of the disputed texts a model labels as the teacher does."""
    labels = classify(load_classifier(model), DISPUTED).labels
    return labels.count("neg") / len(DISPUTED)


def train_student(toy: dict[str, Path], out: Path, *extra: object) -> Path:
    result = invoke(
        "train-sentiment", toy["train"], "--valid", toy["valid"], "--epochs", "5",
        "-o", out, "--teacher", toy["teacher"], *extra, *TINY,
    )  # fmt: skip
    assert_ok(result)
    return out


def test_a_student_follows_its_teacher_more_as_the_weight_rises(
    toy: dict[str, Path], tmp_path: Path
) -> None:
    assert teacher_share(toy["teacher"]) == 1.0  # the teacher disagrees with gold
    shares = [
        teacher_share(train_student(toy, tmp_path / f"w{w}.pt", "--distill-weight", w))
        for w in (0.0, 0.5, 1.0)
    ]
    assert shares == sorted(shares), shares
    assert shares[0] < shares[-1], shares


def test_the_checkpoint_records_the_teachers_and_their_compute(
    toy: dict[str, Path], tmp_path: Path
) -> None:
    unlabeled = tmp_path / "raw.txt"
    unlabeled.write_text("good zebra film\n\nbad plot\nmeh\n", encoding="utf-8")
    out = train_student(toy, tmp_path / "s.pt", "--unlabeled", unlabeled)
    summary = load_checkpoint(out)["data"]["distill"]
    assert summary["teachers"] == [str(toy["teacher"])]
    assert summary["silver_examples"] == 3  # the blank line is no text
    assert summary["labelling_seconds"] >= 0
    # The config says what the run was: a later --resume distils again.
    stored = load_checkpoint(out)["config"]["distill"]
    assert stored["unlabeled_path"] == str(unlabeled)
    # Words only the unlabeled text has are in the student's vocabulary.
    assert "zebra" in load_checkpoint(out)["vocab"]["tokens"]


def test_unlabeled_text_teaches_what_gold_labels_do_not(
    toy: dict[str, Path], tmp_path: Path
) -> None:
    """Gold data without the disputed texts, the teacher's answers on them given
    as unlabeled text: only through it does the student learn "neg" there."""
    plain = write_tsv(tmp_path / "plain.tsv", make_rows(48, 1))
    raw = tmp_path / "raw.txt"
    raw.write_text("".join(f"{t}\n" for t in DISPUTED) * 2, encoding="utf-8")
    common = ("--valid", toy["valid"], "--epochs", "5", "--teacher", toy["teacher"])
    without, with_raw = tmp_path / "without.pt", tmp_path / "with.pt"
    assert_ok(invoke("train-sentiment", plain, *common, "-o", without, *TINY))
    assert_ok(
        invoke("train-sentiment", plain, *common, "--unlabeled", raw, "-o", with_raw,
               *TINY)
    )  # fmt: skip
    assert teacher_share(with_raw) > teacher_share(without)


def test_a_teacher_of_other_labels_is_refused(
    toy: dict[str, Path], tmp_path: Path
) -> None:
    other_rows = [(t, {"pos": "good", "neg": "bad"}[y]) for t, y in make_rows(24, 4)]
    other = write_tsv(tmp_path / "other.tsv", other_rows)
    teacher = tmp_path / "other.pt"
    assert_ok(invoke("train-sentiment", other, "--epochs", "1", "-o", teacher, *TINY))
    result = invoke(
        "train-classifier", toy["train"], "--valid", toy["valid"], "--teacher",
        teacher, "-o", tmp_path / "s.pt", *TINY,
    )  # fmt: skip
    assert_error(result, str(teacher), "bad, good", "neg, pos", "same label set")
    assert not (tmp_path / "s.pt").exists()


def test_a_run_never_overwrites_its_teacher_or_unlabeled_text(
    toy: dict[str, Path], tmp_path: Path
) -> None:
    teacher = tmp_path / "teacher.pt"
    shutil.copyfile(toy["teacher"], teacher)
    before = teacher.read_bytes()
    args = ("--valid", toy["valid"], "--teacher", toy["teacher"], "--teacher")
    result = invoke("train-sentiment", toy["train"], *args, teacher, "-o", teacher,
                    *TINY)  # fmt: skip
    assert_error(result, f"--teacher #2 {teacher}", "training would overwrite")
    assert teacher.read_bytes() == before
    raw = tmp_path / "raw.pt"
    raw.write_text("good\n", encoding="utf-8")
    result = invoke("train-sentiment", toy["train"], "--teacher", toy["teacher"],
                    "--unlabeled", raw, "-o", raw, *TINY)  # fmt: skip
    assert_error(result, f"--unlabeled {raw}", "training would overwrite")
    assert raw.read_text(encoding="utf-8") == "good\n"


def test_a_teacher_of_another_task_is_refused(
    toy: dict[str, Path], ner_model: Path, ner_files: dict[str, Path], tmp_path: Path
) -> None:
    result = invoke(
        "train-sentiment", toy["train"], "--valid", toy["valid"], "--teacher",
        ner_model, "--dry-run", *TINY,
    )  # fmt: skip
    assert_error(result, "this is a ner checkpoint", "--teacher needs a sentiment")
    result = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"], "--teacher",
        toy["teacher"], "--dry-run", *TINY_NER,
    )  # fmt: skip
    assert_error(result, "this is a sentiment checkpoint", "--teacher needs a ner")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--distill-weight", "1.5"), "--distill-weight"),
        (("--distill-temperature", "0"), "--distill-temperature must be above 0"),
    ],
    ids=["weight", "temperature"],
)
def test_bad_distillation_settings_are_one_line(
    toy: dict[str, Path], args: tuple[str, ...], fragment: str
) -> None:
    result = invoke(
        "train-sentiment", toy["train"], "--teacher", toy["teacher"], *args,
        "--dry-run", *TINY,
    )  # fmt: skip
    assert_error(result, fragment)


def test_unlabeled_text_needs_a_teacher(toy: dict[str, Path]) -> None:
    result = invoke(
        "train-sentiment", toy["train"], "--unlabeled", toy["train"], "--dry-run",
        *TINY,
    )  # fmt: skip
    assert_error(result, "--unlabeled", "needs teachers")


# --- tagging ---------------------------------------------------------------------
def test_a_tagger_distils_from_a_crf_teacher_end_to_end(
    ner_model: Path, ner_files: dict[str, Path], tmp_path: Path
) -> None:
    """A softmax student of the CRF tagger, with unlabeled sentences; then the
    student tags text."""
    raw = tmp_path / "raw.txt"
    raw.write_text("Ann lives in Quuxville .\nthe EU hired Bo\n", encoding="utf-8")
    out = tmp_path / "student.pt"
    result = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"], "--teacher",
        ner_model, "--unlabeled", raw, "--decoder", "softmax", "--epochs", "2",
        "--emb-size", "8", "--hidden-size", "8", "--batch-size", "8", "-o", out,
        "--device", "cpu", "-q",
    )  # fmt: skip
    assert_ok(result)
    stored = load_checkpoint(out)
    assert stored["data"]["distill"]["silver_examples"] == 2
    assert "quuxville" in stored["vocab"]["tokens"]  # words are looked up lowercased
    assert "Q" in stored["vocab"]["chars"]
    tagged = invoke("tag", "-", "-m", out, "--format", "json", input="Ann lives\n")
    assert_ok(tagged)
    assert json.loads(tagged.stdout.splitlines()[0])["tokens"] == ["Ann", "lives"]


def test_a_ner_teacher_of_another_tag_scheme_is_refused(
    ner_model: Path, ner_files: dict[str, Path], tmp_path: Path
) -> None:
    result = invoke(
        "train-ner", ner_files["train"], "--valid", ner_files["valid"], "--teacher",
        ner_model, "--train-scheme", "iob2", "--dry-run", *TINY_NER,
    )  # fmt: skip
    assert_error(result, str(ner_model), "its tags", "same label set")


# --- the losses ------------------------------------------------------------------
def _tagger_batch(**kwargs: object) -> tuple[Tagger, object]:
    torch.manual_seed(0)
    cfg = RecurrentConfig(emb_size=8, hidden_size=8, num_layers=1, dropout=0.0)
    net = Tagger(12, 5, cfg, char_vocab=10, **kwargs).eval()
    words = [[3, 4, 5, 6], [7, 8], [9]]
    encoded = Encoded(
        words, [[[4, 5]] * len(w) for w in words], [[1] * len(w) for w in words]
    )
    batch = batch_of(encoded, range(3), [[1, 2, 3, 4], [0, 1], [2]])
    return net, batch


@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_a_tagger_whose_marginals_are_its_teachers_has_no_soft_loss(
    decoder: str,
) -> None:
    net, batch = _tagger_batch(decoder=decoder)
    temperature = 2.0
    own = net.marginals(batch, temperature=temperature)  # (batch, time, tags)
    soft = [own[i, :n] for i, n in enumerate(batch.mask.sum(1).tolist())]
    taught = with_soft_targets(
        batch, soft, [True] * 3, weight=1.0, temperature=temperature
    )
    assert float(net.loss(taught)) == pytest.approx(0.0, abs=1e-4)
    flat = [torch.full_like(p, 1 / p.size(-1)) for p in soft]
    other = with_soft_targets(batch, flat, [True] * 3, weight=1.0, temperature=2.0)
    assert float(net.loss(other)) > 1e-3
    # Weight 0: the gold loss alone, exactly as without teachers.
    gold_only = with_soft_targets(batch, flat, [True] * 3, weight=0.0, temperature=2.0)
    assert float(net.loss(gold_only)) == pytest.approx(float(net.loss(batch)))


def test_a_classifier_row_without_gold_learns_from_the_teacher_alone() -> None:
    torch.manual_seed(0)
    cfg = RecurrentConfig(emb_size=8, hidden_size=8, num_layers=1, dropout=0.0)
    net = Classifier(10, 3, cfg).eval()
    batch = pad_batch([[2, 3, 4], [5, 6]], targets=[0, 1])
    own = (net.logits(batch) / 3.0).softmax(-1).detach()
    taught = with_soft_targets(batch, list(own), [True, True], weight=1.0,
                               temperature=3.0)  # fmt: skip
    assert float(net.loss(taught)) == pytest.approx(0.0, abs=1e-5)
    # A silver row ignores the weight and its placeholder label: its loss is the
    # soft term, 0 here, whatever the weight; the gold row adds (1 - w) x CE.
    silver = with_soft_targets(batch, list(own), [True, False], weight=0.5,
                               temperature=3.0)  # fmt: skip
    gold_row = torch.nn.functional.cross_entropy(
        net.logits(batch)[:1], batch.targets[:1]
    )
    assert float(net.loss(silver)) == pytest.approx(float(gold_row) * 0.5 / 2, rel=1e-4)
