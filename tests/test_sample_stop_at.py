"""`sample --stop-at SEP`: each sample ends at a separator (one ABC tune per
sample with a blank line); escapes such as \\n in --stop-at and --prompt.

The model is built, not trained: a char LM whose output ignores its input and
draws "a", "b" or a line end (`<eos>`) with equal odds, so blank lines come
soon and often, at places that depend on the seed alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import assert_error, assert_ok
from typer.testing import CliRunner

from seqcli.checkpoint import save_checkpoint
from seqcli.cli import app
from seqcli.cli.lm import unescape
from seqcli.config import LMConfig, RecurrentConfig, TokenizerConfig, to_dict
from seqcli.tasks import lm as task
from seqcli.tasks import lm_inference as use
from seqcli.tokenizers import build_tokenizer
from seqcli.vocab import EOS_ID, SPECIALS, Vocab

pytestmark = pytest.mark.usefixtures("one_thread")
CHARS = ["a", "b", "X", ":", "1", "T"]


@pytest.fixture
def abc_lm() -> use.LoadedLM:
    torch.manual_seed(0)
    cfg = LMConfig(
        tokenizer=TokenizerConfig(level="char"),
        model=RecurrentConfig(emb_size=8, hidden_size=8, num_layers=1, dropout=0.0),
        softmax="full",
        tie_weights=False,
    )
    vocab = Vocab([*SPECIALS, *CHARS])
    network = task.build_network(cfg, len(vocab)).eval()
    with torch.no_grad():
        network.decoder.weight.zero_()  # the same odds after any input
        network.decoder.bias.fill_(-100.0)
        for token in ("a", "b"):
            network.decoder.bias[vocab.stoi[token]] = 0.0
        network.decoder.bias[EOS_ID] = 0.0
    return use.LoadedLM(network, vocab, build_tokenizer(cfg.tokenizer, []), cfg)


@pytest.fixture
def abc_checkpoint(abc_lm: use.LoadedLM, tmp_path: Path) -> Path:
    payload = {
        "task": "lm",
        "config": to_dict(abc_lm.cfg),
        "vocab": {"tokens": abc_lm.vocab.to_list()},
        "tokenizer": abc_lm.tokenizer.to_dict(),
        "state_dict": abc_lm.network.state_dict(),
        "metrics": {},
    }
    return save_checkpoint(tmp_path / "abc.pt", payload)


def test_each_sample_ends_at_the_first_separator(abc_lm: use.LoadedLM) -> None:
    texts = use.sample(
        abc_lm, num=8, max_length=400, stop_at_eos=False, stop_at="\n\n", seed=3
    )
    for text in texts:
        assert text.endswith("\n\n")
        assert "\n\n" not in text[:-1]  # the first one, and nothing after it
    # Without --stop-at, the same samples run on past blank lines.
    free = use.sample(abc_lm, num=8, max_length=400, stop_at_eos=False, seed=3)
    assert all(text.startswith(cut) for text, cut in zip(free, texts, strict=True))
    assert any("\n\n" in text[:-2] for text in free)


def test_the_separator_may_start_in_the_prompt(abc_lm: use.LoadedLM) -> None:
    texts = use.sample(
        abc_lm,
        num=6,
        max_length=200,
        stop_at_eos=False,
        stop_at="ba",
        seed=1,
        prompt="Xb",
    )
    for text in texts:
        assert text.startswith("Xb") and text.endswith("ba")
        assert text == "Xba" or "ba" not in text[:-1]


def test_a_prompt_line_break_is_read_as_eos(abc_lm: use.LoadedLM) -> None:
    assert use.prompt_tokens(abc_lm, "X:1\nT:") == ["X", ":", "1", "\n", "T", ":"]
    text = use.sample(abc_lm, prompt="X:1\nT:", stop_at_eos=False, seed=0)[0]
    assert text.startswith("X:1\nT:")


def test_cut_at_keeps_text_without_separator() -> None:
    assert use.cut_at("ab\n\ncd\n\n", "\n\n", 0) == "ab\n\n"
    assert use.cut_at("abab", "\n\n", 0) == "abab"
    assert use.cut_at("a\n\nb\n\n", "\n\n", 3) == "a\n\nb\n\n"  # after the prompt


@pytest.mark.parametrize(
    ("flag", "text"),
    [
        (r"X:1\nT:", "X:1\nT:"),
        (r"\n\n", "\n\n"),
        (r"a\tb\\n", "a\tb\\n"),  # \\ is one backslash, so \\n is not a line end
        (r"C:\data", "C:\\data"),  # an unknown escape stays as typed
        ("trailing\\", "trailing\\"),
    ],
)
def test_unescape(flag: str, text: str) -> None:
    assert unescape(flag) == text


def test_cli_stop_at_prints_one_piece_per_sample(abc_checkpoint: Path) -> None:
    args = ["sample", "-m", str(abc_checkpoint), "-n", "4", "--seed", "2"]
    args += ["--prompt", r"X:1\nT:", "--stop-at", r"\n\n", "--max-length", "400"]
    result = CliRunner().invoke(app, args)
    assert_ok(result)
    pieces = result.stdout.split("\n\n")
    assert pieces[-1] == ""  # the output ends with the separator
    assert len(pieces[:-1]) == 4
    assert all(piece.startswith("X:1\nT:") for piece in pieces[:-1])


def test_cli_stop_at_refuses_a_backward_lm(
    abc_lm: use.LoadedLM, tmp_path: Path
) -> None:
    cfg = abc_lm.cfg
    cfg.tokenizer.reverse = True
    payload = {
        "task": "lm",
        "config": to_dict(cfg),
        "vocab": {"tokens": abc_lm.vocab.to_list()},
        "tokenizer": build_tokenizer(cfg.tokenizer, []).to_dict(),
        "state_dict": abc_lm.network.state_dict(),
        "metrics": {},
    }
    path = save_checkpoint(tmp_path / "backward.pt", payload)
    result = CliRunner().invoke(app, ["sample", "-m", str(path), "--stop-at", "x"])
    assert_error(result, "--stop-at", "forward LM")
