"""Export a large release to every format and read each readable export back, with the time and peak memory of each.

    python bench/export_release.py [--items 10000] [--formats jsonl,csv,...] [--downloads]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/medes_x python bench/export_release.py --items 1000000

Issue 3 asks for a 10,000-item release exported to every format in under 20 s; issue 17 (item 4) asks for a
1,000,000-item release exported in every format with memory bounded (streamed), the peak RSS measured. Each
format runs in a child process of its own, as the export job does it (write the download, then read it back and
compare the release checksum), and reports its wall time, its peak RSS (``ru_maxrss``) and its peak anonymous
memory (RssAnon, sampled every 10 ms: ``ru_maxrss`` also counts the pages of files ``datasets`` maps, which the
kernel can drop), each beside the child's memory before the export (Django, pyarrow and datasets imported).
A flat peak from 10,000 to 1,000,000 items is what "bounded" means here.

``--downloads`` also times the downloads answered in the request (JSONL, both CSVs, the datasheet), each in a child
process of its own: through Django's test Client and the whole middleware stack, signed in as a reviewer, the
streamed response read chunk by chunk as a server sends it (its SHA-256 taken, the JSONL's compared with the
release's checksum); beside it, for the same format, ``export_bytes``, the whole export in memory, which is what
the download did before it was streamed. Peak RSS and anonymous memory as above, from a baseline taken once the
client is signed in.

The release is built directly (scenarios, provision links and release items written with
``benchmark.importers.bulk.insert_rows``: COPY on PostgreSQL), not through ``publish_release``, which would take
longer than the exports for a million items; the items are what ``publish_release`` makes of such scenarios: a
stem of about 150 characters, four options, two grounding provisions each. On a throw-away test database
(SQLite by default, PostgreSQL when DATABASE_URL says so).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from benchmark import exports  # noqa: E402
from benchmark.importers.bulk import insert_rows  # noqa: E402
from benchmark.models import Provision, Release, ReleaseItem, Scenario, Scene, Source  # noqa: E402
from benchmark.releases import canonical_line  # noqa: E402
from medes_site.accounts import create_user, generate_password  # noqa: E402
from medes_site.roles import Role  # noqa: E402

BUILD_CHUNK = 20_000
READER = "bench-reviewer"  # who downloads
OPTIONS = {"A": "如实告知患者", "B": "听从家属", "C": "请伦理委员会介入", "D": "拒绝回答"}
STEM = "我是一名住院医师，患者家属要求隐瞒病情，而患者本人希望了解自己的诊断结果和治疗方案。" * 2


def build_release(n: int) -> Release:
    """A release of ``n`` items, written in chunks (the parent never holds them all either)."""
    scenes = list(Scene.objects.order_by("pk"))
    source = Source.objects.create(title="中华人民共和国医师法", original_name="law.md", sha256="0" * 64, size=1)
    provisions = Provision.objects.bulk_create(
        [
            Provision(source=source, position=k, number=k, label=f"第{k}条", text="医师应当尊重患者。" * 5)
            for k in range(1, 68)
        ]
    )
    digest = hashlib.sha256()
    release = Release.objects.create(name="MedES-bench", checksum="", item_count=n)
    through = Scenario.provisions.through
    for start in range(0, n, BUILD_CHUNK):
        ks = range(start, min(n, start + BUILD_CHUNK))
        rows = [
            {
                "kind": "objective" if k % 2 else "subjective",
                "stem": f"{k}：{STEM}",
                "options": OPTIONS if k % 2 else {},
                "key": "AC" if k % 2 else "",
                "norm": "" if k % 2 else "知情同意与保护性医疗",
                "scene_id": scenes[k % len(scenes)].pk,
                "content_hash": f"{k:064x}",
            }
            for k in ks
        ]
        with transaction.atomic():
            ids = insert_rows(
                Scenario, rows, same={"origin": "imported", "status": "accepted"}, returning="content_hash"
            )
            cited = {k: [provisions[k % 67], provisions[(k + 7) % 67]] for k in ks}
            insert_rows(
                through,
                [
                    {"scenario_id": ids[row["content_hash"]], "provision_id": p.pk}
                    for k, row in zip(ks, rows, strict=True)
                    for p in cited[k]
                ],
            )
            items = []
            for k, row in zip(ks, rows, strict=True):
                scene = scenes[k % len(scenes)].name
                item = {
                    "id": ids[row["content_hash"]],
                    "kind": row["kind"],
                    "scene": scene,
                    "scenes": [scene],
                    "stem": row["stem"],
                    "options": row["options"],
                    "key": row["key"],
                    "norm": row["norm"],
                    "reference_answer": "",
                    "principles": [],
                    "provisions": sorted(f"{source.title} {p.label}" for p in cited[k]),
                    "content_hash": row["content_hash"],
                    "split": "test" if k % 2 else "dev",
                }
                digest.update(canonical_line(item))
                items.append({"scenario_id": item["id"], "position": k, "split": item["split"], "payload": item})
            insert_rows(ReleaseItem, items, same={"release_id": release.pk})
    release.checksum = digest.hexdigest()
    release.save(update_fields=["checksum"])
    return release


def peak_anon() -> Generator[dict[str, int], None, None]:
    """Sample this process's anonymous memory (RssAnon, kB) every 10 ms until the generator is closed."""
    peak = {"kb": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("RssAnon:"):
                        peak["kb"] = max(peak["kb"], int(line.split()[1]))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def child(fmt: str, database: str) -> None:
    """Run one format's export and read-back in this process; print its figures as JSON."""
    connection.settings_dict["NAME"] = database
    import datasets  # noqa: F401 - imported before the baseline is taken, as the export job has them
    import pyarrow.parquet  # noqa: F401

    release = Release.objects.get(name="MedES-bench")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sampler = peak_anon()
    anon = next(sampler)
    with tempfile.TemporaryDirectory(dir=os.environ.get("MEDES_VAR_DIR")) as folder:
        start = time.perf_counter()
        path = exports.write_download(release, fmt, Path(folder))
        written = time.perf_counter() - start
        peak_written = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, anon["kb"]
        if fmt in exports.READABLE_FORMATS:
            assert exports.file_checksum(path, fmt) == release.checksum, fmt
        total = time.perf_counter() - start
        size = path.stat().st_size
    sampler.close()
    figures = {
        "write_s": written,
        "total_s": total,
        "bytes": size,
        "baseline_mb": baseline / 1024,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_anon_mb": anon["kb"] / 1024,
        "write_peak_mb": peak_written[0] / 1024,
        "write_peak_anon_mb": peak_written[1] / 1024,
    }
    print(json.dumps(figures))


def child_download(fmt: str, database: str, mode: str) -> None:
    """One inline download in this process: ``stream``, the response read chunk by chunk through the test Client; or
    ``memory``, ``export_bytes`` (the download before it was streamed). Its figures as JSON."""
    connection.settings_dict["NAME"] = database
    setup_test_environment(debug=False)  # the test Client's host
    release = Release.objects.get(name="MedES-bench")
    client = Client()
    client.force_login(User.objects.get(username=READER))
    client.get(reverse("benchmark:release", args=[release.pk]))  # the session, the user and the page's code loaded
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sampler = peak_anon()
    anon = next(sampler)
    digest = hashlib.sha256()
    chunks = size = 0
    start = time.perf_counter()
    if mode == "stream":
        response = client.get(reverse("benchmark:release_download", args=[release.pk, fmt]))
        assert response.status_code == 200 and response.streaming, (fmt, response.status_code)
        first = time.perf_counter() - start  # the view's answer, before any item is read
        for chunk in response.streaming_content:  # type: ignore[attr-defined] # a sync iterator under WSGI
            digest.update(chunk)
            chunks += 1
            size += len(chunk)
        response.close()
    else:
        data = exports.export_bytes(release, fmt)
        first = time.perf_counter() - start
        digest.update(data)
        chunks = 1
        size = len(data)
        del data
    elapsed = time.perf_counter() - start
    sampler.close()
    if fmt == "jsonl":
        assert digest.hexdigest() == release.checksum, fmt
    figures = {
        "first_s": first,
        "total_s": elapsed,
        "chunks": chunks,
        "bytes": size,
        "sha256": digest.hexdigest(),
        "baseline_mb": baseline / 1024,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_anon_mb": anon["kb"] / 1024,
    }
    print(json.dumps(figures))


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run(  # this script, with arguments we chose
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{args}: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--formats", default=",".join(exports.FORMATS), help="comma-separated; default: all")
    parser.add_argument(
        "--downloads", action="store_true", help="also the downloads answered in the request, streamed and in memory"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--download", choices=["stream", "memory"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.download:
        child_download(args.child, args.database, args.download)
        return
    if args.child:
        child(args.child, args.database)
        return
    setup_test_environment(debug=False)
    old_name = connection.settings_dict["NAME"]
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    results: dict[str, dict[str, Any]] = {}
    downloads: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        start = time.perf_counter()
        build_release(args.items)
        create_user(READER, roles=[Role.REVIEWER], password=generate_password())
        build_s = time.perf_counter() - start
        connection.close()  # the children open their own
        for fmt in args.formats.split(","):
            results[fmt] = run_child("--child", fmt, "--database", database)
            if args.downloads and fmt in exports.INLINE_FORMATS:
                for mode in ("stream", "memory"):
                    downloads[fmt, mode] = run_child("--child", fmt, "--database", database, "--download", mode)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print(f"release of {args.items:,} items built in {build_s:.1f} s; each format in a child process:")
    print(
        f"  {'format':10} {'write':>8} {'+ read':>8} {'size':>9} {'RSS before':>11} {'peak RSS':>9} {'peak anon':>10}"
        "   writing only: peak RSS, anon"
    )
    for fmt, r in results.items():
        checked = r["total_s"] if fmt in exports.READABLE_FORMATS else float("nan")
        print(
            f"  {fmt:10} {r['write_s']:7.2f}s {checked:7.2f}s {r['bytes'] / 1e6:7.1f}MB {r['baseline_mb']:9.0f}MB "
            f"{r['peak_mb']:7.0f}MB {r['peak_anon_mb']:8.0f}MB   {r['write_peak_mb']:26.0f}MB "
            f"{r['write_peak_anon_mb']:4.0f}MB"
        )
    print(f"all formats: {sum(r['total_s'] for r in results.values()):.1f} s")
    if downloads:
        print("downloads answered in the request, each in a child process: streamed through the test Client, and")
        print("export_bytes (the whole export in memory, the download before it was streamed):")
        print(
            f"  {'format':10} {'how':7} {'answer':>8} {'all':>8} {'size':>9} {'chunks':>6} {'RSS before':>11} "
            f"{'peak RSS':>9} {'peak anon':>10}"
        )
        for (fmt, mode), r in downloads.items():
            print(
                f"  {fmt:10} {mode:7} {r['first_s']:7.2f}s {r['total_s']:7.2f}s {r['bytes'] / 1e6:7.1f}MB "
                f"{r['chunks']:6d} {r['baseline_mb']:9.0f}MB {r['peak_mb']:7.0f}MB {r['peak_anon_mb']:8.0f}MB"
            )
            if mode == "memory":
                assert r["sha256"] == downloads[fmt, "stream"]["sha256"], f"{fmt}: the streamed bytes differ"


if __name__ == "__main__":
    main()
