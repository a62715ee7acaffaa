"""README.md's commands run as written from the repository root.

Every file the README names exists (the shared corpora only where that folder is
present), every `seqcli` command it shows is a real command given real flags, and
the commands on the project's own corpora (corpora/) run, their training with a
tiny budget.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from seqcli.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHARED = ROOT.parent / "shared" / "corpora"
# Appended to a README training command run by the test (a later flag wins).
TINY_TRAINING = "--epochs 1 --max-time 0.05 --emb-size 8 --hidden-size 16 -q"


def shell_lines(text: str) -> list[str]:
    """The command lines of the ```bash blocks: continuations joined, comments cut."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#\s.*$", "", line).strip()
            if line:
                lines.append(line)
    return lines


def seqcli_calls(line: str) -> list[list[str]]:
    """The argument lists of the `seqcli` commands of one line (pipes split it)."""
    calls = []
    for part in line.split(" | "):
        words = shlex.split(part.split(" > ")[0])
        if words and words[0] == "seqcli":
            calls.append(words[1:])
    return calls


COMMANDS = [c for line in shell_lines(README) for c in seqcli_calls(line)]


def test_the_readme_shows_every_task() -> None:
    first = README.split("\n\n")[1]
    for task in ("translation", "named-entity", "language models", "classifiers"):
        assert task in first
    shown = {call[0] for call in COMMANDS}
    for name in ("train-lm", "sample", "train-translate", "translate", "train-ner",
                 "tag", "train-classifier", "classify", "evaluate", "bleu", "info",
                 "train-embeddings", "embeddings", "tokenize"):  # fmt: skip
        assert name in shown, name


def test_project_corpora_named_in_the_readme_exist() -> None:
    named = set(re.findall(r"(?<![\w./])corpora/[\w./-]*\w", README))
    assert named, "README names no project corpus"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []


def test_shared_corpora_named_in_the_readme_exist() -> None:
    named = set(re.findall(r"\.\./shared/corpora/[\w./-]*\w", README))
    assert named, "README names no shared corpus"
    if not SHARED.is_dir():
        pytest.skip(f"no shared corpora at {SHARED}")
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []


def _command(args: list[str]) -> tuple[object, list[str]]:
    """The click command `args` run, and the rest of `args`."""
    command = get_command(app)
    while hasattr(command, "commands") and args and args[0] in command.commands:
        command, args = command.commands[args[0]], args[1:]
    return command, args


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a)[:60])
def test_each_readme_command_has_those_flags(args: list[str]) -> None:
    command, rest = _command(args)
    assert not hasattr(command, "commands"), f"no such command: {args}"
    known = {"--help", "-h"}
    for param in command.params:
        known.update(param.opts)
        known.update(param.secondary_opts)
    flags = [w.split("=")[0] for w in rest if w.startswith("-") and w != "-"]
    assert [f for f in flags if f not in known] == []


def _runnable(line: str, folder: Path) -> bool:
    """A line that needs no shared corpus and reads only models an earlier line
    wrote (a path after -o or > is written, not read)."""
    if "seqcli" not in line or "../shared/" in line:
        return False
    read = re.findall(r"(?<!-o )(?<!> )(models/\S+)", line)
    return all((folder / m).exists() for m in read)


@pytest.mark.slow
def test_readme_commands_on_the_project_corpora_run(tmp_path: Path) -> None:
    (tmp_path / "corpora").symlink_to(ROOT / "corpora")
    (tmp_path / "models").mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1"}  # fmt: skip
    ran = []
    for line in shell_lines(README):
        if not _runnable(line, tmp_path):
            continue
        if line.startswith("seqcli train-"):
            line += f" {TINY_TRAINING} --threads 1"
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        # `head` closing the pipe early is how such a line ends, not a failure.
        assert done.returncode == 0 or "| head" in line, (line, done.stderr)
        assert "Traceback" not in done.stderr, (line, done.stderr)
        ran += [call[0] for call in seqcli_calls(line)]
    assert {
        "train-lm",
        "sample",
        "score",
        "evaluate",
        "info",
        "tokenize",
        "bleu",
    } <= set(ran)
