"""Where the labeling loop's server CPU goes: next and submit run in this process through Django's test client
(the whole middleware stack, no network, no gunicorn), on the bench-live campaign of bench/labeling_data.py.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/medes_bench python bench/labeling_profile.py [--loops 300]

Prints the thread CPU time of each request (p50, mean), then a cProfile of further loops, sorted by the time
spent in each function itself and by cumulative time. CPU time, not wall time: a busy machine does not change it
much, so a step can be measured while other work runs. The labels written are taken away afterwards, as
bench/labeling.py does.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")
os.environ.update(
    {
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0",
        "MEDES_SERVER_TIMING": "always",
    }
)
os.environ.setdefault("MEDES_CACHE_URL", "redis://127.0.0.1:6379/13")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from labeling import ITEM, KEY, OPENED, last_label, live_campaign, reset_live  # noqa: E402


def loop(client: Client, campaign: int, timings: dict[str, list[float]] | None = None) -> bool:
    """One next and one submit; their thread CPU time in ``timings``."""
    started = time.thread_time()
    screen = client.post(f"/annotate/campaigns/{campaign}/next/", headers={"HX-Request": "true"})
    middle = time.thread_time()
    text = screen.content.decode()
    item, key, opened = ITEM.search(text), KEY.search(text), OPENED.search(text)
    if screen.status_code != 200 or item is None or key is None:
        return False
    data = {
        "idempotency_key": key.group(1),
        "rationale": "",
        "opened": opened.group(1) if opened else "",
        **{f"s-{d}": "0" for d in ("R1", "R2")},
        **{f"s-{d}": "1" for d in ("Q1", "Q2", "Q3", "Q4")},
    }
    before_submit = time.thread_time()
    url = f"/annotate/items/{item.group(1)}/submit/"
    # form-encoded, as a browser and bench/labeling.py send it (the test client would send multipart)
    response = client.post(url, urlencode(data), "application/x-www-form-urlencoded", headers={"HX-Request": "true"})
    done = time.thread_time()
    if response.status_code != 204:
        raise SystemExit(f"submit answered {response.status_code}: {response.content[:500]!r}")
    if timings is not None:
        timings["next"].append((middle - started) * 1000)
        timings["submit"].append((done - before_submit) * 1000)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=300, help="timed loops (and as many again under cProfile)")
    parser.add_argument("--user", default="live00")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--no-profile", action="store_true", help="only the CPU time per request")
    args = parser.parse_args()
    campaign = live_campaign()
    before = last_label()
    client = Client()
    client.force_login(get_user_model().objects.get(username=args.user))
    try:
        for _ in range(30):  # warm: the compiled queries, templates, the cache
            loop(client, campaign)
        timings: dict[str, list[float]] = {"next": [], "submit": []}
        for _ in range(args.loops):
            if not loop(client, campaign, timings):
                raise SystemExit("nothing left to label")
        for op, values in timings.items():
            print(
                f"{op:7} thread CPU per request: p50 {statistics.median(values):.2f} ms, "
                f"mean {statistics.fmean(values):.2f} ms ({len(values)} requests)"
            )
        if args.no_profile:
            return
        profiler = cProfile.Profile(time.thread_time)  # CPU, not the wait on the database
        profiler.enable()
        for _ in range(args.loops):
            loop(client, campaign)
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top * 2)
    finally:
        reset_live(campaign, before)


if __name__ == "__main__":
    main()
