"""Time the amendment diff: the largest shipped law against an amended copy of itself.

    python bench/amendment_diff.py [--repeat 20]

The amended copy edits every tenth article, deletes three, inserts three and renumbers the rest, as an
amending decision does. Timed: ``diff_items`` alone (plain Python), the same with every article reworded
(all pairs go through the similarity pass: the worst case for one law), all six laws joined into one
424-article "code" with the same kind of amendment, and ``compare_sources`` with the database (store
the rows, flag scenarios) on a throw-away test database (SQLite unless DATABASE_URL says otherwise).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from benchmark.amendments import Item, compare_sources, diff_items  # noqa: E402
from benchmark.parsing import parse_file  # noqa: E402
from benchmark.provisions import article_label  # noqa: E402
from benchmark.services import SourceMeta, add_source, parse_source  # noqa: E402

LAWS = sorted((ROOT / "benchmark" / "demo" / "laws").glob("*(*).md"))
LARGEST = max(LAWS, key=lambda path: path.stat().st_size)


def articles(paths: list[Path]) -> list[Item]:
    texts = [a.text for path in paths for a in parse_file(path.read_bytes(), path.name).articles]
    return [Item(n, 0, article_label(n, 0), text) for n, text in enumerate(texts, start=1)]


def amended(items: list[Item], *, reword_all: bool = False) -> list[Item]:
    deleted = {len(items) // 4, len(items) // 2, 3 * len(items) // 4}
    texts: list[str] = []
    for item in items:
        if item.number in deleted:
            continue
        text = item.text
        if reword_all or item.number % 10 == 0:
            text = text.replace("应当", "必须", 1) + "具体办法由国务院有关部门制定。"
        texts.append(text)
        if item.number % (len(items) // 3) == 0:
            texts.append(f"新增条文{item.number}：医疗卫生机构应当对人工智能辅助诊疗的结果进行复核。")
    return [Item(n, 0, article_label(n, 0), text) for n, text in enumerate(texts, start=1)]


def timed(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), result


def report(name: str, old: list[Item], new: list[Item], repeat: int) -> None:
    seconds, rows = timed(repeat, lambda: diff_items(old, new))
    counts = Counter(row.kind.value for row in rows)  # type: ignore[attr-defined]
    renumbered = sum(row.renumbered for row in rows)  # type: ignore[attr-defined]
    print(
        f"{name:<44} {len(old):4d} → {len(new):4d} articles  median {seconds * 1000:7.1f} ms  "
        f"{dict(sorted(counts.items()))}, renumbered {renumbered}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    old = articles([LARGEST])
    report(f"{LARGEST.stem}", old, amended(old), args.repeat)
    report(f"{LARGEST.stem}, every article reworded", old, amended(old, reword_all=True), args.repeat)
    code = articles(LAWS)
    report("six laws joined as one code", code, amended(code), max(1, args.repeat // 4))

    setup_test_environment()
    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="bench-media-"))
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        markdown = "\n\n".join(f"{i.label} {i.text}" for i in amended(old))
        before, _ = add_source(io.BytesIO(LARGEST.read_bytes()), LARGEST.name, SourceMeta(title="old"))
        parse_source(before)
        after, _ = add_source(io.BytesIO(markdown.encode()), "new.txt", SourceMeta(title="new", supersedes=before))
        parse_source(after)
        seconds, amendment = timed(args.repeat, lambda: compare_sources(after))
        print(f"compare_sources with the database ({LARGEST.stem}): median {seconds * 1000:.1f} ms; {amendment.counts}")  # type: ignore[attr-defined]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
