"""The app modules' imports, read with ``ast`` (nothing is imported): the checker of tests/test_architecture.py
and of bench/codebase_shape.py. An import inside a function counts (it is a dependency, only a later one); one
under ``if TYPE_CHECKING:`` does not (it never runs). No Django here, so the bench runs it on any checkout."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
APPS = ("medes_site", "benchmark", "annotation", "alignment")  # lowest first: each may import those before it
RUBRIC = "rubric"  # plain Python: imports no app and no Django


def app_sources(root: Path = ROOT, packages: Iterable[str] = (*APPS, RUBRIC)) -> dict[str, str]:
    """Module name → source of every module in ``packages`` (a package is its ``__init__``), migrations aside."""
    sources = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).with_suffix("")
            if "migrations" in relative.parts:
                continue
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            sources[".".join(parts)] = path.read_text(encoding="utf-8")
    return sources


def _only_for_type_checking(tree: ast.AST) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:`` (its ``else`` runs, and counts)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def imported_names(module: str, source: str, *, is_package: bool = False) -> set[str]:
    """Every name ``module`` imports, absolute (``from a import b`` gives ``a.b``), function-local ones too."""
    tree = ast.parse(source)
    skipped = _only_for_type_checking(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                package = module if is_package else module.rpartition(".")[0]
                for _up in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(sources: Mapping[str, str], packages: Iterable[str] = ()) -> dict[str, set[str]]:
    """Module → the modules of ``sources`` it imports. ``packages``: the module names that are packages (their
    relative imports start from themselves)."""
    package_names = set(packages)

    def resolve(name: str) -> str | None:
        while name and name not in sources:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        targets = {resolve(name) for name in imported_names(module, source, is_package=module in package_names)}
        graph[module] = {target for target in targets if target is not None and target != module}
    return graph


class Cycle(NamedTuple):
    modules: list[str]  # every module of the circle (each reaches each other by imports), sorted
    loop: list[str]  # one loop through it, [a, b, …, a]

    def __str__(self) -> str:
        return f"{' → '.join(self.loop)}  (the circle: {', '.join(self.modules)})"


def cycles(graph: Mapping[str, set[str]]) -> list[Cycle]:
    """Each import circle (a strongly connected set of modules), with one loop through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[Cycle] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iteratively (no recursion limit to meet)
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(Cycle(sorted(component), _loop(graph, set(component))))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def _loop(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """The shortest import loop from the component's first module back to itself, inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module] & component):
                if target == start:
                    return [*paths[module], start]
                if target not in paths:
                    paths[target] = [*paths[module], target]
                    following.append(target)
        frontier = following
    return sorted(component)  # not reached: a strongly connected set has a loop through each member
