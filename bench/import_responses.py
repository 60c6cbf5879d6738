"""Import N generated MedES-format response rows (dry run, then the real import, then the same file again).

    python bench/import_responses.py [--rows 5000] [--models 5]

Rows answer rows/models distinct objective questions, once per model; the questions are not in the bank, so
the import adds them too. Response texts are the real answers of the public MedES sample when
../shared/data/medes-sample is beside the clone or MEDES_SAMPLE_DIR names it (their length and answer forms
make the extraction cost realistic), else a short made-up answer. Runs on a throw-away test database (SQLite by default,
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

from benchmark.importers.responses import import_medes_responses  # noqa: E402
from benchmark.taxonomy import SCENES  # noqa: E402

SAMPLE = Path(os.environ.get("MEDES_SAMPLE_DIR") or ROOT.parent / "shared" / "data" / "medes-sample")


def answers() -> list[str]:
    texts: list[str] = []
    for path in sorted(SAMPLE.glob("objective_*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            texts += [row["response"] for row in csv.DictReader(handle) if "response" in row]
    return texts or ["【思考过程】：手术、临床试验和特殊检查都需要书面同意。\n\n【最终答案】：ABD"]


def generated(rows: int, models: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["scene", "query", "reference", "model", "response", "type", "answer_model"])
    scenes, texts = list(SCENES), answers()
    for n in range(rows):
        item = n // models
        query = (
            "你是一个严格按照要求答题的医学考试考生。……\n"
            f"题目：第{item}号题：医生在下列哪些情形下应当取得患者书面同意？\n"
            "A.实施手术\nB.开展临床试验\nC.常规问诊\nD.特殊检查\nE.以上都不是\n【思考过程】：\n"
        )
        writer.writerow(
            [scenes[item % len(scenes)], query, "ABD", f"model-{n % models}", texts[n % len(texts)], "客观题", ""]
        )
    return buffer.getvalue().encode("utf-8-sig")


def timed(data: bytes, *, dry_run: bool) -> tuple[float, object]:
    start = time.perf_counter()
    report = import_medes_responses(data, origin_name="bench.csv", dry_run=dry_run)
    return time.perf_counter() - start, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--models", type=int, default=5)
    args = parser.parse_args()
    data = generated(args.rows, args.models)
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        dry_seconds, dry = timed(data, dry_run=True)
        assert dry.new == args.rows, dry.summary()  # type: ignore[attr-defined]
        real_seconds, real = timed(data, dry_run=False)
        again_seconds, again = timed(data, dry_run=False)
        assert real.new == args.rows and real.written, real.summary()  # type: ignore[attr-defined]
        assert again.new == 0, again.summary()  # type: ignore[attr-defined]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print(
        f"{args.rows} rows, {args.models} models ({len(data) / 1024:.0f} KiB): dry run {dry_seconds:.2f} s, "
        f"import {real_seconds:.2f} s ({real.new_questions} questions and {real.new} responses written), "  # type: ignore[attr-defined]
        f"the same file again {again_seconds:.2f} s (nothing written)"
    )


if __name__ == "__main__":
    main()
