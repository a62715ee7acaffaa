"""Fast startup: help, `tokenize` and `bleu` never import torch.

These run in a fresh interpreter (a subprocess), because the other tests in this
session have imported torch already. To find what pulls torch in:
``python -X importtime -m seqcli --help 2>&1 | sort -t'|' -k2 -n``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# The torch-free modules of the package (style guide, section 7); the CLI's own
# modules are discovered, so that a new command module is checked too.
TORCH_FREE = [
    "seqcli",
    "seqcli.__main__",
    "seqcli.errors",
    "seqcli.outputs",
    "seqcli.config",
    "seqcli.vocab",
    "seqcli.tokenizers",
    "seqcli.treebank",
    "seqcli.readers",
    "seqcli.reporting",
    "seqcli.curves",
    "seqcli.reliability",
    "seqcli.schedules",
    "seqcli.step_protocol",
    "seqcli.metrics",
    "seqcli.metrics.translation",
    "seqcli.metrics.bleu_explain",
    "seqcli.metrics.sacrebleu_compat",
    "seqcli.metrics.classification",
    "seqcli.metrics.calibration",
    "seqcli.metrics.embeddings",
    "seqcli.metrics.scales",
    "seqcli.checkpoint_meta",
    "seqcli.cli",
]

# Runs in the subprocess: every command's --help through the app, `tokenize
# encode` and `bleu` on fixtures, then imports every torch-free module; prints a
# JSON report of exit codes and of what got imported along the way.
SCRIPT = r"""
import importlib, importlib.util, json, pkgutil, sys
from typer.main import get_command
from typer.testing import CliRunner
import seqcli.cli
from seqcli.cli import app

folder, torch_free = sys.argv[1], json.loads(sys.argv[2])


def walk(group, prefix):
    for name, cmd in sorted(group.commands.items()):
        yield [*prefix, name]
        if hasattr(cmd, "commands"):
            yield from walk(cmd, [*prefix, name])


runner = CliRunner()
commands = list(walk(get_command(app), []))
results = []
for args in [["--help"], ["--version"], *[[*c, "--help"] for c in commands]]:
    r = runner.invoke(app, args)
    results.append({"args": args, "code": r.exit_code, "stdout": r.stdout})
after_help = sorted(m for m in ("torch", "sentencepiece") if m in sys.modules)
for args in (
    ["tokenize", "encode", f"{folder}/text.txt", "--lowercase"],
    ["tokenize", "vocab", f"{folder}/text.txt"],
    ["bleu", f"{folder}/hyp.txt", f"{folder}/ref.txt"],
    ["plot", f"{folder}/run.metrics.jsonl", "-o", f"{folder}/curves.png"],
):
    r = runner.invoke(app, args)
    results.append({"args": args, "code": r.exit_code, "stdout": r.stdout})
cli_modules = [
    f"seqcli.cli.{m.name}" for m in pkgutil.iter_modules(seqcli.cli.__path__)
]
imported = []
for name in [*torch_free, *cli_modules]:
    if importlib.util.find_spec(name) is not None:
        importlib.import_module(name)
        imported.append(name)
