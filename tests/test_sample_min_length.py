"""`sample --min-length N`: `<eos>` is not drawn before a sample is N tokens long.

The model here is one that ends every sample at once: a tiny word LM whose output
bias makes `<eos>` the likeliest token everywhere (as an LM trained on text with
many blank lines, WikiText, often does after `<eos>`). Built, not trained, so that
the test is fast and does not depend on how well a few epochs learn.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from seqcli.checkpoint import save_checkpoint
from seqcli.cli import app
from seqcli.config import (
    LMConfig,
    RecurrentConfig,
    SampleConfig,
    TokenizerConfig,
    to_dict,
)
from seqcli.decoding import sample as sample_ids
from seqcli.tasks import lm as task
from seqcli.tasks import lm_inference as use
from seqcli.tokenizers import build_tokenizer
from seqcli.vocab import EOS_ID, SPECIALS, Vocab

WORDS = ["the", "cat", "sees", "a", "dog", "."]


@pytest.fixture
def eos_first_lm() -> use.LoadedLM:
    torch.manual_seed(0)
    cfg = LMConfig(
        # Whitespace-joined samples: a sample's words are its tokens.
        tokenizer=TokenizerConfig(level="word", word_split="whitespace"),
        model=RecurrentConfig(emb_size=8, hidden_size=16, num_layers=1, dropout=0.0),
    )
    vocab = Vocab([*SPECIALS, *WORDS])
    network = task.build_network(cfg, len(vocab)).eval()
    with torch.no_grad():
        network.decoder.bias[EOS_ID] += 100.0
    return use.LoadedLM(network, vocab, build_tokenizer(cfg.tokenizer, []), cfg)


@pytest.fixture
def eos_first_checkpoint(eos_first_lm: use.LoadedLM, tmp_path: Path) -> Path:
    lm = eos_first_lm
    payload = {
        "task": "lm",
        "config": to_dict(lm.cfg),
        "vocab": {"tokens": lm.vocab.to_list()},
        "tokenizer": lm.tokenizer.to_dict(),
        "state_dict": lm.network.state_dict(),
        "metrics": {},
    }
    return save_checkpoint(tmp_path / "eos.pt", payload)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_decoding_masks_eos_for_the_first_tokens(
    eos_first_lm: use.LoadedLM, temperature: float
):
    net = eos_first_lm.network
    start = torch.full((3,), EOS_ID)
    gen = torch.Generator().manual_seed(0)
    kwargs = {"max_len": 10, "temperature": temperature, "generator": gen}
    assert sample_ids(net, None, start, **kwargs) == [[EOS_ID]] * 3
    rows = sample_ids(net, None, start, min_len=4, **kwargs)
    for row in rows:  # four words, then <eos> at once: the mask is lifted after N
        assert EOS_ID not in row[:4] and row[4:] == [EOS_ID]


def test_task_sample_default_is_never_empty(eos_first_lm: use.LoadedLM):
    assert use.sample(eos_first_lm, num=4, seed=0, min_length=0) == [""] * 4
    for text in use.sample(eos_first_lm, num=4, seed=0):  # default: min_length 1
        assert len(text.split()) == SampleConfig().min_length == 1
    # The prompt's tokens count: a prompt as long as min_length may end at once.
    prompted = use.sample(eos_first_lm, num=2, seed=0, prompt="the cat", min_length=2)
    assert prompted == ["the cat"] * 2
    for text in use.sample(eos_first_lm, num=4, seed=0, prompt="the cat", min_length=5):
        assert text.startswith("the cat ") and len(text.split()) == 5


def test_cli_min_length(eos_first_checkpoint: Path):
    def lines(*extra: str) -> list[str]:
        args = ["sample", "-m", str(eos_first_checkpoint), "-n", "5", "--seed", "1"]
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        return result.stdout.split("\n")[:-1]

    assert lines("--min-length", "0") == [""] * 5  # what a user met without the flag
    default = lines()
    assert len(default) == 5 and all(line.strip() for line in default)
    assert all(len(line.split()) >= 3 for line in lines("--min-length", "3"))
