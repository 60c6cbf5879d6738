"""Queries per batch when the guardian's judgements are stored.

    python bench/judging_queries.py [--responses 640] [--batch 32]

Issue 17 (item 4) asks for judging in batches with a constant number of queries per batch (it was about 3 per
response). The script makes ``--responses`` responses on a throw-away test database (SQLite by default,
PostgreSQL when DATABASE_URL says so), then stores the guardian's judgements of them batch by batch, as the
judging job does (``alignment.services.store_guardian_judgements`` on ``alignment.services.chunks`` of
``response_rows``), twice: first as new judgements, then judged again (replacing them, one in ten reviewed and
kept). It prints the queries of each pass: reading the responses, and storing each batch (min/max per batch).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from alignment import services  # noqa: E402
from alignment.models import GuardianVersion, Judgement  # noqa: E402
from annotation.models import AcceptedLabel, Campaign, Item, Provenance  # noqa: E402
from benchmark.models import RegisteredModel, Response, Scenario, Scene  # noqa: E402

SCORES = {"R1": 0, "R2": 0, "Q1": 1, "Q2": 1, "Q3": 1, "Q4": 1}


def build(n: int) -> GuardianVersion:
    scene = Scene.objects.order_by("pk").first()
    scenarios = Scenario.objects.bulk_create(
        [
            Scenario(
                kind="subjective",
                stem=f"病例{k}：患者拒绝输血。",
                norm="知情同意",
                scene=scene,
                content_hash=f"{k:064x}",
            )
            for k in range(n)
        ]
    )
    model = RegisteredModel.objects.create(name="bench-model", kind="imported")
    Response.objects.bulk_create(
        [Response(model=model, scenario=s, scenario_version=1, scenario_hash="0" * 64, text="回答") for s in scenarios]
    )
    return GuardianVersion.objects.create(number=1, base_model="/b", model_dir="guardian/v1")


def judge_all(version: GuardianVersion, batch: int, scores: dict[str, int]) -> tuple[int, list[int], int, float]:
    """Queries reading the responses, queries per stored batch, judgements stored, seconds."""
    started = time.perf_counter()
    per_batch: list[int] = []
    stored = 0
    with CaptureQueriesContext(connection) as everything:
        for rows in services.chunks(services.response_rows(Response.objects.all()), batch):
            predictions = [
                {"id": row["id"], "probabilities": dict.fromkeys(scores, 0.9), "scores": scores} for row in rows
            ]
            with CaptureQueriesContext(connection) as storing:
                stored += services.store_guardian_judgements(version, predictions, None)
            per_batch.append(len(storing))
    return len(everything) - sum(per_batch), per_batch, stored, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=640)
    parser.add_argument("--batch", type=int, default=services.JUDGE_BATCH)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        version = build(args.responses)
        first = judge_all(version, args.batch, SCORES)
        campaign = Campaign.objects.create(name="reviews", overlap=1)
        for judgement in Judgement.objects.filter(version=version).order_by("pk")[::10]:
            item = Item.objects.create(
                campaign=campaign,
                response_id=judgement.response_id,
                scenario=judgement.response.scenario,
                position=judgement.pk,
            )
            judgement.accepted = AcceptedLabel.objects.create(
                item=item, scores=SCORES, provenance=Provenance.GUARDIAN_REVIEWED
            )
            judgement.save(update_fields=["accepted"])
        again = judge_all(version, args.batch, {**SCORES, "R1": 1})
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"{args.responses} responses in batches of {args.batch}, {connection.vendor}")
    for name, (reading, per_batch, stored, seconds) in (("new", first), ("judged again", again)):
        print(
            f"  {name:12s}: {stored} stored in {len(per_batch)} batches, {min(per_batch)}–{max(per_batch)} queries "
            f"per batch ({sum(per_batch) / stored:.2f} per judgement), {reading} queries reading the responses, "
            f"{seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