print(json.dumps({
    "commands": commands,
    "results": results,
    "after_help": after_help,
    "imported": imported,
    "torch": "torch" in sys.modules,
}))
"""


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def report(write_lines, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("startup")
    write_lines(folder / "text.txt", ["The cat sat .", "A dog ran ."])
    write_lines(folder / "hyp.txt", ["the cat sat on the mat", "a dog ran"])
    write_lines(folder / "ref.txt", ["the cat sat on a mat", "the dog ran"])
    write_lines(
        folder / "run.metrics.jsonl",
        ['{"kind": "train", "step": 2, "loss": 3.0}', '{"step": 4, "loss": 2.5}'],
    )
    proc = run_python("-c", SCRIPT, str(folder), json.dumps(TORCH_FREE))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_command_has_help(report: dict):
    names = {" ".join(c) for c in report["commands"]}
    expected = {"train-lm", "sample", "score", "info", "evaluate", "bleu", "tokenize"}
    expected |= {f"tokenize {c}" for c in ("train", "encode", "decode", "vocab")}
    expected |= {"train-embeddings", "embeddings"}
    expected |= {
        f"embeddings {c}"
        for c in ("neighbors", "analogy", "evaluate", "plot", "export")
    }
    assert expected <= names
    for result in report["results"]:
        if result["args"][-1] == "--help":
            assert result["code"] == 0, result
            assert "Usage" in result["stdout"], result
    version = next(r for r in report["results"] if r["args"] == ["--version"])
    assert version["stdout"].startswith("seqcli ")


def test_help_imports_neither_torch_nor_sentencepiece(report: dict):
    assert report["after_help"] == []


def test_tokenize_and_bleu_run_without_torch(report: dict):
    by_command = {tuple(r["args"][:2]): r for r in report["results"]}
    encode = by_command[("tokenize", "encode")]
    assert encode["code"] == 0, encode
    assert encode["stdout"].splitlines() == ["the cat sat .", "a dog ran ."]
    assert by_command[("tokenize", "vocab")]["code"] == 0
    bleu = next(r for r in report["results"] if r["args"][0] == "bleu")
    assert bleu["code"] == 0, bleu
    assert "BLEU" in bleu["stdout"]
    assert report["torch"] is False


def test_plot_runs_without_torch(report: dict):
    pytest.importorskip("matplotlib")
    plot = next(r for r in report["results"] if r["args"][0] == "plot")
    assert plot["code"] == 0, plot
    assert report["torch"] is False


def test_torch_free_modules_import_without_torch(report: dict):
    for name in (
        "seqcli.errors",
        "seqcli.vocab",
        "seqcli.cli.lm",
        "seqcli.cli.embeddings",
        "seqcli.metrics.embeddings",
        "seqcli.cli._shared",
    ):
        assert name in report["imported"]
    assert report["torch"] is False


def test_python_dash_m_entry_point():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['seqcli', '--help']\n"
        "try:\n"
        "    runpy.run_module('seqcli', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "train-lm" in proc.stdout
    assert proc.stdout.rstrip().endswith("ok")


# Runs `seqcli info CHECKPOINT` (text, then --json) as the console script does.
INFO_SCRIPT = r"""
import json, sys
from seqcli.cli import main

path = sys.argv[1]
for extra in ([], ["--json"]):
    sys.argv = ["seqcli", "info", path, *extra]
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print(json.dumps({"torch": "torch" in sys.modules}))
"""


def test_info_reads_a_checkpoint_without_torch(tmp_path):
    import torch

    from seqcli.checkpoint import save_checkpoint

    path = save_checkpoint(
        tmp_path / "m.pt",
        {
            "task": "lm",
            "config": {"model": {"cell": "lstm", "hidden_size": 16}},
            "vocab": {"tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b"]},
            "tokenizer": {"kind": "char", "model": b"not shown"},
            "state_dict": {"w": torch.zeros(6, 16), "b": torch.zeros(16)},
            "metrics": {"valid": {"loss": 1.25, "ppl": 3.49}},
        },
    )
    proc = run_python("-c", INFO_SCRIPT, str(path))
    assert proc.returncode == 0, proc.stderr
    *text, record = proc.stdout.strip().splitlines()
    assert json.loads(record) == {"torch": False}
    shown = json.loads("\n".join(text[text.index("{") :]))
    assert shown["task"] == "lm"
    assert shown["parameters"] == 6 * 16 + 16
    assert shown["vocabulary"] == {"tokens": 6}
    assert shown["metrics"] == {"valid.loss": 1.25, "valid.ppl": 3.49}
    assert "  parameters: 112" in text


def test_root_help_lists_every_command_without_loading_any():
    code = (
        "import sys\n"
        "sys.argv = ['seqcli', '--help']\n"
        "from seqcli.cli import main\n"
        "main()\n"
        "loaded = [m for m in sys.modules if m.startswith('seqcli.cli.')]\n"
        "print('loaded:', loaded, 'typer' in sys.modules, 'torch' in sys.modules)\n"
    )
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    *shown, last = proc.stdout.rstrip().splitlines()
    assert last == "loaded: [] False False"
    from seqcli.cli import COMMANDS

    table = shown[shown.index("Commands:") + 1 :]
    listed = [x.split()[0] for x in table if x.startswith("  ") and x[2:3].strip()]
    assert listed == list(COMMANDS)


def test_root_help_summaries_are_the_commands_own_first_lines():
    from typer.main import get_command

    from seqcli.cli import COMMANDS, app

    commands = get_command(app).commands
    for name, (_, _, summary) in COMMANDS.items():
        own = (commands[name].help or "").strip().splitlines()[0]
        assert summary == own, name
