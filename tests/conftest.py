"""Shared fixtures: a tiny generated corpus, a tiny language-model config, a runner;
and the helpers every CLI test uses (``from conftest import assert_error``).

Everything here is small enough that a test using it runs in well under a second
on a 2-core CPU. Fixtures write only to ``tmp_path``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from seqcli.config import LMConfig, RecurrentConfig, TokenizerConfig, TrainConfig

# A toy grammar: "the <animal> <verb> the <animal> ." gives a small word vocabulary
# whose sentences are predictable enough for a tiny network to overfit quickly.
ANIMALS = ("cat", "dog", "owl", "fox")
VERBS = ("sees", "likes", "chases")


def _write_lines(path: Path, lines: Iterable[str]) -> Path:
    """Write one line per item, each ending in a newline (UTF-8)."""
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def write_lines() -> Callable[[Path, Iterable[str]], Path]:
    """``write_lines(path, lines)``: a UTF-8 text file, one item per line."""
    return _write_lines


@pytest.fixture(scope="session")
def corpus_lines() -> tuple[str, ...]:
    """36 short sentences, every subject/verb/object combination once."""
    return tuple(
        f"the {a} {v} the {b} ."
        for a, v, b in itertools.product(ANIMALS, VERBS, ANIMALS)
        if a != b
    )


@pytest.fixture
def corpus_file(tmp_path: Path, corpus_lines: tuple[str, ...]) -> Path:
    """The grammar twice over (72 lines), as a UTF-8 file in tmp_path."""
    return _write_lines(tmp_path / "corpus.txt", corpus_lines * 2)


@pytest.fixture
def lm_config(corpus_file: Path, tmp_path: Path) -> Callable[..., LMConfig]:
    """A factory of tiny LM configs; keyword arguments override top-level fields.

    ``cell``, ``epochs``, ``level`` and any `TrainConfig` field (``lr``, ``seed``,
    ``save_every``, ...) may be given directly for convenience.
    """

    def make(
        *,
        cell: str = "lstm",
        level: str = "word",
        epochs: int = 1,
        **kwargs: Any,
    ) -> LMConfig:
        train_fields = set(TrainConfig.__dataclass_fields__)
        train_kwargs = {
            "epochs": epochs,
            "batch_size": 4,
            "lr": 1e-2,
            "clip": 1.0,
            "early_stop": 0,
            "save_every": 60.0,
            "seed": 1,
            "device": "cpu",
            "num_threads": 1,  # tiny networks: threads cost more than they give
        }
        train_kwargs.update(
            {k: kwargs.pop(k) for k in list(kwargs) if k in train_fields}
        )
        train = TrainConfig(**train_kwargs)
        fields: dict[str, Any] = {
            "train_path": str(corpus_file),
            "out": str(tmp_path / "models" / "lm.pt"),
            "bptt": 8,
            "valid_fraction": 0.1,
            "tokenizer": TokenizerConfig(level=level),
            "model": RecurrentConfig(
                cell=cell, emb_size=8, hidden_size=16, num_layers=1, dropout=0.0
            ),
            "train": train,
        }
        fields.update(kwargs)
        return LMConfig(**fields)

    return make


# --- hardware: tests that need it skip, with the reason, where it is missing ------
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a `gpu` test without CUDA, and a `bf16` test where a bf16 training step
    of its cells (the marker's arguments, default LSTM) fails on this CPU: the
    suite passes on every CPU class and says what each skipped test needs."""
    if item.get_closest_marker("gpu") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs CUDA: torch.cuda.is_available() is False")
    marker = item.get_closest_marker("bf16")
    if marker is not None:
        import torch

        from seqcli.precision import probe

        for cell in marker.args or ("lstm",):
            reason = probe(torch.device("cpu"), cell, "bf16")
            if reason is not None:
                pytest.skip(f"a bf16 {cell} step fails on this CPU: {reason}")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def keep_torch_threads() -> Iterator[None]:
    """Every test ends with torch's thread count as it started: a command under
    test sets it (`--threads`, 0 measuring the fastest count now), and a later
    test's numbers, a tiny model's training, may depend on it. Torch is not
    imported for this: a test that does not use it runs without it."""
    torch = sys.modules.get("torch")
    before = None if torch is None else torch.get_num_threads()
    yield
    if torch is not None and before is not None:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny networks run fastest on one thread; more only add waiting on a busy CPU
    (as `--threads 1` does on the CLI). Use it per module:
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch  # here, not at the top: collecting tests must not need torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_ok(result: Result) -> None:
    """Exit code 0; on failure, show the output and the exception."""
    assert result.exit_code == 0, result.output + repr(result.exception)


def assert_error(result: Result, *fragments: str) -> str:
    """Exit code 2, one `error:` line on stderr holding every fragment, no traceback.

    Returns that line.
    """
    assert result.exit_code == 2, result.output + repr(result.exception)
    assert isinstance(result.exception, SystemExit | type(None))
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- bench: the results record of a made-up run ---------------------------------
def bench_record(figure: Any, measurement: Any) -> dict[str, Any]:
    """The results record `python -m bench` builds of a figure's measurement
    (quick suite, 1 thread, a made-up machine and commit)."""
    from bench.results import GitState, build_record

    return build_record(
        figure,
        measurement,
        suite="quick",
        budget={"amount": 1, "unit": "min", "seeds": 1, "threads": 1},
        command=f"python -m bench --only {figure.name}",
        git=GitState("0" * 40, False),
        machine={
            "cpu": "Test CPU",
            "isa": {},
            "cpus": 2,
            "threads": 1,
            "gpu": None,
            "class": "x86-64 AVX2",
        },
        torch_version="2.13.0",
        load_before=[0.0] * 3,
        load_after=[0.0] * 3,
    )


