"""`seqcli translate` bounds what a search may cost before it starts: the beam by
the target vocabulary and by memory, a source line by --max-src-len, and
--min-len by the longest output a line may have; each refusal is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_error, assert_ok, copy_pairs
from typer.testing import CliRunner, Result

import seqcli.memory
from seqcli.checkpoint import load_checkpoint
from seqcli.cli import app
from seqcli.config import TranslateConfig
from seqcli.tasks.translation import max_output_len
from seqcli.tasks.translation_inference import load_translator, search_bytes

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--emb-size", "8", "--hidden-size", "16", "--epochs", "1", "--min-freq", "1"]
TINY += ["--device", "cpu", "--threads", "1", "-q"]
SOURCES = ["a b c", "d e", "f g h"]  # 3, 2 and 3 tokens


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny copy-task model, one epoch: its outputs are not the point here."""
    folder = tmp_path_factory.mktemp("translate-bounds")
    pairs = copy_pairs(40, 3)
    src, tgt = folder / "train.src", folder / "train.tgt"
    src.write_text("".join(f"{s}\n" for s, _ in pairs), encoding="utf-8")
    tgt.write_text("".join(f"{t}\n" for _, t in pairs), encoding="utf-8")
    out = folder / "mt.pt"
    valid = ["--valid-src", src, "--valid-tgt", tgt]
    assert_ok(invoke("train-translate", src, tgt, *valid, *TINY, "-o", out))
    return out


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    path = tmp_path / "in.src"
    path.write_text("".join(f"{line}\n" for line in SOURCES), encoding="utf-8")
    return path


def _translate(model: Path, sources: Path, *flags: object) -> Result:
    return invoke("translate", sources, "-m", model, "--threads", "1", *flags)


def test_a_beam_wider_than_the_target_vocabulary_is_refused(
    model: Path, sources: Path
) -> None:
    size = len(load_checkpoint(model, task="translation")["vocab"]["tgt"])
    result = _translate(model, sources, "--beam", size + 1)
    assert result.stdout == ""
    assert_error(result, f"--beam {size + 1}", f"at most {size}", "vocabulary")
    widest = _translate(model, sources, "--beam", size)
    assert_ok(widest)
    assert len(widest.stdout.splitlines()) == len(SOURCES)


def test_a_search_that_cannot_fit_in_memory_is_refused(
    model: Path, sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    translator = load_translator(model)
    longest = max(len(translator.encode_src(s)) for s in SOURCES)
    need = search_bytes(
        translator,
        beam=4,
        sentences=len(SOURCES),
        src_len=longest,
        max_len=max_output_len(longest, 2.0),
    )
    monkeypatch.setattr(seqcli.memory, "available_bytes", lambda device: need - 1)
    result = _translate(model, sources, "--beam", 4, "--max-len-ratio", 2.0)
    assert result.stdout == ""
    assert_error(result, "--beam 4 x --batch-size 3", "lower --beam or --batch-size")
    monkeypatch.setattr(seqcli.memory, "available_bytes", lambda device: need)
    assert_ok(_translate(model, sources, "--beam", 4, "--max-len-ratio", 2.0))


def test_search_memory_grows_with_the_rows_searched(model: Path) -> None:
    translator = load_translator(model)
    sizes = {"src_len": 5, "max_len": 20}
    one = search_bytes(translator, beam=1, sentences=1, **sizes)
    assert one > 0
    assert search_bytes(translator, beam=2, sentences=3, **sizes) >= 6 * one
    assert search_bytes(translator, beam=1, sentences=1, src_len=50, max_len=20) > one


def test_a_source_line_over_max_src_len_names_its_file_and_line(
    model: Path, tmp_path: Path
) -> None:
    path = tmp_path / "long.src"
    long_line = " ".join(["a"] * 20)
    path.write_text(f"a b\n\nc d\n{long_line}\n", encoding="utf-8")
    result = _translate(model, path, "--max-src-len", 10)
    assert result.stdout == ""  # refused before the first chunk is decoded
    assert_error(result, f"{path}:4:", "20 source tokens", "--max-src-len 10")
    assert_ok(_translate(model, path, "--max-src-len", 0))  # 0: no limit
    assert_ok(_translate(model, path, "--max-src-len", 20))


def test_max_src_len_has_a_documented_default(model: Path) -> None:
    default = TranslateConfig().max_src_len
    assert default > 0
    # Wide: at 80 columns the option table's help column wraps the default.
    help_text = CliRunner().invoke(app, ["translate", "--help"], env={"COLUMNS": "200"})
    text = " ".join(help_text.stdout.split())
    assert "--max-src-len" in text and f"(default: {default})" in text


@pytest.mark.parametrize("min_len", [30, 100000])
def test_min_len_above_the_longest_output_is_one_line(
    model: Path, sources: Path, min_len: int
) -> None:
    result = _translate(model, sources, "--min-len", min_len)
    assert result.stdout == ""
    # The first line's 3 tokens allow 2 x 3 + 9 output tokens before <eos>.
    assert_error(result, f"{sources}:1:", f"--min-len {min_len}", "at most 15")


@pytest.mark.parametrize("beam", [1, 3])
def test_min_len_up_to_the_longest_output_works(
    model: Path, sources: Path, beam: int
) -> None:
    shortest = min(len(s.split()) for s in SOURCES)
    min_len = max_output_len(shortest, 2.0) - 1  # the longest output allowed
    result = _translate(model, sources, "--min-len", min_len, "--beam", beam)
    assert_ok(result)
    outputs = result.stdout.splitlines()
    assert len(outputs) == len(SOURCES)
    assert all(len(out.split()) >= min_len for out in outputs), outputs


def test_analyze_names_the_line_too(model: Path, sources: Path) -> None:
    result = _translate(model, sources, "--analyze", sources, "--min-len", 30)
    assert_error(result, f"{sources}:1:", "--min-len 30")
