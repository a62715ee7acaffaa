"""Layers one way: no import circle among seqcli's modules (style guide, section 13).

The check reads the source with `ast`, so it needs no import: every ``import`` and
``from ... import`` of a seqcli module counts, wherever it stands (module level,
inside a function, under ``if TYPE_CHECKING:``), since each is a dependency a
reader has to follow. Imports spelled as strings (`importlib.import_module`) are
not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "seqcli"

Graph = dict[str, set[str]]


def module_names(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `package`."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _imported(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """The modules of `known` that `module` (the file `path`) imports."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _longest_known(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package, up level - 1
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                yield from [child] if child in known else _longest_known(base, known)


def _longest_known(name: str, known: set[str]) -> Iterator[str]:
    """`name`, or its longest prefix that is a module of `known` (none: not ours)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in known:
            yield prefix
            return


def import_graph(package: Path) -> Graph:
    """Module -> the package's modules it imports (itself left out)."""
    files = module_names(package)
    known = set(files)
    return {
        name: set(_imported(name, path, known)) - {name} for name, path in files.items()
    }


def find_cycle(graph: Graph) -> list[str] | None:
    """One import circle of `graph` as [a, b, ..., a], or None if there is none.

    A depth-first search: a cycle is an edge back to a module still on the path.
    """
    done: set[str] = set()
    for root in sorted(graph):
        if root in done:
            continue
        path, on_path = [root], {root}
        stack = [iter(sorted(graph.get(root, ())))]
        while stack:
            target = next(stack[-1], None)
            if target is None:  # every import of path[-1] followed
                module = path.pop()
                on_path.discard(module)
                done.add(module)
                stack.pop()
            elif target in on_path:
                return [*path[path.index(target) :], target]
            elif target not in done:
                path.append(target)
                on_path.add(target)
                stack.append(iter(sorted(graph.get(target, ()))))
    return None


def test_seqcli_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert "seqcli.training" in graph and graph["seqcli.training"]  # it parsed
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_find_cycle_reports_the_circle_of_a_small_graph():
    graph = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set(), "e": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    graph["c"] = {"d"}  # now a diamond: a -> b -> {c, d}, c -> d
    assert find_cycle(graph) is None
    assert find_cycle({"x": {"x"}}) == ["x", "x"]


def test_function_level_and_type_checking_imports_count(tmp_path: Path):
    """A circle closed by an import inside a function, or under TYPE_CHECKING (as
    seqcli.beam's import of seqcli.decoding was), is still a circle."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.sub.high import Thing\n"
    )
    (package / "sub" / "high.py").write_text(
        "def make():\n    from .. import low\n    return low\n"
    )
    graph = import_graph(package)
    assert graph["pkg.low"] == {"pkg.sub.high"}
    assert graph["pkg.sub.high"] == {"pkg.low"}
    assert find_cycle(graph) == ["pkg.low", "pkg.sub.high", "pkg.low"]
    (package / "sub" / "high.py").write_text("import os\nimport pkg.sub\n")
    assert find_cycle(import_graph(package)) is None
