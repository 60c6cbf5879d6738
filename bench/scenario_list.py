"""The curator's scenario list over a large bank: server time and SQL queries per request.

    python bench/scenario_list.py [--scenarios 100000] [--requests 30]

Issue 3 asks for under 200 ms of server time over 100,000 scenarios, with a constant number of queries; issue 17
for deep pages as fast as the first (keyset pagination: page 50 and 500 as reached by the Next links, beside
the same pages by an old ``?page=N`` link, which OFFSET serves).
Runs on a throw-away test database (SQLite by default, PostgreSQL when DATABASE_URL says so).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from benchmark.models import Scenario, Scene  # noqa: E402
from benchmark.views import SCENARIO_ORDER, SCENARIOS_PER_PAGE  # noqa: E402
from medes_site.accounts import create_user  # noqa: E402
from medes_site.roles import Role  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    results = {}
    try:
        scenes = list(Scene.objects.all())
        statuses = ["draft", "in_review", "accepted"]
        Scenario.objects.bulk_create(
            [
                Scenario(
                    kind="objective",
                    stem=f"第{n}题：哪些情形下应当取得书面同意？",
                    options={"A": "x", "B": "y"},
                    key="A",
                    scene=scenes[n % len(scenes)],
                    origin="imported",
                    status=statuses[n % 3],
                    content_hash=f"{n:064x}",
                )
                for n in range(args.scenarios)
            ],
            batch_size=5000,
        )
        with connection.cursor() as cursor:  # the statistics autovacuum would have gathered on a live database
            cursor.execute("ANALYZE benchmark_scenario")
        client = Client()
        client.force_login(create_user("bench_curator", roles=[Role.CURATOR], password="bench password 123"))
        url = reverse("benchmark:scenarios")
        urls = {
            "first page": url,
            "status + scene filter": url + f"?status=accepted&scene={scenes[3].pk}",
            "text search 第4242题": url + "?q=第4242题",
            "text search 书面同意": url + "?q=书面同意",  # in every row
        }
        for number in (50, 500):  # the Next link of the page before, as a curator following them would get it
            if number * SCENARIOS_PER_PAGE <= args.scenarios:
                last = Scenario.objects.order_by(*SCENARIO_ORDER.names)[(number - 1) * SCENARIOS_PER_PAGE - 1]
                urls[f"page {number} (keyset)"] = url + f"?page={number}&after={SCENARIO_ORDER.cursor_of(last)}"
                urls[f"page {number} (old ?page=)"] = url + f"?page={number}"
        for name, url in urls.items():
            client.get(url)
            timings = []
            with CaptureQueriesContext(connection) as queries:
                for _ in range(args.requests):
                    start = time.perf_counter()
                    assert client.get(url).status_code == 200
                    timings.append((time.perf_counter() - start) * 1000)
            sql = sum(float(query["time"]) for query in queries.captured_queries) * 1000 / args.requests
            results[name] = (statistics.median(timings), max(timings), len(queries) / args.requests, sql)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print(f"{args.scenarios} scenarios, {args.requests} requests each")
    for name, (median, worst, queries, sql) in results.items():
        print(f"  {name:<26} median {median:7.1f} ms  max {worst:7.1f} ms  {queries:.0f} queries, {sql:5.1f} ms of SQL")


if __name__ == "__main__":
    main()
