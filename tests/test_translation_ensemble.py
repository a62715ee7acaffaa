"""Translation ensembles (`translate`/`evaluate` with several -m) and sequence-level
distillation (`train-translate --teacher`), on the toy copying task.

The models are tiny and trained for a few epochs: the ensemble checks compare an
ensemble with its own members, so they need no well-trained model, and the
distillation check compares two students of the same size and budget.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import assert_error, assert_ok, copy_pairs
from typer.testing import CliRunner, Result

from seqcli.checkpoint import load_checkpoint, save_checkpoint
from seqcli.cli import app
from seqcli.config import RecurrentConfig, TrainConfig, TranslationConfig
from seqcli.nn.ensemble import EnsembleStepper, mean_of_distributions
from seqcli.tasks import translation_distill
from seqcli.tasks.translation import train_translation
from seqcli.tasks.translation_distill import teacher_cache_path
from seqcli.tasks.translation_inference import (
    load_translator,
    load_translators,
    score_outputs,
    sequence_log_probs,
    translate,
)

pytestmark = pytest.mark.usefixtures("one_thread")

LINES = ["a b c", "h g", "d d e f", "b"]


def invoke(*args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def small_config(src: Path, tgt: Path, files: dict[str, Path], out: Path, **kw: object):
    cfg = TranslationConfig(
        src_path=str(src),
        tgt_path=str(tgt),
        valid_src_path=str(files["valid_src"]),
        valid_tgt_path=str(files["valid_tgt"]),
        out=str(out),
        batch_tokens=80,
        label_smoothing=0.0,
        show_examples=0,
        select="loss",
        model=RecurrentConfig(
            cell="gru", emb_size=16, hidden_size=32, num_layers=1, dropout=0.0
        ),
        train=TrainConfig(
            epochs=4,
            lr=0.01,
            clip=1.0,
            early_stop=0,
            seed=1,
            device="cpu",
            num_threads=1,
            save_every=60.0,
        ),  # fmt: skip
    )
    cfg.tokenizer.min_freq = 1
    for key, value in kw.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture(scope="module")
def teacher(
    copy_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A small copying model (source letters -> the same letters upper-cased)."""
    out = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    files = copy_corpus
    cfg = small_config(files["train_src"], files["train_tgt"], files, out)
    cfg.train.epochs = 8
    return train_translation(cfg).path


