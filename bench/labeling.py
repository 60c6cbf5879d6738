"""The labeling loop under load: 16 annotators fetch their next item and submit a label at once, against
the data set of bench/labeling_data.py (100k scenarios, 300k responses, 1M labels in PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/medes_bench python bench/labeling_data.py   # once
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/medes_bench python bench/labeling.py [--seconds 60]

The web app runs under gunicorn on 127.0.0.1 (``--workers``, default one per core) with DEBUG off; each client
is one of the annotators ``live00``…``live15`` of the ``bench-live`` campaign, signed in through the login
page, and drives the same endpoints as the browser (the htmx requests of the labeling screen): next (the panel
of a newly reserved item), then submit (204; the browser then asks for the next item, as this loop does).
Server time and SQL queries come from each response's Server-Timing header; the client time includes the
network and queueing on this machine. Labels the run adds are deleted afterwards, so runs repeat.
``--think S`` makes each annotator spend about S seconds on an item, as people do; without it the 16 clients
ask again the moment they are answered (a saturation test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Stats, run, timed  # noqa: E402

PORT = 8091
BASE = f"http://127.0.0.1:{PORT}"
PASSWORD = "bench password 123"
CACHE_URL = "redis://127.0.0.1:6379/13"
ITEM = re.compile(r'action="/annotate/items/(\d+)/submit/"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
OPENED = re.compile(r'name="opened" value="([^"]*)"')


def start_server(workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1",
        "MEDES_SERVER_TIMING": "always",  # the bench reads each response's server time
        "SECURE_SSL_REDIRECT": "0",
        "MEDES_LOGIN_FAILURE_LIMIT": "1000",
        # sessions and the signed-in user from a shared Redis, as a deployment of several web processes has
        "MEDES_CACHE_URL": os.environ.get("MEDES_CACHE_URL", CACHE_URL),
        # its own copy of the static files: a test run in the same checkout reads the checkout's staticfiles/
        "STATIC_ROOT": str(Path(os.environ.get("MEDES_VAR_DIR", ROOT / "var")) / "bench_static"),
    }
    import redis

    redis.Redis.from_url(env["MEDES_CACHE_URL"]).flushdb()  # nothing cached from an earlier data set
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "medes_site.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-control-socket",  # gunicorn 27's control socket is one path per user: two masters would share it
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{BASE}/healthz", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.5)
    os.killpg(process.pid, signal.SIGTERM)
    raise SystemExit("the web server did not come up")


def plain_http(session: requests.Session) -> None:
    """With DEBUG off the cookies are marked Secure; on this loopback bench they travel over plain HTTP."""
    for cookie in session.cookies:
        cookie.secure = False


def sign_in(username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{BASE}/accounts/login/", timeout=30)
    plain_http(session)
    token = session.cookies["csrftoken"]
    response = session.post(
        f"{BASE}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{BASE}/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise SystemExit(f"{username} could not sign in ({response.status_code})")
    plain_http(session)
    # From here on the cookies go in a header: Django marks new ones Secure, which plain HTTP would drop.
    session.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    session.headers["Referer"] = BASE + "/"
    return session


def live_campaign() -> int:
    """The bench-live campaign's id (PostgreSQL, built by bench/labeling_data.py)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")
    import django

    django.setup()
    from django.db import connection

    from annotation.models import Campaign

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to the PostgreSQL database bench/labeling_data.py built.")
    campaign = Campaign.objects.filter(name="bench-live").first()
    if campaign is None:
        sys.exit("No bench-live campaign: run bench/labeling_data.py first.")
    return campaign.pk


def last_label() -> int:
    from django.db.models import Max

    from annotation.models import Label

    return Label.objects.aggregate(m=Max("pk"))["m"] or 0


