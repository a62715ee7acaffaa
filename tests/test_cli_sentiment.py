"""`seqcli train-sentiment`, `classify` and `evaluate` through Typer's CliRunner.

One tiny classifier is trained through the CLI once per module and shared; the
error tests write their own broken files.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
from conftest import assert_error, assert_ok
from typer.testing import CliRunner, Result

from seqcli.checkpoint import load_checkpoint
from seqcli.cli import app

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--emb-size", "8", "--hidden-size", "16", "--dropout", "0"]
TINY += ["--lr", "0.05", "--batch-size", "8", "--device", "cpu", "-q"]
# Without -q: the notes a quiet run drops ("resuming X", "continuing with ...").
TINY_NOTES = [flag for flag in TINY if flag != "-q"]
POSITIVE = ("good", "great", "fine")
NEGATIVE = ("bad", "awful", "poor")
FILLER = ("the", "film", "plot", "was", "a")


def make_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """Short texts whose label is given by one sentiment word among fillers."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ("neg", "pos")[i % 2]
        word = rng.choice(POSITIVE if label == "pos" else NEGATIVE)
        words = rng.choices(FILLER, k=rng.randint(0, 4))
        words.insert(rng.randint(0, len(words)), word)
        rows.append((" ".join(words), label))
    return rows


def write_tsv(
    path: Path, rows: list[tuple[str, str]], header: str = "text\tlabel"
) -> Path:
    body = "".join(f"{text}\t{label}\n" for text, label in rows)
    path.write_text(f"{header}\n{body}", encoding="utf-8")
    return path


def invoke(*args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sentiment")
    files = {
        "train": write_tsv(folder / "train.tsv", make_rows(48, 1)),
        "valid": write_tsv(folder / "valid.tsv", make_rows(16, 2)),
        "test": write_tsv(folder / "test.tsv", make_rows(16, 3)),
    }
    out = folder / "clf.pt"
    result = invoke(
        "train-sentiment", files["train"], "--valid", files["valid"],
        "--test", files["test"], "--epochs", "8", "-o", out, *TINY,
    )  # fmt: skip
    assert_ok(result)
    assert result.stdout.strip() == str(out)
    return {**files, "model": out, "folder": folder}


def test_trained_model_learns_the_fixture(trained: dict[str, Path]) -> None:
    texts = "\n".join(["a great film", "the plot was awful"]) + "\n"
    result = invoke("classify", "-", "-m", trained["model"], input=texts)
    assert_ok(result)
    assert result.stdout.splitlines() == ["pos", "neg"]


def test_classify_and_evaluate_agree(trained: dict[str, Path]) -> None:
    rows = [line.split("\t") for line in trained["test"].read_text().splitlines()[1:]]
    texts = trained["folder"] / "texts.txt"
    texts.write_text("".join(f"{text}\n" for text, _ in rows), encoding="utf-8")
    classified = invoke("classify", texts, "-m", trained["model"])
    assert_ok(classified)
    predicted = classified.stdout.splitlines()
    assert len(predicted) == len(rows)
    hits = sum(p == gold for p, (_, gold) in zip(predicted, rows, strict=True))
    evaluated = invoke("evaluate", trained["test"], "-m", trained["model"], "--json")
    assert_ok(evaluated)
    report = json.loads(evaluated.stdout)
    assert report["metrics"]["accuracy"] == pytest.approx(100 * hits / len(rows))
    assert report["metrics"]["examples"] == len(rows)
    confusion = report["confusion"]
    assert sum(confusion[g][g] for g in confusion) == hits
    for label in ("neg", "pos"):
        assert report["per_class"][label]["support"] == len(rows) // 2


def test_evaluate_prints_tables(trained: dict[str, Path]) -> None:
    result = invoke("evaluate", trained["test"], "-m", trained["model"])
    assert_ok(result)
    for word in ("accuracy", "macro_f1", "precision", "recall", "confusion"):
        assert word in result.stdout


def test_scores_are_percent_in_text_and_json(trained: dict[str, Path]) -> None:
    """One convention (README): percent, two decimals in text, unrounded in JSON."""
    args = ("evaluate", trained["test"], "-m", trained["model"])
    metrics = json.loads(invoke(*args, "--json").stdout)["metrics"]
    assert 50.0 <= metrics["accuracy"] <= 100.0  # percent, not a fraction
    text = invoke(*args).stdout
    for name in ("accuracy", "macro_f1"):
        assert re.search(rf"{name}\W+{metrics[name]:.2f}\b", text), text
    summary = invoke(
        "train-sentiment", trained["train"], "--valid", trained["valid"],
        "--epochs", "1", "-o", trained["folder"] / "one.pt", *TINY_NOTES,
    )  # fmt: skip
    assert_ok(summary)
    line = next(x for x in summary.stderr.splitlines() if x.startswith("valid:"))
    assert re.fullmatch(r"valid: accuracy \d+\.\d\d  macro_f1 \d+\.\d\d", line)


def test_classify_probs_and_json(trained: dict[str, Path]) -> None:
    text = "a good film\nbad\n"
    probs = invoke("classify", "-", "-m", trained["model"], "--probs", input=text)
    assert_ok(probs)
    for line in probs.stdout.splitlines():
        label, *scores = line.split("\t")
        values = dict(score.split(":") for score in scores)
        assert set(values) == {"neg", "pos"}
        assert sum(map(float, values.values())) == pytest.approx(1.0, abs=1e-3)
        assert label == max(values, key=lambda c: float(values[c]))
    as_json = invoke(
        "classify", "-", "-m", trained["model"], "--json", "--probs", input=text
    )
    assert_ok(as_json)
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["label"] for r in records] == probs.stdout.split()[::3]
    assert set(records[0]["probs"]) == {"neg", "pos"}
    plain_json = invoke("classify", "-", "-m", trained["model"], "--json", input=text)
    assert "probs" not in json.loads(plain_json.stdout.splitlines()[0])


