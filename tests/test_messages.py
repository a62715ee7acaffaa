"""Wording that every message of the package keeps, read from the source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seqcli.errors import a_or_an

PACKAGE = Path(__file__).resolve().parent.parent / "seqcli"


def test_no_message_has_an_unquoted_pip_install_of_an_extra() -> None:
    # zsh expands `seqcli[plot]` as a glob and fails: the extra must be quoted.
    unquoted = re.compile(r"pip install (?!['\"])\S*seqcli\[")
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if unquoted.search(line)
    ]
    assert found == []
    assert unquoted.search("pip install seqcli[plot]")  # the pattern does catch it
    assert not unquoted.search("pip install 'seqcli[plot]'")


@pytest.mark.parametrize(
    ("word", "said"),
    [
        ("lm", "an lm"),
        ("ner", "a ner"),
        ("translation", "a translation"),
        ("embeddings", "an embeddings"),
        ("sentiment or translation", "a sentiment or translation"),
    ],
)
def test_checkpoint_kinds_take_their_article(word: str, said: str) -> None:
    assert a_or_an(word) == said