def reset_live(campaign_pk: int, before: int) -> None:
    """Put bench-live back as it was before a run (labels after ``before`` and what they changed), so the next
    run measures the same thing."""
    from django.db import connection

    from annotation.models import AcceptedLabel, Assignment, Item, Label

    added = Label.objects.filter(item__campaign_id=campaign_pk, pk__gt=before)
    items = list(added.values_list("item_id", flat=True))
    AcceptedLabel.objects.filter(item_id__in=items).delete()
    added.delete()
    Assignment.objects.filter(item__campaign_id=campaign_pk, item__submitted__lt=3).exclude(status="submitted").delete()
    Assignment.objects.filter(item_id__in=items).delete()
    Item.objects.filter(pk__in=items).update(submitted=0, state="open")
    # the dead rows cleaned up now, not by an autovacuum in the middle of the next run
    with connection.cursor() as cursor:
        for model in (Label, Assignment, Item, AcceptedLabel):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
    connection.close()


def labeling_loop(campaign_pk: int, think: float = 0.0, seed: int = 7) -> Callable[[requests.Session, Stats], bool]:
    """One annotator's loop as the browser drives it: next (the panel of a newly reserved item), then submit."""
    rng = random.Random(seed)
    next_url = f"{BASE}/annotate/campaigns/{campaign_pk}/next/"

    def loop(session: requests.Session, stats: Stats) -> bool:
        screen = timed(
            stats, "next", lambda: session.post(next_url, headers={"HX-Request": "true"}, timeout=60), (200,)
        )
        if screen is None:
            return False
        item, key = ITEM.search(screen.text), KEY.search(screen.text)
        if item is None or key is None:
            return False  # nothing left for this annotator
        opened = OPENED.search(screen.text)
        data = {
            "idempotency_key": key.group(1),
            "rationale": "",
            "opened": opened.group(1) if opened else "",
            **{f"s-{d}": rng.choice(["-1", "0"]) for d in ("R1", "R2")},
            **{f"s-{d}": rng.choice(["0", "1"]) for d in ("Q1", "Q2", "Q3", "Q4")},
        }
        if think:
            time.sleep(think * random.uniform(0.5, 1.5))
        url = f"{BASE}/annotate/items/{item.group(1)}/submit/"
        submitted = timed(
            stats,
            "submit",
            lambda: session.post(url, data=data, headers={"HX-Request": "true"}, timeout=60),
            (204,),
        )
        return submitted is not None

    return loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="gunicorn workers (default: one per core; this machine also runs PostgreSQL and the "
        "clients, so more workers than cores only adds CPU queueing to the server time)",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds an annotator spends on an item between next and submit (default 0: "
        "every client asks again at once, a saturation test)",
    )
    parser.add_argument("--json", type=Path, help="also write the summary here (bench/labeling_scale.py reads it)")
    parser.add_argument("--raw", action="store_true", help="with --json: every request's server time too")
    args = parser.parse_args()
    campaign = live_campaign()
    before = last_label()
    from django.db import connection

    connection.close()
    server = start_server(args.workers)
    try:
        sessions = [sign_in(f"live{n:02d}") for n in range(args.clients)]
        loop = labeling_loop(campaign, args.think)
        stats, elapsed = run(sessions, loop, seconds=args.seconds, max_requests=args.max_requests)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    reset_live(campaign, before)
    print(f"{platform.node()} · {os.cpu_count()} cores · PostgreSQL · gunicorn {args.workers} workers")
    think = f", {args.think:g} s per item" if args.think else ", no think time"
    print(f"{args.clients} annotators for {elapsed:.0f} s{think} on bench-live (1M labels in the database)")
    print(json.dumps(stats.summary(elapsed), indent=1))
    if args.json:
        summary = {"seconds": elapsed, "labels": labels_in_database(), **stats.summary(elapsed)}
        if args.raw:
            summary["raw_server_ms"] = {op: list(times) for op, times in stats.server_ms.items()}
        args.json.write_text(json.dumps(summary))


def labels_in_database() -> int:
    from annotation.models import Label

    return Label.objects.count()


if __name__ == "__main__":
    main()
