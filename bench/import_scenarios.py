"""Import N generated MedES-format objective questions (dry run, then the real import).

    python bench/import_scenarios.py [--rows 5000]

Issue 3 asks for 5,000 scenarios in under 10 s. Runs on a throw-away test database (SQLite by default,
PostgreSQL when DATABASE_URL says so).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from benchmark.importers.medes_questions import import_medes_questions  # noqa: E402
from benchmark.taxonomy import SCENES  # noqa: E402


def generated(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["scene", "query", "reference", "type"])
    scenes = list(SCENES)
    for n in range(rows):
        query = (
            "你是一个严格按照要求答题的医学考试考生。……\n"
            f"题目：第{n}号题：医生在下列哪些情形下应当取得患者书面同意？\n"
            "A.实施手术\nB.开展临床试验\nC.常规问诊\nD.特殊检查\nE.以上都不是\n【思考过程】：\n"
        )
        writer.writerow([scenes[n % len(scenes)], query, "ABD", "客观题"])
    return buffer.getvalue().encode("utf-8-sig")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    data = generated(args.rows)
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        start = time.perf_counter()
        dry = import_medes_questions(data, origin_name="bench.csv", dry_run=True)
        dry_seconds = time.perf_counter() - start
        start = time.perf_counter()
        real = import_medes_questions(data, origin_name="bench.csv", dry_run=False)
        real_seconds = time.perf_counter() - start
        assert real.new == args.rows and real.written, real.summary()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print(
        f"{args.rows} rows ({len(data) / 1024:.0f} KiB): dry run {dry_seconds:.2f} s ({dry.new} new), "
        f"import {real_seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
