"""Export a large release to every format and read each readable export back.

    python bench/export_release.py [--items 10000]

Issue 3 asks for a 10,000-item release exported to every format in under 20 s. Each format is timed as the
export job does it (write the download, then read it back and compare the release checksum), on a throw-away
test database (SQLite by default, PostgreSQL when DATABASE_URL says so). Items are realistic in size: a stem
of about 150 characters, four options, two principles and two grounding provisions each.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from benchmark import exports  # noqa: E402
from benchmark.models import Principle, Provision, Scenario, Scene, Source  # noqa: E402
from benchmark.releases import publish_release  # noqa: E402


def build_bank(n: int) -> None:
    scenes = list(Scene.objects.all())
    principles = list(Principle.objects.all())
    source = Source.objects.create(title="中华人民共和国医师法", original_name="law.md", sha256="0" * 64, size=1)
    provisions = Provision.objects.bulk_create(
        [
            Provision(source=source, position=k, number=k, label=f"第{k}条", text="医师应当尊重患者。" * 5)
            for k in range(1, 68)
        ]
    )
    options = {"A": "如实告知患者", "B": "听从家属", "C": "请伦理委员会介入", "D": "拒绝回答"}
    stem = "我是一名住院医师，患者家属要求隐瞒病情，而患者本人希望了解自己的诊断结果和治疗方案。" * 2
    Scenario.objects.bulk_create(
        [
            Scenario(
                kind="objective" if k % 2 else "subjective",
                stem=f"{k}：{stem}",
                options=options if k % 2 else {},
                key="AC" if k % 2 else "",
                norm="" if k % 2 else "知情同意与保护性医疗",
                scene=scenes[k % len(scenes)],
                origin="imported",
                status="accepted",
                content_hash=f"{k:064x}",
            )
            for k in range(n)
        ],
        batch_size=2000,
    )
    through_p = Scenario.principles.through
    through_v = Scenario.provisions.through
    ids = list(Scenario.objects.values_list("pk", flat=True))
    through_p.objects.bulk_create(
        [
            through_p(scenario_id=pk, principle_id=principles[(pk + d) % len(principles)].pk)
            for pk in ids
            for d in (0, 1)
        ],
        batch_size=5000,
    )
    through_v.objects.bulk_create(
        [
            through_v(scenario_id=pk, provision_id=provisions[(pk + d) % len(provisions)].pk)
            for pk in ids
            for d in (0, 7)
        ],
        batch_size=5000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    timings: dict[str, tuple[float, int]] = {}
    try:
        build_bank(args.items)
        start = time.perf_counter()
        release = publish_release("MedES-bench")
        publish_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as folder:
            for fmt in exports.FORMATS:
                start = time.perf_counter()
                path = exports.write_download(release, fmt, Path(folder))
                if fmt in exports.READABLE_FORMATS:
                    assert exports.checksum(exports.read_items(path, fmt)) == release.checksum, fmt
                timings[fmt] = (time.perf_counter() - start, path.stat().st_size)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print(f"release of {args.items} items published in {publish_s:.2f} s")
    for fmt, (seconds, size) in timings.items():
        checked = "written + read back" if fmt in exports.READABLE_FORMATS else "written"
        print(f"  {fmt:10s} {seconds:6.2f} s  {size / 1e6:7.2f} MB  ({checked})")
    total = sum(s for s, _ in timings.values())
    print(f"all formats: {total:.2f} s (target < 20 s)")


if __name__ == "__main__":
    main()
