"""Import N generated MedES-format objective questions: the dry run, the import, and the same file again.

    python bench/import_scenarios.py [--rows 100000] [--profile]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/medes_x python bench/import_scenarios.py --rows 100000

Issue 3 asked for 5,000 scenarios in under 10 s; issue 17 (item 4) asks for 100,000 at 10,000 rows/s or more.
Runs on a throw-away test database (SQLite by default, PostgreSQL when DATABASE_URL says so), with DEBUG off as
in production (DEBUG keeps every query's SQL). Prints wall time, rows/s and this process's CPU time for each
step and, on PostgreSQL, the CPU time of this connection's server process (read from /proc: the server runs on this
machine); on a loaded machine the CPU times are the figures to trust. ``--profile`` adds the top of a cProfile of
the import.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from benchmark.importers import ImportReport  # noqa: E402
from benchmark.importers.medes_questions import import_medes_questions  # noqa: E402
from benchmark.models import Scenario, ScenarioScene  # noqa: E402
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


def server_cpu() -> float | None:
    """CPU seconds (user + system) of this connection's PostgreSQL server process so far; None elsewhere, or where
    /proc does not show the process (a server on another machine)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, in clock ticks


@dataclass
class Timing:
    wall: float
    cpu: float  # this process
    server: float | None  # the PostgreSQL server process of this connection


def timed(step: Callable[[], ImportReport], profile: bool) -> tuple[ImportReport, Timing]:
    profiler = cProfile.Profile() if profile else None
    server = server_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    report = step()
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    server_after = server_cpu()
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    spent = None if server is None or server_after is None else server_after - server
    return report, Timing(wall, cpu, spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of the import")
    args = parser.parse_args()
    data = generated(args.rows)
    setup_test_environment(debug=False)
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:

        def run(dry_run: bool) -> ImportReport:
            return import_medes_questions(data, origin_name="bench.csv", dry_run=dry_run)

        dry, dry_time = timed(lambda: run(True), False)
        assert dry.new == args.rows and not dry.written, dry.summary()
        real, real_time = timed(lambda: run(False), args.profile)
        assert real.new == args.rows and real.written, real.summary()
        assert Scenario.objects.count() == args.rows == Scenario.history.count() == ScenarioScene.objects.count()
        again, again_time = timed(lambda: run(False), False)
        assert again.new == 0 and again.duplicates_in_bank == args.rows, again.summary()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print(f"{args.rows} rows ({len(data) / 1024:.0f} KiB), load average {load}:")
    for name, timing in (("dry run", dry_time), ("import", real_time), ("same file again", again_time)):
        server = "" if timing.server is None else f", server {timing.server:.2f} s"
        print(
            f"  {name:16} {timing.wall:6.2f} s  {args.rows / timing.wall:8,.0f} rows/s  (CPU here {timing.cpu:.2f} s"
            f"{server})"
        )


if __name__ == "__main__":
    main()
