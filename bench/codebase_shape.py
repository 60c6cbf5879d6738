"""Issue 15's figures for the code's shape: lines per module, import cycles, function-local app imports,
`# fmt: skip` markers and `type: ignore` comments, for the app packages (migrations aside).

    .venv/bin/python bench/codebase_shape.py [ROOT]     # ROOT: a checkout (default: this one)

It reads the files with ``ast`` (it imports none of them), so it runs on any commit's tree (``git worktree add``)."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.import_graph import cycles  # the checker tests/test_architecture.py uses

APPS = ("rubric", "medes_site", "benchmark", "annotation", "alignment")


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")) if (root / app).is_dir() else []:
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(mods: dict[str, Path]) -> tuple[dict[str, set[str]], int]:
    """Module → the app modules it imports (function-local imports included, TYPE_CHECKING blocks not), and
    the number of function-local imports of app modules."""

    def resolve(target: str) -> str | None:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target or None

    edges: dict[str, set[str]] = defaultdict(set)
    local = 0
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        in_function = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            hits = {t for t in (resolve(x) for x in targets) if t and t != name}
            edges[name] |= hits
            if hits and id(node) in in_function:
                local += 1
    return edges, local


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    mods = modules(root)
    lines = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in mods.items()}
    texts = [path.read_text(encoding="utf-8") for path in mods.values()]
    edges, local = imports(mods)
    per_app: dict[str, list[int]] = defaultdict(list)
    for name, count in lines.items():
        per_app[name.split(".")[0]].append(count)
    print(f"root: {root}")
    print(f"app modules: {len(mods)}, lines: {sum(lines.values())}")
    for app, counts in per_app.items():
        print(f"  {app:<12} {len(counts):>3} modules, {sum(counts):>6} lines, largest {max(counts)}")
    big = sorted(((c, n) for n, c in lines.items() if c > 600), reverse=True)
    print(f"modules over 600 lines: {len(big)}" + "".join(f"\n  {c:>5} {n}" for c, n in big))
    found = [cycle.modules for cycle in cycles({name: set(targets) for name, targets in edges.items()})]
    print(f"import cycles: {len(found)}" + "".join(f"\n  {' ↔ '.join(c)}" for c in found))
    print(f"function-local imports of app modules: {local}")
    print(f"'# fmt: skip' markers: {sum(t.count('# fmt: skip') for t in texts)}")
    print(f"'type: ignore' comments: {sum(t.count('type: ignore') for t in texts)}")


if __name__ == "__main__":
    main()
