"""Foundation figures: page latency and SQL queries per request, and a job's round trip on a real worker.

    python bench/foundation.py [--jobs 10000] [--requests 200] [--roundtrips 20]

Runs against the database and broker the environment names (SQLite + filesystem broker by default;
set DATABASE_URL / CELERY_BROKER_URL for PostgreSQL + Redis). It creates a throw-away test database
(`test_<name>`), so it never touches real data, and prints one table plus a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")
os.environ.setdefault("MEDES_JOB_HEARTBEAT_SECONDS", "1")
os.environ.setdefault("MEDES_JOB_STALE_SECONDS", "5")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from medes_site import jobs  # noqa: E402
from medes_site.accounts import create_user  # noqa: E402
from medes_site.models import Job, JobStatus  # noqa: E402
from medes_site.roles import Role  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def time_requests(client: Client, url: str, n: int, **headers: str) -> dict[str, float]:
    client.get(url, headers=headers)  # warm caches and templates
    timings: list[float] = []
    with CaptureQueriesContext(connection) as queries:
        for _ in range(n):
            start = time.perf_counter()
            response = client.get(url, headers=headers)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
    return {
        "median_ms": round(statistics.median(timings), 2),
        "p95_ms": round(percentile(timings, 0.95), 2),
        "queries": len(queries) / n,
    }


def seed_jobs(user: object, count: int) -> None:
    now = timezone.now()
    statuses = list(JobStatus)
    Job.objects.bulk_create(
        [
            Job(
                kind="system.selfcheck",
                status=statuses[i % len(statuses)],
                triggered_by=user,  # type: ignore[misc]
                config={"steps": 1},
                progress=(i % 100) / 100,
                started_at=now,
                finished_at=now,
            )
            for i in range(count)
        ],
        batch_size=2000,
    )


def job_roundtrips(user: object, n: int, db_url: str) -> dict[str, float]:
    env = {**os.environ, "DATABASE_URL": db_url}
    log = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log", delete=False)  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "medes_site",
            "worker",
            "-Q",
            "default,gpu",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in Path(log.name).read_text(errors="replace"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(Path(log.name).read_text(errors="replace"))
            time.sleep(0.1)
        latencies: list[float] = []
        for _ in range(n):
            start = time.perf_counter()
            job = jobs.enqueue_job("system.selfcheck", {"steps": 1, "step_seconds": 0}, user=user)  # type: ignore[arg-type]
            while Job.objects.values_list("status", flat=True).get(pk=job.pk) != JobStatus.SUCCEEDED:
                if time.perf_counter() - start > 30:
                    raise RuntimeError(f"job {job.pk} did not finish:\n" + Path(log.name).read_text(errors="replace"))
                time.sleep(0.01)
            latencies.append((time.perf_counter() - start) * 1000)
        return {"median_ms": round(statistics.median(latencies), 1), "p95_ms": round(percentile(latencies, 0.95), 1)}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000, help="job rows to seed for the list pages")
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    parser.add_argument("--roundtrips", type=int, default=20, help="jobs to run on a real worker")
    args = parser.parse_args()

    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ARTIFACTS_ROOT = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    os.environ["ARTIFACTS_ROOT"] = str(settings.ARTIFACTS_ROOT)
    old_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        if connection.vendor == "sqlite":
            db_url = f"sqlite:///{test_name}"
        else:
            s = connection.settings_dict
            db_url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{test_name}"
        ml = create_user("bench_ml", roles=[Role.ML_ENGINEER], password="bench password 123")
        annotator = create_user("bench_annotator", roles=[Role.ANNOTATOR], password="bench password 123")
        seed_jobs(ml, args.jobs)
        some_job = Job.objects.order_by("pk").first()
        assert some_job is not None

        ml_client, annotator_client, anonymous = Client(), Client(), Client()
        ml_client.force_login(ml)
        annotator_client.force_login(annotator)
        pages = {
            "login page (anonymous)": time_requests(anonymous, reverse("login"), args.requests),
            "annotator home": time_requests(annotator_client, reverse("role_home", args=["annotator"]), args.requests),
            "ML home (recent jobs)": time_requests(
                ml_client, reverse("role_home", args=["ml_engineer"]), args.requests
            ),
            f"job list, page 1 of {args.jobs} jobs": time_requests(ml_client, reverse("jobs:list"), args.requests),
            "job list, filtered (htmx fragment)": time_requests(
                ml_client, reverse("jobs:list") + "?status=failed", args.requests, HX_Request="true"
            ),
            "job status poll (htmx fragment)": time_requests(
                ml_client, reverse("jobs:detail", args=[some_job.pk]), args.requests, HX_Request="true"
            ),
            "API job list": time_requests(ml_client, reverse("api-job-list"), args.requests),
        }
        roundtrip = job_roundtrips(ml, args.roundtrips, db_url)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    machine = f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()}"
    print(f"\nMedES foundation bench — {machine}")
    print(
        f"database: {connection.vendor}, broker: {settings.CELERY_BROKER_URL.split('://')[0]}, "
        f"{args.jobs} job rows, {args.requests} requests per page\n"
    )
    print(f"{'page':<42} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for name, figures in pages.items():
        print(f"{name:<42} {figures['median_ms']:>10} {figures['p95_ms']:>8} {figures['queries']:>8.1f}")
    print(
        f"\njob enqueue → succeeded on a real worker ({args.roundtrips} jobs): "
        f"median {roundtrip['median_ms']} ms, p95 {roundtrip['p95_ms']} ms"
    )
    result = {
        "machine": machine,
        "database": connection.vendor,
        "broker": settings.CELERY_BROKER_URL.split("://")[0],
        "job_rows": args.jobs,
        "pages": pages,
        "job_roundtrip": roundtrip,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"foundation-{connection.vendor}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