def test_classify_json_gives_the_labels_probability(trained: dict[str, Path]) -> None:
    text = "a good film\n\nbad\n"
    args = ("classify", "-", "-m", trained["model"], "--json")
    plain, full = invoke(*args, input=text), invoke(*args, "--probs", input=text)
    assert_ok(plain)
    assert_ok(full)
    records = [json.loads(line) for line in plain.stdout.splitlines()]
    with_probs = [json.loads(line) for line in full.stdout.splitlines()]
    assert records[1] == {"label": None, "score": None}  # the blank line
    for record, other in zip(records, with_probs, strict=True):
        if record["label"] is None:
            continue
        assert record["score"] == other["probs"][record["label"]]
        assert record["score"] == max(other["probs"].values())
        assert 0.5 <= record["score"] <= 1.0  # two classes: the winner's share


def test_classify_defaults_to_the_newest_checkpoint(
    trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "models").mkdir()
    shutil.copy(trained["model"], tmp_path / "models" / "clf.pt")
    monkeypatch.chdir(tmp_path)
    result = invoke("classify", "-", input="great\n")
    assert_ok(result)
    assert "using models/clf.pt" in result.stderr
    assert result.stdout.strip() in ("pos", "neg")


def probs_of(*models: Path, text: str) -> list[dict[str, float]]:
    args = [a for m in models for a in ("-m", m)]
    result = invoke("classify", "-", *args, "--json", "--probs", input=text)
    assert_ok(result)
    return [json.loads(line)["probs"] for line in result.stdout.splitlines()]


