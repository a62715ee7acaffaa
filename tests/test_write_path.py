"""One write path: no module but `seqcli/outputs.py` writes a file.

Every file a command writes goes through `seqcli.outputs` (`OutputFile`,
`append_line`), which refuses an output that is an input, checks the folder before
the work and writes atomically. This test reads the package's source (it imports
nothing) and fails on any other way of writing a file:

- ``open()`` (also ``io.open``, ``os.fdopen``, ``gzip/bz2/lzma.open``, a method
  ``x.open()``) with a mode holding ``w``, ``a``, ``x`` or ``+``, or with a mode that
  is not a literal string;
- ``os.open`` with a write flag (or flags that are not plain ``os.O_*`` names);
- ``x.write_text``, ``x.write_bytes``, ``x.touch``;
- ``os.replace/rename/renames/truncate``, ``shutil`` copies and moves,
  ``tempfile.mkstemp/NamedTemporaryFile/TemporaryFile/SpooledTemporaryFile``,
  ``zipfile.ZipFile`` / ``tarfile.open`` in a write mode, numpy's ``save*``;
- any ``savefig`` (figures are saved by `OutputFile.write_figure`);
- ``torch.save`` outside `seqcli/checkpoint.py`.

The one exception: ``x.open("w")``, ``x.write_text(...)`` and ``x.write_bytes(...)``
on an `OutputFile`, which the checker recognises by name inside one function: a
parameter or variable annotated ``OutputFile``, a name assigned from
``OutputFile(...)`` or ``output_file(...)``, or such a call itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seqcli"
WRITE_PATH = "seqcli/outputs.py"
TORCH_SAVER = "seqcli/checkpoint.py"

WRITE_MODE = set("wax+")
# Calls that write a file whatever their arguments, by qualified name.
ALWAYS_WRITES = {
    "os.replace", "os.rename", "os.renames", "os.truncate", "os.mknod",
    "shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree",
    "shutil.move", "tempfile.mkstemp", "tempfile.NamedTemporaryFile",
    "tempfile.TemporaryFile", "tempfile.SpooledTemporaryFile",
    "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
}  # fmt: skip
# Functions whose mode is their second argument (open(file, mode)).
OPENERS = {
    "open", "io.open", "builtins.open", "codecs.open", "os.fdopen", "gzip.open",
    "gzip.GzipFile", "bz2.open", "bz2.BZ2File", "lzma.open", "lzma.LZMAFile",
    "zipfile.ZipFile", "tarfile.open", "tarfile.TarFile",
}  # fmt: skip
WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC", "O_TMPFILE"}
# Methods that write when called on a path; allowed on an OutputFile.
WRITE_METHODS = {"write_text", "write_bytes", "touch"}
CLAIMS = {"OutputFile", "output_file"}  # calls that return an OutputFile


def forbidden_writes(source: str, module: str) -> list[str]:
    """``module:line: what`` for every way `source` writes a file outside the path.

    `module` is the file's path from the repository root (``seqcli/x.py``).
    """
    if module == WRITE_PATH:
        return []
    tree = ast.parse(source, filename=module)
    aliases = _import_aliases(tree)
    found = []
    for scope in [tree, *_functions(tree)]:
        claimed = _claimed_names(scope)
        streams = _stream_parameters(scope)
        for node in _own_nodes(scope):
            if isinstance(node, ast.Call):
                what = _write_of(node, aliases, claimed, module, streams)
                if what:
                    found.append(f"{module}:{node.lineno}: {what}")
    return sorted(set(found), key=lambda s: int(s.split(":")[1]))


def _write_of(
    call: ast.Call,
    aliases: dict[str, str],
    claimed: set[str],
    module: str,
    streams: frozenset[str] = frozenset(),
) -> str | None:
    """What `call` writes outside the write path, or None."""
    name = _qualified(call.func, aliases)
    if name == "torch.save":
        return None if module == TORCH_SAVER else "torch.save outside checkpoint.py"
    if name in ALWAYS_WRITES:
        return f"{name}()"
    if name in OPENERS:
        target = _argument(call, 0, "file")
        if isinstance(target, ast.Name) and target.id in streams:
            return None  # a layer on a stream the caller opened (see below)
        return _mode_problem(name, _argument(call, 1, "mode"))
    if name == "os.open":
        return _flags_problem(_argument(call, 1, "flags"), aliases)
    if not isinstance(call.func, ast.Attribute):
        return None
    method, receiver = call.func.attr, call.func.value
    if method == "savefig":
        return "savefig() (save figures with OutputFile.write_figure)"
    if _is_output_file(receiver, claimed, aliases):
        return None
    if method in WRITE_METHODS:
        return f".{method}() (write through seqcli.outputs.OutputFile)"
    if method == "open":
        return _mode_problem(".open", _argument(call, 0, "mode"))
    return None


def _mode_problem(name: str, mode: ast.expr | None) -> str | None:
    if mode is None:
        return None  # the default mode reads
    if not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)):
        return f"{name}() with a mode that is not a literal"
    if WRITE_MODE & set(mode.value):
        return f"{name}() in mode {mode.value!r}"
    return None


def _flags_problem(flags: ast.expr | None, aliases: dict[str, str]) -> str | None:
    """os.open's flags must be ``os.O_*`` names joined by ``|``, none for writing."""
    leaves, todo = [], [flags]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            todo += [node.left, node.right]
        else:
            leaves.append(_qualified(node, aliases) if node is not None else None)
    if not all(name and name.startswith("os.O_") for name in leaves):
        return "os.open() with flags that are not os.O_* names"
    if WRITE_FLAGS & {name.removeprefix("os.") for name in leaves}:
        return "os.open() for writing"
    return None


