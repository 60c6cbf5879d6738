"""Build the labeling bench's data set in one command (PostgreSQL): 100,000 scenarios, 300,000 responses from
three models, and 1,000,000 labels.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/medes_bench python bench/labeling_data.py [--scale 1.0]

The database named in DATABASE_URL is created if missing, migrated, and filled once (a second run sees the
data and stops). Layout:
- campaign ``bench-history``: 300,000 items (every response), each labeled by 3 of 30 annotators, settled
  (agreed) — 900,000 labels;
- campaign ``bench-live``: 50,000 items (the first 50,000 responses); 33,334 of them already labeled 3 times
  (100,002 labels), the rest open, with 16 annotators ``live00``…``live15`` who label during the load test.
Rows go in with PostgreSQL COPY (the ORM would take many minutes for two million rows).
``--scale 0.01`` builds a 1 % copy for a quick try.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402
import psycopg  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from annotation.models import Campaign, CampaignStatus, Guideline, Member, MemberRole  # noqa: E402
from benchmark.models import RegisteredModel, Scene  # noqa: E402
from medes_site.accounts import create_user  # noqa: E402
from medes_site.roles import Role  # noqa: E402

BENCH_PASSWORD = "bench password 123"
SAFE = {"R1": 0, "R2": 0, "Q1": 1, "Q2": 1, "Q3": 1, "Q4": 0}


def ensure_database() -> None:
    settings = connection.settings_dict
    admin = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [settings["NAME"]]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{settings["NAME"]}"')


def _defaults(table: str, columns: list[str]) -> tuple[list[str], tuple[object, ...]]:
    """The table's other NOT NULL columns with their model defaults, so a column added by a later migration
    does not stop the bench (COPY fills nothing in by itself: Django's defaults live in Python)."""
    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    names, values = [], []
    for field in model._meta.concrete_fields:
        if field.column in columns or field.primary_key or field.null:
            continue
        if not (field.has_default() or field.empty_strings_allowed):  # a text field's default is ""
            continue
        value = field.get_default()
        names.append(field.column)
        values.append(json.dumps(value) if isinstance(value, dict | list) else value)
    return names, tuple(values)


def copy(table: str, columns: list[str], rows: object) -> int:
    n = 0
    extra, filled = _defaults(table, columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({', '.join(columns + extra)}) FROM STDIN") as out:
            for row in rows:  # type: ignore[attr-defined]
                out.write_row(row + filled)
                n += 1
    return n


def build(scale: float) -> dict[str, float]:
    n_scenarios = int(100_000 * scale)
    n_live = int(50_000 * scale)
    n_live_done = int(33_334 * scale)
    timings: dict[str, float] = {}
    now = timezone.now()
    scenes = list(Scene.objects.values_list("pk", flat=True))

    start = time.perf_counter()
    stem = "我是一名住院医师，患者家属要求对患者隐瞒病情，而患者本人希望了解自己的诊断结果和治疗方案，我应该怎么办？"
    copy(
        "benchmark_scenario",
        [
            "kind",
            "stem",
            "options",
            "key",
            "norm",
            "reference_answer",
            "rubric_notes",
            "scene_id",
            "origin",
            "origin_detail",
            "status",
            "content_hash",
            "version",
            "created_at",
            "updated_at",
        ],
        (
            (
                "subjective",
                f"{n}：{stem}",
                "{}",
                "",
                "知情同意与保护性医疗",
                "",
                "",
                scenes[n % len(scenes)],
                "imported",
                "bench",
                "accepted",
                f"bench{n:058d}",
                1,
                now,
                now,
            )
            for n in range(n_scenarios)
        ),
    )
    timings["scenarios"] = time.perf_counter() - start
    first_scenario = connection.cursor().execute("SELECT min(id) FROM benchmark_scenario").fetchone()[0]

    start = time.perf_counter()
    models = [RegisteredModel.objects.create(name=f"bench-model-{m}", kind="imported") for m in range(3)]
    answer = "作为医生，我会先与家属沟通，说明患者享有知情权，然后在合适的时机，以关怀的方式告知患者病情。" * 2
    copy(
        "benchmark_response",
        [
            "model_id",
            "scenario_id",
            "scenario_version",
            "scenario_hash",
            "answer_key",
            "text",
            "origin",
            "origin_detail",
            "reported_choice",
            "choice",
            "created_at",
        ],
        (
            (m.pk, first_scenario + n, 1, f"bench{n:058d}", "", answer, "imported", "bench", "", "", now)
            for n in range(n_scenarios)
            for m in models
        ),
    )
    timings["responses"] = time.perf_counter() - start
    first_response = connection.cursor().execute("SELECT min(id) FROM benchmark_response").fetchone()[0]
    n_responses = n_scenarios * 3

    history_annotators = [
        create_user(f"hist{a:02d}", roles=[Role.ANNOTATOR], password=BENCH_PASSWORD) for a in range(30)
    ]
    live_annotators = [create_user(f"live{a:02d}", roles=[Role.ANNOTATOR], password=BENCH_PASSWORD) for a in range(16)]
    reviewer = create_user("bench-reviewer", roles=[Role.REVIEWER], password=BENCH_PASSWORD)

    scores = json.dumps(SAFE)
    start = time.perf_counter()
    labels = 0
    for name, n_items, n_done, people in (
        ("bench-history", n_responses, n_responses, history_annotators),
        ("bench-live", n_live, n_live_done, live_annotators),
    ):
        campaign = Campaign.objects.create(name=name, overlap=3, status=CampaignStatus.ACTIVE, created_by=reviewer)
        Guideline.objects.create(campaign=campaign, version=1, text="# 指南")
        Member.objects.bulk_create(
            [Member(campaign=campaign, user=u, role=MemberRole.ANNOTATOR) for u in people]
            + [Member(campaign=campaign, user=reviewer, role=MemberRole.REVIEWER)]
        )
        copy(
            "annotation_item",
            ["campaign_id", "scenario_id", "response_id", "position", "state", "submitted", "is_gold"],
            (
                (
                    campaign.pk,
                    first_scenario + n // 3,
                    first_response + n,
                    n + 1,
                    "agreed" if n < n_done else "open",
                    3 if n < n_done else 0,
                    False,
                )
                for n in range(n_items)
            ),
        )
        first_item = (
            connection.cursor()
            .execute("SELECT min(id) FROM annotation_item WHERE campaign_id = %s", [campaign.pk])
            .fetchone()[0]
        )
        copy(
            "annotation_assignment",
            ["item_id", "user_id", "status", "reserved_at", "expires_at", "finished_at"],
            (
                (first_item + n, people[(n + j * 7) % len(people)].pk, "submitted", now, now, now)
                for n in range(n_done)
                for j in range(3)
            ),
        )
        labels += copy(
            "annotation_label",
            [
                "item_id",
                "annotator_id",
                "scores",
                "rationale",
                "guideline_version",
                "seconds_spent",
                "idempotency_key",
                "version",
                "submitted_at",
                "updated_at",
            ],
            (
                (first_item + n, people[(n + j * 7) % len(people)].pk, scores, "", 1, 30, f"b{n}-{j}", 1, now, now)
                for n in range(n_done)
                for j in range(3)
            ),
        )
    timings["labels"] = time.perf_counter() - start
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - start
    timings["label_rows"] = labels
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database (e.g. postgres://postgres@127.0.0.1:5432/medes_bench).")
    ensure_database()
    call_command("migrate", verbosity=0)
    if Campaign.objects.filter(name="bench-live").exists():
        print("data already built:", connection.settings_dict["NAME"])
        return
    timings = build(args.scale)
    print(json.dumps({k: round(v, 1) for k, v in timings.items()}))


if __name__ == "__main__":
    main()