@pytest.fixture(scope="module")
def twin(teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second file holding the same model."""
    return Path(shutil.copy(teacher, tmp_path_factory.mktemp("twin") / "twin.pt"))


# --- the ensemble of steppers -----------------------------------------------------
def test_the_mixture_of_equal_distributions_is_that_distribution() -> None:
    log_probs = torch.randn(3, 7).log_softmax(-1)
    mixed = mean_of_distributions([log_probs, log_probs])
    torch.testing.assert_close(mixed, log_probs)


def test_the_mixture_is_the_mean_of_the_probabilities() -> None:
    a, b = torch.randn(2, 5).log_softmax(-1), torch.randn(2, 5).log_softmax(-1)
    mixed = mean_of_distributions([a, b])
    torch.testing.assert_close(mixed.exp(), (a.exp() + b.exp()) / 2)
    torch.testing.assert_close(mixed.exp().sum(-1), torch.ones(2))


def test_an_ensemble_needs_two_members(teacher: Path) -> None:
    with pytest.raises(ValueError, match="two members"):
        EnsembleStepper([load_translator(teacher).network])


@pytest.mark.parametrize("beam", [1, 3])
def test_two_copies_of_one_model_decode_as_that_model(
    teacher: Path, twin: Path, beam: int
) -> None:
    single = translate(load_translator(teacher), LINES, beam=beam, n_best=beam)
    both = load_translators([teacher, twin])
    assert isinstance(both.network, EnsembleStepper)
    pair = translate(both, LINES, beam=beam, n_best=beam)
    assert [t.texts for t in pair] == [t.texts for t in single]
    for one, two in zip(single, pair, strict=True):
        for h1, h2 in zip(one.hypotheses, two.hypotheses, strict=True):
            assert h2.ids == h1.ids
            assert h2.log_prob == pytest.approx(h1.log_prob, abs=1e-4)


def test_an_ensemble_scores_a_sequence_as_its_identical_members_do(
    teacher: Path, twin: Path
) -> None:
    one, both = load_translator(teacher), load_translators([teacher, twin])
    sources = [one.encode_src(line) for line in LINES]
    outputs = [one.encode_tgt(line.upper()) for line in LINES]
    expected = sequence_log_probs(one, sources, outputs)
    got = sequence_log_probs(both, sources, outputs)
    assert got == pytest.approx(expected, abs=1e-4)


def test_translate_with_two_models_prints_what_one_prints(
    teacher: Path, twin: Path
) -> None:
    text = "".join(f"{line}\n" for line in LINES)
    alone = invoke("translate", "-", "-m", teacher, "--beam", "3", input=text)
    together = invoke(
        "translate", "-", "-m", teacher, "-m", twin, "--beam", "3", input=text
    )
    assert_ok(alone)
    assert_ok(together)
    assert together.stdout == alone.stdout
    assert len(together.stdout.splitlines()) == len(LINES)


def test_evaluate_scores_an_ensemble_of_translation_models(
    teacher: Path, twin: Path, copy_corpus: dict[str, Path]
) -> None:
    data = (copy_corpus["valid_src"], copy_corpus["valid_tgt"])
    alone = invoke("evaluate", *data, "-m", teacher, "--json")
    together = invoke("evaluate", *data, "-m", teacher, "-m", twin, "--json")
    assert_ok(alone)
    assert_ok(together)
    one, two = json.loads(alone.stdout), json.loads(together.stdout)
    assert two["metrics"]["bleu"] == pytest.approx(one["metrics"]["bleu"])
    assert two["metrics"]["ppl"] == pytest.approx(one["metrics"]["ppl"], rel=1e-4)


# --- refusals -----------------------------------------------------------------------
def test_a_member_with_another_target_vocabulary_is_refused(
    teacher: Path, tmp_path: Path
) -> None:
    data = load_checkpoint(teacher)
    tgt = list(data["vocab"]["tgt"])
    tgt[-1], tgt[-2] = tgt[-2], tgt[-1]  # same words, other ids
    other = tmp_path / "other.pt"
    save_checkpoint(other, {**data, "vocab": {**data["vocab"], "tgt": tgt}})
    result = invoke("translate", "-", "-m", teacher, "-m", other, input="a b\n")
    assert_error(result, str(other), "target vocabulary", str(teacher))


def test_a_member_that_is_not_a_translation_model_is_refused(
    teacher: Path, copy_corpus: dict[str, Path], tmp_path: Path
) -> None:
    data = load_checkpoint(teacher)
    lm = tmp_path / "lm.pt"
    save_checkpoint(lm, {**data, "task": "lm"})
    result = invoke("translate", "-", "-m", teacher, "-m", lm, input="a b\n")
    assert_error(result, str(lm), "lm")
    files = (copy_corpus["valid_src"], copy_corpus["valid_tgt"])
    result = invoke("evaluate", *files, "-m", teacher, "-m", lm)
    assert_error(result, str(lm), "lm")


def test_a_teacher_that_is_not_a_translation_model_is_refused(
    teacher: Path, copy_corpus: dict[str, Path], tmp_path: Path
) -> None:
    lm = tmp_path / "lm.pt"
    save_checkpoint(lm, {**load_checkpoint(teacher), "task": "lm"})
    files = copy_corpus
    result = invoke(
        "train-translate", files["train_src"], files["train_tgt"],
        "--valid-src", files["valid_src"], "--valid-tgt", files["valid_tgt"],
        "--teacher", lm, "--dry-run", "-o", tmp_path / "student.pt",
    )  # fmt: skip
    assert_error(result, "lm")


def test_the_output_may_not_be_a_teacher(
    teacher: Path, copy_corpus: dict[str, Path]
) -> None:
    files = copy_corpus
    result = invoke(
        "train-translate", files["train_src"], files["train_tgt"],
        "--valid-src", files["valid_src"], "--valid-tgt", files["valid_tgt"],
        "--teacher", teacher, "--dry-run", "-o", teacher,
    )  # fmt: skip
    assert_error(result, "--teacher")


# --- distillation -----------------------------------------------------------------
@pytest.fixture(scope="module")
def reversed_refs(
    copy_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """References that differ from the teacher's outputs: the upper-cased letters
    in reverse order."""
    path = tmp_path_factory.mktemp("reversed") / "train.rev"
    lines = copy_corpus["train_src"].read_text(encoding="utf-8").splitlines()
    path.write_text(
        "".join(" ".join(reversed(x.upper().split())) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def _closeness(student: Path, teacher_outputs: list[str], sources: list[str]) -> float:
    """chrF of a student's outputs against the teacher's (the teacher's outputs
    as the references): how closely the student reproduces its teacher."""
    found = translate(load_translator(student), sources, beam=1)
    return score_outputs([t.texts[0] for t in found], teacher_outputs)["chrf"]


def test_a_distilled_student_follows_its_teacher_more_than_the_references(
    teacher: Path,
    reversed_refs: Path,
    copy_corpus: dict[str, Path],
    tmp_path: Path,
) -> None:
    files = copy_corpus
    sources = [s for s, _ in copy_pairs(30, 7)]
    taught = [t.texts[0] for t in translate(load_translator(teacher), sources, beam=1)]
    assert any(t != " ".join(reversed(t.split())) for t in taught)  # they differ
    gold = small_config(files["train_src"], reversed_refs, files, tmp_path / "g.pt")
    distilled = small_config(
        files["train_src"],
        reversed_refs,
        files,
        tmp_path / "d.pt",
        teachers=[str(teacher)],
        distill_beam=2,
    )
    gold_path = train_translation(gold).path
    distilled_path = translation_distill.train_distilled(distilled).path
    assert _closeness(distilled_path, taught, sources) > _closeness(
        gold_path, taught, sources
    )
    cache = teacher_cache_path(distilled_path)
    records = [json.loads(line) for line in cache.read_text("utf-8").splitlines()]
    srcs = files["train_src"].read_text(encoding="utf-8").splitlines()
    assert [r["src"] for r in records] == srcs


def test_with_references_the_student_learns_both(
    teacher: Path,
    reversed_refs: Path,
    copy_corpus: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The student's training pairs: the teachers' then the original ones."""
    from seqcli.readers import read_parallel

    files = copy_corpus
    pairs = read_parallel(files["train_src"], reversed_refs)[:5]
    monkeypatch.setattr(
        translation_distill,
        "teacher_translations",
        lambda cfg, sources, **_: [f"T{i}" for i in range(len(sources))],
    )
    cfg = small_config(
        files["train_src"], reversed_refs, files, tmp_path / "s.pt",
        teachers=[str(teacher)], distill_with_references=True,
    )  # fmt: skip
    got = translation_distill.distilled_pairs(cfg, pairs)
    assert [p.tgt for p in got] == [f"T{i}" for i in range(5)] + [p.tgt for p in pairs]
    assert [p.src for p in got] == [p.src for p in pairs] * 2


def test_a_resumed_student_reads_the_cached_teacher_translations(
    teacher: Path,
    copy_corpus: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    files = copy_corpus
    out = tmp_path / "student.pt"
    common = [
        files["train_src"], files["train_tgt"],
        "--valid-src", files["valid_src"], "--valid-tgt", files["valid_tgt"],
        "--emb-size", "8", "--hidden-size", "8", "--min-freq", "1",
        "--device", "cpu", "--threads", "1", "-q", "-o", out,
    ]  # fmt: skip
    first = invoke("train-translate", *common, "--teacher", teacher, "--epochs", "1")
    assert_ok(first)
    cache = teacher_cache_path(out)
    written = cache.read_bytes()

    def no_teaching(*args: object, **kwargs: object) -> list[str]:
        raise AssertionError("the resumed run translated again")

    monkeypatch.setattr(translation_distill, "teacher_translations", no_teaching)
    again = invoke("train-translate", *common, "--resume", "--epochs", "2")
    assert_ok(again)
    assert cache.read_bytes() == written
    progress = load_checkpoint(out.with_suffix(".last.pt"))["train_state"]["progress"]
    assert progress["epoch"] > 2