def _argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[index] if len(call.args) > index else None


def _is_output_file(node: ast.expr, claimed: set[str], aliases: dict[str, str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in claimed
    if isinstance(node, ast.Call):
        return (_qualified(node.func, aliases) or "").split(".")[-1] in CLAIMS
    return False


def _claimed_names(scope: ast.AST) -> set[str]:
    """Names that hold an OutputFile in `scope` (see the module doc)."""
    names = set()
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
        args = scope.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            if arg.annotation is not None and _mentions_output_file(arg.annotation):
                names.add(arg.arg)
    for node in _own_nodes(scope):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if _mentions_output_file(node.annotation):
                names.add(node.target.id)
        elif isinstance(node, ast.Assign | ast.NamedExpr):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if isinstance(value, ast.Call) and _call_name(value) in CLAIMS:
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _stream_parameters(scope: ast.AST) -> frozenset[str]:
    """Parameters annotated as an open binary or text stream (``IO[bytes]``).

    A function handed an open stream cannot choose which file it writes: only the
    write path opens files for writing, so a zip archive appended to such a stream
    (a checkpoint's metadata record) writes into an output already claimed.
    """
    if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
        return frozenset()
    args = scope.args
    return frozenset(
        arg.arg
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]
        if arg.annotation is not None
        and ast.unparse(arg.annotation).startswith(("IO[", "BinaryIO", "typing.IO["))
    )


def _mentions_output_file(annotation: ast.expr) -> bool:
    return "OutputFile" in ast.unparse(annotation)


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _functions(tree: ast.AST) -> list[ast.AST]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    ]


