"""The shape of the code (STYLE.md: "No import circles"; "Imports flow benchmark ← annotation ← alignment").

The imports of every app module are read with ``ast`` by tests/import_graph.py, function-local ones too (an
import inside a function is still a dependency, only a later one); those under ``if TYPE_CHECKING:`` are left
out, as they never run. The rules:

- no import cycle among the apps' modules (migrations aside);
- an app imports only the apps below it: medes_site ← benchmark ← annotation ← alignment. The settings and the
  root URL conf name everything, and may. The ``rubric`` package (the MedES rubric as plain Python) imports no
  app and no Django; nor does the training code (alignment.training), which imports rubric at most;
- no app module is over 600 lines, and each says in its docstring what it is for;
- ruff format decides every line (no ``# fmt: skip`` or ``# fmt: off``, in tests and benches too).

The checkers themselves are tested on small made-up module sets, so that they cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from django.conf import settings

from tests.import_graph import APPS, ROOT, RUBRIC, Cycle, app_sources, cycles, import_graph, imported_names

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


FORMATTER_ESCAPE = re.compile(r"#\s*fmt:\s*(skip|off)\s*$")


def formatter_escapes(sources: Mapping[str, str]) -> list[str]:
    """Each line that keeps ruff format away (``# fmt: skip``, ``# fmt: off``), as "module:line"."""
    return [
        f"{name}:{number}"
        for name, source in sorted(sources.items())
        for number, line in enumerate(source.splitlines(), start=1)
        if FORMATTER_ESCAPE.search(line)
    ]


def test_ruff_format_decides_every_line() -> None:
    sources = {**app_sources(), **app_sources(packages=("tests", "bench", "scripts"))}
    found = formatter_escapes(sources)
    assert not found, f"Lines ruff format may not touch: {', '.join(found)}. Let it format them (STYLE.md)."


def test_the_shape_checks_find_what_they_look_for() -> None:
    made_up = {
        "alignment.training.stage": "from django.db import models\nfrom rubric import SCORES\n",
        "alignment.big": '"""Big."""\n' + "x = 1\n" * 601,
        "benchmark.bare": "x = 1\n",
        "benchmark.management.commands.go": "x = 1\n",
        "benchmark.empty": "",
        "benchmark.dense": 'x = {"a": 1}  # fmt' + ": skip\n",
    }
    assert oversized(made_up) == ["alignment.big (602)"]
    assert undocumented(made_up) == ["alignment.training.stage", "benchmark.bare", "benchmark.dense"]
    assert formatter_escapes(made_up) == ["benchmark.dense:1"]
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