# --- translation: a toy copying task -------------------------------------------
TOY_WORDS = ("a", "b", "c", "d", "e", "f", "g", "h")


def copy_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """(source, target) pairs: 2-6 letters, and the same letters in upper case, a
    task a tiny attentional encoder-decoder learns in seconds."""
    import random

    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        words = rng.choices(TOY_WORDS, k=rng.randint(2, 6))
        pairs.append((" ".join(words), " ".join(words).upper()))
    return pairs


@pytest.fixture(scope="session")
def copy_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train/valid source and target files of the copying task."""
    folder = tmp_path_factory.mktemp("copy")
    files = {}
    for split, n, seed in (("train", 400, 1), ("valid", 20, 2)):
        pairs = copy_pairs(n, seed)
        files[f"{split}_src"] = _write_lines(
            folder / f"{split}.src", [s for s, _ in pairs]
        )
        files[f"{split}_tgt"] = _write_lines(
            folder / f"{split}.tgt", [t for _, t in pairs]
        )
    return files


def forget_pair(network: Any, src_id: int, tgt_id: int) -> None:
    """Turn a trained copying model into one whose vocabularies never held the
    source word `src_id` and its translation `tgt_id`, as a word-level model
    trained on raw text lacks its rare words, without training another.

    Their rows swap with `<unk>`'s: an unknown source word is read as `src_id`
    was, and where the model wrote `tgt_id` it now writes `<unk>` (the output
    layer and the target embedding, tied or not, and the output bias).
    """
    import torch

    from seqcli.vocab import UNK_ID

    tables = {
        network.encoder.embedding.weight: src_id,
        network.embedding.weight: tgt_id,
        network.output.weight: tgt_id,  # the same tensor when tied: swapped once
        network.output.bias: tgt_id,
    }
    with torch.no_grad():
        for table, row in tables.items():
            table[[row, UNK_ID]] = table[[UNK_ID, row]]


# --- a tiny NER corpus and tagger ---------------------------------------------------
# CoNLL-2003's layout (token POS chunk NER) and scheme (IOB1: B- only where an
# entity touches one of its type), on a toy grammar a small tagger learns quickly.
NER_PEOPLE = (("John", "Smith"), ("Ann",), ("Mary", "Jones"), ("Bo",))
NER_PLACES = (("Paris",), ("New", "York"), ("Berlin",), ("Oslo",))
NER_ORGS = (("Acme", "Corp"), ("EU",), ("United", "Nations"))


def _ner_sentences() -> list[list[tuple[str, str]]]:
    """(token, IOB1 tag) sentences: every person with every place, and more."""

    def ent(words: tuple[str, ...], kind: str, prefix: str = "I") -> list:
        return [(w, f"{prefix if i == 0 else 'I'}-{kind}") for i, w in enumerate(words)]

    def plain(text: str) -> list:
        return [(w, "O") for w in text.split()]

    out = []
    for p, (loc, org) in itertools.product(
        NER_PEOPLE, zip(NER_PLACES, itertools.cycle(NER_ORGS))
    ):
        out.append(ent(p, "PER") + plain("lives in") + ent(loc, "LOC") + plain("."))
        out.append(plain("the") + ent(org, "ORG") + plain("hired") + ent(p, "PER"))
    # Two places side by side: IOB1 opens the second with B-.
    out.append(plain("flights") + ent(("Paris",), "LOC") + ent(("Oslo",), "LOC", "B"))
    return out


def _conll_text(sentences: list[list[tuple[str, str]]]) -> str:
    lines = ["-DOCSTART- -X- O O", ""]
    for s in sentences:
        lines += [f"{tok} NNP I-NP {tag}" for tok, tag in s]
        lines.append("")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def ner_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train/valid/test CoNLL files (IOB1) of the toy NER grammar."""
    folder = tmp_path_factory.mktemp("ner")
    sentences = _ner_sentences()
    files = {
        "train": _conll_text(sentences),
        "valid": _conll_text(sentences[::3]),
        "test": _conll_text(sentences[1::4]),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = folder / f"{name}.txt"
        paths[name].write_text(text, encoding="utf-8")
    return paths


@pytest.fixture(scope="session")
def ner_config(ner_files: dict[str, Path]) -> Callable[..., Any]:
    """A factory of tiny NER configs; keyword arguments are dotted overrides."""

    def make(out: Path, **overrides: Any) -> Any:
        from seqcli.config import NerConfig, load_config

        base = {
            "train_path": str(ner_files["train"]),
            "valid_path": str(ner_files["valid"]),
            "test_path": str(ner_files["test"]),
            "out": str(out),
            "char_emb_size": 8,
            "char_hidden_size": 8,
            "model.emb_size": 16,
            "model.hidden_size": 16,
            "model.dropout": 0.0,
            "train.epochs": 6,
            "train.batch_size": 4,
            "train.lr": 0.02,
            "train.early_stop": 0,
            "train.device": "cpu",
            "train.num_threads": 1,
            "train.save_every": 60.0,
        }
        base.update(overrides)
        return load_config(NerConfig, None, base)

    return make


@pytest.fixture(scope="session")
def ner_model(
    ner_config: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A tiny tagger (BiLSTM, char CNN, BIOES CRF) trained on `ner_files`."""
    import torch

    from seqcli.tasks.ner import train_ner

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("ner-model") / "ner.pt"
    train_ner(ner_config(out))
    torch.set_num_threads(threads)
    return out
