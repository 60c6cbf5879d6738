"""Parse the six shipped laws: the parser alone, and the whole service (read file, parse, write provisions).

    python bench/parse_laws.py [--repeat 20]

Issue 3 asks for the six laws in under 2 s in total. The service half runs against a throw-away test
database (SQLite by default, PostgreSQL when DATABASE_URL says so).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from benchmark.parsing import parse_file  # noqa: E402
from benchmark.services import SourceMeta, add_source, parse_source  # noqa: E402

LAWS = sorted((ROOT / "benchmark" / "demo" / "laws").glob("*(*).md"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    files = [(path.name, path.read_bytes()) for path in LAWS]
    total_bytes = sum(len(data) for _, data in files)

    parser_runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        articles = sum(len(parse_file(data, name).articles) for name, data in files)
        parser_runs.append(time.perf_counter() - start)

    setup_test_environment()
    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="bench-media-"))
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        sources = [add_source(io.BytesIO(data), name, SourceMeta(title=name.split("(")[0]))[0] for name, data in files]
        service_runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            for source in sources:
                parse_source(source)
            service_runs.append(time.perf_counter() - start)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print(f"six laws: {len(files)} files, {total_bytes / 1024:.0f} KiB, {articles} articles; {args.repeat} passes")
    print(f"parser only:            median {statistics.median(parser_runs) * 1000:7.1f} ms per pass of all six")
    print(f"parse_source (with DB): median {statistics.median(service_runs) * 1000:7.1f} ms per pass of all six")
    for name, data in files:  # the counts a curator reads: numbered chapters apart from a bare 附则
        doc = parse_file(data, name)
        other = f" + {', '.join(doc.unnumbered)}" if doc.unnumbered else ""
        print(f"  {name}: {len(doc.articles)} articles, {doc.count('chapter')} chapters{other}, title {doc.title}")
        for note in doc.notes:
            print(f"    {note}")


if __name__ == "__main__":
    main()
