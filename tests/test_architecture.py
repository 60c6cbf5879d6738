"""The shape of the code (STYLE.md: "No import circles"; "Imports flow benchmark ← annotation ← alignment").

The imports of every app module are read with ``ast``, function-local ones too (an import inside a function is
still a dependency, only a later one); those under ``if TYPE_CHECKING:`` are left out, as they never run. Two
rules hold:

- no import cycle among the apps' modules (migrations aside);
- an app imports only the apps below it: medes_site ← benchmark ← annotation ← alignment. The settings and the
  root URL conf name everything, and may. The ``rubric`` package (the MedES rubric as plain Python) imports no
  app and no Django.

The checker itself is tested on small made-up module sets, so that it cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
APPS = ("medes_site", "benchmark", "annotation", "alignment")  # lowest first: each may import those before it
RUBRIC = "rubric"  # plain Python: imports no app and no Django
MAY_IMPORT_ANY = frozenset({"medes_site.settings", "medes_site.urls", settings.ROOT_URLCONF})

CYCLE_ADVICE = (
    "Two modules that need each other are missing a third, lower one: move what both need (a constant, a path "
    "helper, an error class) into a module that imports neither, and import it from both at the top. Do not hide "
    "the import inside a function: this test counts those too."
)
LAYER_ADVICE = (
    "Imports flow medes_site ← benchmark ← annotation ← alignment (and nothing into rubric). Move the code the "
    "lower app needs down into it, or let the higher app hand it over (a registry, a signal, as "
    "annotation.suggestions does for the guardian's suggestions)."
)


# --- the checker -----------------------------------------------------------------------------------------------


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


def layer_errors(sources: Mapping[str, str], graph: Mapping[str, set[str]]) -> list[str]:
    """Each import against the layers, as "importer → imported"."""
    rank = {app: position for position, app in enumerate(APPS)}
    errors = []
    for module, targets in sorted(graph.items()):
        app = module.partition(".")[0]
        if app in rank and module not in MAY_IMPORT_ANY:
            errors.extend(
                f"{module} → {target}"
                for target in sorted(targets)
                if rank.get(target.partition(".")[0], -1) > rank[app]
            )
    for module, source in sorted(sources.items()):
        if module.partition(".")[0] == RUBRIC:
            names = imported_names(module, source, is_package=module == RUBRIC)
            errors.extend(f"{module} → {name}" for name in sorted(names) if name.partition(".")[0] in (*APPS, "django"))
    return errors


def _real() -> tuple[dict[str, str], dict[str, set[str]]]:
    sources = app_sources()
    packages = {name for name in sources if (ROOT / name.replace(".", "/") / "__init__.py").is_file()}
    return sources, import_graph(sources, packages)


# --- the code's shape ------------------------------------------------------------------------------------------


def test_no_import_cycle_among_the_apps_modules() -> None:
    _sources, graph = _real()
    found = cycles(graph)
    assert not found, "Import cycles among app modules:\n" + "\n".join(map(str, found)) + f"\n{CYCLE_ADVICE}"


def test_each_app_imports_only_the_apps_below_it_and_rubric_no_app_nor_django() -> None:
    sources, graph = _real()
    errors = layer_errors(sources, graph)
    assert not errors, "Imports against the layers:\n" + "\n".join(errors) + f"\n{LAYER_ADVICE}"


def test_the_walk_sees_the_apps_imports_function_local_ones_too() -> None:
    sources, graph = _real()
    assert {"medes_site.jobs", "benchmark.models", "annotation.services", "alignment.kinds.judge"} <= set(sources)
    assert {"alignment.services", "medes_site.jobs"} <= graph["alignment.kinds.judge"]
    assert "medes_site.jobs" in graph["medes_site.tasks"]


MAX_LINES = 600
TRAINING = "alignment.training"  # plain Python and the ML libraries: run by ``accelerate launch``, no Django
TRAINING_MAY_IMPORT = (TRAINING, RUBRIC)


def oversized(sources: Mapping[str, str], limit: int = MAX_LINES) -> list[str]:
    """The modules over ``limit`` lines, as "name (lines)"."""
    return [
        f"{name} ({lines})" for name, source in sorted(sources.items()) if (lines := len(source.splitlines())) > limit
    ]


def undocumented(sources: Mapping[str, str]) -> list[str]:
    """The modules with code and no docstring. A management command says what it does in its ``help``."""
    return [
        name
        for name, source in sorted(sources.items())
        if source.strip() and ".management.commands." not in name and ast.get_docstring(ast.parse(source)) is None
    ]


def training_errors(sources: Mapping[str, str]) -> list[str]:
    """Each import of Django or of an app (rubric aside) by the training code, as "importer → imported"."""
    errors = []
    for module, source in sorted(sources.items()):
        if module == TRAINING or module.startswith(TRAINING + "."):
            names = imported_names(module, source, is_package=module == TRAINING)
            errors.extend(
                f"{module} → {name}"
                for name in sorted(names)
                if name.partition(".")[0] in (*APPS, "django") and not name.startswith(TRAINING_MAY_IMPORT)
            )
    return errors


def test_no_app_module_is_over_600_lines() -> None:
    found = oversized(app_sources())
    assert not found, (
        f"Modules over {MAX_LINES} lines: {', '.join(found)}. Split each by what its parts are (a reader of the new "
        "names knows where to look), not into a grab-bag."
    )


def test_every_app_module_says_what_it_is_for() -> None:
    found = undocumented(app_sources())
    assert not found, f"Modules without a docstring: {', '.join(found)}. Its first lines say what the module is for."


def test_the_training_code_imports_neither_django_nor_the_apps() -> None:
    errors = training_errors(app_sources())
    assert not errors, (
        "The training code runs under accelerate without Django:\n" + "\n".join(errors) + "\nPass it what it "
        "needs (paths, rows, a config) from the job kind instead."
    )


def test_the_shape_checks_find_what_they_look_for() -> None:
    made_up = {
        "alignment.training.stage": "from django.db import models\nfrom rubric import SCORES\n",
        "alignment.big": '"""Big."""\n' + "x = 1\n" * 601,
        "benchmark.bare": "x = 1\n",
        "benchmark.management.commands.go": "x = 1\n",
        "benchmark.empty": "",
    }
    assert oversized(made_up) == ["alignment.big (602)"]
    assert undocumented(made_up) == ["alignment.training.stage", "benchmark.bare"]
    assert training_errors(made_up) == ["alignment.training.stage → django.db.models"]


# --- the checker, on made-up modules ----------------------------------------------------------------------------


def test_the_checker_finds_a_cycle_closed_by_a_function_local_import() -> None:
    sources = {
        "shop.orders": "from shop.billing import invoice\n",
        "shop.billing": "from shop import stock\n\ndef invoice():\n    pass\n",
        "shop.stock": "def reserve():\n    from shop.orders import place\n",
        "shop.mail": "import shop.orders\n",
    }
    assert cycles(import_graph(sources)) == [
        Cycle(
            ["shop.billing", "shop.orders", "shop.stock"], ["shop.billing", "shop.stock", "shop.orders", "shop.billing"]
        )
    ]


def test_the_checker_leaves_out_imports_only_for_type_checking_and_resolves_relative_ones() -> None:
    sources = {
        "shop": "",
        "shop.orders": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shop.billing import Invoice\n",
        "shop.billing": "from .orders import place\n",
        "shop.stock": "from . import billing\n",
    }
    graph = import_graph(sources, packages={"shop"})
    assert graph["shop.orders"] == set()
    assert graph["shop.billing"] == {"shop.orders"}
    assert graph["shop.stock"] == {"shop.billing"}
    assert cycles(graph) == []


def test_the_checker_finds_imports_against_the_layers() -> None:
    sources = {
        "benchmark.models": "def f():\n    from annotation.models import Item\n",
        "annotation.models": "from benchmark.models import Scenario\n",
        "medes_site.urls": "from alignment import views\n",
        "alignment.views": "",
        "rubric": "from django.db import models\n",
        "rubric.schema": "from benchmark.models import Scenario\nimport json\n",
    }
    assert layer_errors(sources, import_graph(sources, packages={"rubric"})) == [
        "benchmark.models → annotation.models",
        "rubric → django.db.models",
        "rubric.schema → benchmark.models.Scenario",
    ]