def test_an_ensemble_averages_its_members(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    other = tmp_path / "other.pt"
    result = invoke(
        "train-sentiment", trained["train"], "--valid", trained["valid"],
        "--epochs", "2", "--seed", "7", "--pooling", "mean", "-o", other, *TINY,
    )  # fmt: skip
    assert_ok(result)
    text = "a good film\nthe plot was bad\nthe film\n"
    first, second = probs_of(trained["model"], text=text), probs_of(other, text=text)
    both = probs_of(trained["model"], other, text=text)
    for a, b, mean in zip(first, second, both, strict=True):
        for label in ("neg", "pos"):
            assert mean[label] == pytest.approx((a[label] + b[label]) / 2, abs=1e-6)
    # evaluate scores the same ensemble that classify runs
    rows = [line.split("\t") for line in trained["test"].read_text().splitlines()[1:]]
    texts = "".join(f"{t}\n" for t, _ in rows)
    labels = [max(p, key=p.get) for p in probs_of(trained["model"], other, text=texts)]
    hits = sum(p == gold for p, (_, gold) in zip(labels, rows, strict=True))
    evaluated = invoke(
        "evaluate", trained["test"], "-m", trained["model"], "-m", other, "--json"
    )
    assert_ok(evaluated)
    assert json.loads(evaluated.stdout)["metrics"]["accuracy"] == pytest.approx(
        100 * hits / len(rows)
    )


def test_ensemble_members_must_share_labels(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    rows = [(text, {"pos": "good", "neg": "bad"}[y]) for text, y in make_rows(24, 4)]
    train = write_tsv(tmp_path / "train.tsv", rows)
    other = tmp_path / "other.pt"
    args = ("--valid", train, "--epochs", "1", "-o", other, *TINY)
    assert_ok(invoke("train-sentiment", train, *args))
    result = invoke("classify", "-", "-m", trained["model"], "-m", other, input="x\n")
    assert_error(result, "ensemble model 2", "share one label set")


def test_language_models_do_not_form_ensembles(tmp_path: Path) -> None:
    lm = tmp_path / "lm.pt"
    text = tmp_path / "text.txt"
    text.write_text("the cat sat\nthe dog ran\n" * 20, encoding="utf-8")
    tiny_lm = ("--emb-size", "8", "--hidden-size", "8", "--num-layers", "1")
    args = ("--epochs", "1", "--batch-size", "4", "--bptt", "5", "-q", "-o", lm)
    assert_ok(invoke("train-lm", text, *tiny_lm, *args))
    result = invoke("evaluate", text, "-m", lm, "-m", lm)
    assert_error(result, "only classifiers, taggers and translation models form")


def test_evaluate_names_unseen_labels(trained: dict[str, Path], tmp_path: Path) -> None:
    rows = [("good", "pos"), ("meh", "neutral"), ("so so", "neutral"), ("hm", "mixed")]
    data = write_tsv(tmp_path / "new.tsv", rows)
    result = invoke("evaluate", data, "-m", trained["model"])
    assert_error(result, f"{data}:3:", "3 examples", "'neutral' (2x)", "'mixed' (1x)")


@pytest.mark.parametrize(
    ("split", "content", "where", "message"),
    [
        ("train", "text\tlabel\ngood\tpos\nbad\tneg\textra\n", ":3:", "columns"),
        ("train", "text\tlabel\ngood\tpos\n\tneg\n", ":3:", "empty text"),
        ("train", "text\tlabel\ngood\tpos\nfine\tpos\n", ":", "only one label"),
        ("train", "review\tstars\ngood\t5\nbad\t1\n", ":1:", "no column named 'text'"),
        ("test", "text\tlabel\ngood\tpos\nmeh\tneutral\n", ":3:", "'neutral' (1x)"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_line(
    tmp_path: Path, split: str, content: str, where: str, message: str
) -> None:
    files = {
        "train": write_tsv(tmp_path / "train.tsv", make_rows(8, 1)),
        "valid": write_tsv(tmp_path / "valid.tsv", make_rows(4, 2)),
    }
    files[split] = tmp_path / f"bad-{split}.tsv"
    files[split].write_text(content, encoding="utf-8")
    args = ["train-sentiment", files["train"], "--valid", files["valid"]]
    if split == "test":
        args += ["--test", files["test"]]
    if "review" in content:
        args += ["--text-column", "text"]
    result = invoke(*args, "-o", tmp_path / "m.pt", "--epochs", "1", *TINY)
    assert_error(result, f"{files[split]}{where}", message)


def test_dry_run_checks_inputs_and_prints_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a real run would create models/
    train = write_tsv(tmp_path / "train.tsv", make_rows(8, 1))
    result = invoke(
        "train-sentiment", train, "--valid", train, "--pooling", "mean", "--dry-run"
    )
    assert_ok(result)
    assert "pooling: mean" in result.stdout
    assert "bidirectional: true" in result.stdout
    assert not (tmp_path / "models").exists()
    assert "extend_vocab: false" in result.stdout
    result = invoke(
        "train-sentiment", train, "--valid", train, "--extend-vocab", "--dry-run"
    )
    assert "extend_vocab: true" in result.stdout


def test_bad_choice_is_a_config_error(tmp_path: Path) -> None:
    train = write_tsv(tmp_path / "train.tsv", make_rows(8, 1))
    result = invoke("train-sentiment", train, "--valid", train, "--pooling", "sum")
    assert_error(result, "--pooling must be one of last, max, mean, attention, concat")


def test_resume_continues_a_run(tmp_path: Path) -> None:
    train = write_tsv(tmp_path / "train.tsv", make_rows(16, 1))
    out = tmp_path / "m.pt"
    assert_ok(invoke("train-sentiment", train, "--valid", train, "-o", out,
                     "--epochs", "1", *TINY))  # fmt: skip
    resumed = invoke("train-sentiment", train, "--valid", train, "-o", out,
                     "--epochs", "2", "--resume", *TINY_NOTES)  # fmt: skip
    assert_ok(resumed)
    assert "resuming" in resumed.stderr
    assert "warning" not in resumed.stderr  # the same settings: nothing to warn of
    info = invoke("info", out, "--json")
    assert_ok(info)
    assert json.loads(info.stdout)["task"] == "sentiment"
    # The resumed run trained epoch 2 alone, from the step where epoch 1 ended.
    log = out.with_name("m.metrics.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in log.splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    steps_per_epoch = -(-16 // 8)
    assert [r["step"] for r in records] == [steps_per_epoch, 2 * steps_per_epoch]
    snapshot = load_checkpoint(out.with_name("m.last.pt"))
    assert snapshot["train_state"]["progress"]["epoch"] == 3


def test_resume_warns_of_each_changed_setting(tmp_path: Path) -> None:
    first = write_tsv(tmp_path / "first.tsv", make_rows(16, 1))
    other = write_tsv(tmp_path / "other.tsv", make_rows(16, 2))
    out = tmp_path / "m.pt"
    assert_ok(invoke("train-sentiment", first, "--valid", first, "-o", out,
                     "--epochs", "1", *TINY))  # fmt: skip
    resumed = invoke("train-sentiment", other, "--valid", first, "-o", out, "--epochs",
                     "2", "--resume", *TINY_NOTES, "--dropout", "0.1")  # fmt: skip
    assert_ok(resumed)
    lines = resumed.stderr.splitlines()
    assert (
        f"warning: --resume: train_path differs from the snapshot's: "
        f"'{first}' -> '{other}'"
    ) in lines
    assert (
        "warning: --resume: model.dropout differs from the snapshot's: 0.0 -> 0.1"
        in (lines)
    )
    assert "continuing with train.epochs 2 (was 1)" in lines
    assert sum(line.startswith("warning:") for line in lines) == 2


def test_without_valid_a_stratified_tenth_is_held_out(tmp_path: Path) -> None:
    rows = make_rows(40, 1)  # 20 neg, 20 pos
    train = write_tsv(tmp_path / "train.tsv", rows)
    out = tmp_path / "m.pt"
    args = [a for a in TINY if a != "-q"]
    result = invoke("train-sentiment", train, "-o", out, "--epochs", "1", *args)
    assert_ok(result)
    said = " ".join(result.stderr.split())
    assert "no --valid file: holding out 4 training examples (10%" in said
    # The data summary, as train-lm prints one.
    assert "36 train, 4 valid examples; labels neg 18, pos 18; vocabulary" in said
    assert "validation OOV rate 0.00%" in said
    data = load_checkpoint(out)["data"]
    assert data["valid"]["labels"] == {"neg": 2, "pos": 2}
    assert data["train"]["examples"] == 36


def test_dry_run_refuses_an_init_from_of_the_wrong_task(
    trained: dict[str, Path], tmp_path: Path, write_lines
) -> None:
    # --dry-run goes through the preparation of a real run: --init-from is loaded
    # and checked, as training would.
    model = trained["model"]
    result = invoke(
        "train-sentiment", trained["train"], "--valid", trained["valid"],
        "--init-from", model, "--dry-run",
    )  # fmt: skip
    assert_error(result, str(model), "this is a sentiment checkpoint")
    corpus = write_lines(tmp_path / "c.txt", ["the cat sat ."] * 20)
    result = invoke("train-lm", corpus, "--init-from", model, "--dry-run")
    assert_error(result, str(model), "this is a sentiment checkpoint")


@pytest.mark.parametrize(
    ("option", "missing", "message"),
    [
        (None, "nope.tsv", "nope.tsv: file not found"),
        ("--valid", "nope.tsv", "nope.tsv: file not found"),
        ("--test", "nope.tsv", "nope.tsv: file not found"),
        ("--init-from", "nope.pt", "checkpoint not found"),
        ("--embeddings", "nope.vec", "nope.vec: file not found"),
    ],
)
def test_missing_files_are_one_line_errors(
    tmp_path: Path, option: str | None, missing: str, message: str
) -> None:
    data = write_tsv(tmp_path / "train.tsv", make_rows(8, seed=3))
    absent = tmp_path / missing
    args: list[object] = [absent if option is None else data, "--valid", data]
    if option == "--valid":
        args[2] = absent
    elif option is not None:
        args += [option, absent]
    result = invoke("train-sentiment", *args, "-o", tmp_path / "m.pt", *TINY)
    assert_error(result, message)
    assert not (tmp_path / "m.pt").exists()


def test_shared_network_flags_show_each_task_defaults() -> None:
    # One definition (cli/_shared.NetworkOpts) serves both commands; each help text
    # must still show its own task's defaults.
    help_texts = {}
    for command in ("train-lm", "train-sentiment"):
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert_ok(result)
        help_texts[command] = " ".join(result.stdout.split())
    assert "--emb-size INTEGER (default: 200)" in help_texts["train-lm"]
    assert "--emb-size INTEGER (default: 100)" in help_texts["train-sentiment"]
    assert "Learning rate. (default: 0.0045)" in help_texts["train-lm"]
    assert "Learning rate. (default: 0.001)" in help_texts["train-sentiment"]


def test_out_help_names_the_default_checkpoint_as_the_code_does() -> None:
    from seqcli.runs import default_out

    result = CliRunner().invoke(app, ["train-lm", "--help"], env={"COLUMNS": "200"})
    assert_ok(result)
    assert "models/<task>-<level>-<time>.pt" in result.stdout
    assert default_out("lm", "word").name.startswith("lm-word-")