def _own_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of `scope`, not those of the functions defined inside it."""
    nodes, todo = [], list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        nodes.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def _import_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> qualified name, for every import anywhere in the module."""
    aliases = {"np": "numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _qualified(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``os.replace`` for ``os.replace``, ``from os import replace`` and the like."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


# --- the package ---------------------------------------------------------------------
def package_sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_only_the_write_path_writes_files() -> None:
    found = []
    for path in package_sources():
        module = path.relative_to(PACKAGE.parent).as_posix()
        found += forbidden_writes(path.read_text(encoding="utf-8"), module)
    assert not found, "files written outside seqcli/outputs.py:\n" + "\n".join(found)


def test_the_package_is_found() -> None:
    """The scan reads the real package (an empty glob would pass vacuously)."""
    names = {p.relative_to(PACKAGE.parent).as_posix() for p in package_sources()}
    assert {WRITE_PATH, TORCH_SAVER, "seqcli/cli/tokenization.py"} <= names


# --- the checker itself: each forbidden write is reported ----------------------------
FORBIDDEN = [
    'open(path, "w")',
    'open(path, mode="a", encoding="utf-8")',
    'open(path, "r+b")',
    "open(path, mode)",
    'io.open(path, "x")',
    'gzip.open(path, "wt")',
    'Path(path).open("w")',
    'path.open(mode="wb")',
    'Path(path).write_text("x")',
    'path.write_bytes(b"x")',
    "path.touch()",
    "os.replace(a, b)",
    "os.rename(a, b)",
    "shutil.copyfile(a, b)",
    "tempfile.mkstemp(dir=d)",
    "tempfile.NamedTemporaryFile()",
    "os.open(path, os.O_WRONLY | os.O_CREAT)",
    "os.open(path, flags)",
    'os.fdopen(fd, "wb")',
    "fig.savefig(path)",
    'plt.savefig("x.png")',
    'zipfile.ZipFile(path, "w")',
    "np.save(path, array)",
    "torch.save(obj, path)",
]
ALLOWED = [
    "open(path)",
    'open(path, "rb")',
    'open(path, encoding="utf-8")',
    'gzip.open(path, "rb")',
    'Path(path).open("r")',
    "os.open(path, os.O_RDONLY)",
    'zipfile.ZipFile(path, "r")',
    'OutputFile(path, inputs={}).write_text("x")',
]


def _in_module(snippet: str) -> str:
    return (
        "import gzip, io, os, shutil, tempfile, zipfile\n"
        "import numpy as np\nimport torch\n"
        "def f(path, a, b, d, fd, fig, plt, mode, array, obj):\n"
        f"    {snippet}\n"
    )


@pytest.mark.parametrize("snippet", FORBIDDEN)
def test_a_forbidden_write_is_reported(snippet: str) -> None:
    found = forbidden_writes(_in_module(snippet), "seqcli/x.py")
    assert len(found) == 1 and found[0].startswith("seqcli/x.py:5: "), found


@pytest.mark.parametrize("snippet", ALLOWED)
def test_reading_and_the_write_path_are_allowed(snippet: str) -> None:
    assert forbidden_writes(_in_module(snippet), "seqcli/x.py") == []


def test_writes_through_an_output_file_are_allowed_only_on_one() -> None:
    source = (
        "from pathlib import Path\n"
        "from seqcli.outputs import OutputFile, output_file\n"
        "def claimed(out: OutputFile | str, text: str) -> None:\n"
        '    with out.open("w") as fh:\n'
        "        fh.write(text)\n"
        "def built(path: str) -> None:\n"
        "    target = output_file(path)\n"
        '    target.write_bytes(b"")\n'
        "def plain(out: Path) -> None:\n"
        '    with out.open("w") as fh:\n'
        '        out.write_text("")\n'
    )
    assert forbidden_writes(source, "seqcli/x.py") == [
        "seqcli/x.py:10: .open() in mode 'w'",
        "seqcli/x.py:11: .write_text() (write through seqcli.outputs.OutputFile)",
    ]


def test_imported_names_are_resolved() -> None:
    source = (
        "from os import replace as swap\n"
        "from tempfile import mkstemp\n"
        "from torch import save\n"
        "def f(a, b):\n"
        "    swap(a, b)\n"
        "    mkstemp()\n"
        "    save(a, b)\n"
    )
    found = forbidden_writes(source, "seqcli/x.py")
    assert [f.split(":")[1] for f in found] == ["5", "6", "7"]


def test_torch_save_belongs_to_checkpoint_and_everything_to_outputs() -> None:
    assert forbidden_writes(_in_module("torch.save(obj, fd)"), TORCH_SAVER) == []
    assert forbidden_writes(_in_module('open(path, "w")'), TORCH_SAVER) != []
    assert forbidden_writes(_in_module('open(path, "w")'), WRITE_PATH) == []


def test_a_layer_on_a_stream_handed_in_is_allowed_but_not_on_a_path() -> None:
    source = (
        "import zipfile\n"
        "from typing import IO\n"
        "def on_stream(fh: IO[bytes]) -> None:\n"
        '    zipfile.ZipFile(fh, "a")\n'
        "def on_path(fh: str) -> None:\n"
        '    zipfile.ZipFile(fh, "a")\n'
    )
    assert forbidden_writes(source, "seqcli/x.py") == [
        "seqcli/x.py:6: zipfile.ZipFile() in mode 'a'"
    ]
