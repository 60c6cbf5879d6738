"""Agreement statistics of a large campaign.

    python bench/agreement.py [--items 10000] [--annotators 12]
    python bench/agreement.py --items 100000 --repeat 1

Issue 4 asks for the agreement of a 10,000-item campaign (k = 3, the six MedES dimensions) in under 10 s, issue 17
(item 4) for a 100,000-item one in under 60 s. The
script builds such a campaign on a throw-away test database (SQLite by default, PostgreSQL when DATABASE_URL says
so): each item labeled by 3 of ``--annotators`` annotators in rotation (so every pair shares items), scores that
mostly agree with a hidden truth, and an accepted label on 80 % of the items. It then times
``annotation.campaign_agreement.compute_agreement`` (what the agreement job and `manage.py agreement` run): Fleiss,
Krippendorff nominal and ordinal, percent agreement and pairwise Cohen per dimension and overall, plus each
annotator against the accepted labels.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from annotation.campaign_agreement import compute_agreement  # noqa: E402
from annotation.models import AcceptedLabel, Campaign, Item, ItemState, Label, Provenance  # noqa: E402
from annotation.schema import MEDES_RUBRIC  # noqa: E402
from benchmark.models import RegisteredModel, Response, Scenario, Scene  # noqa: E402


def build_campaign(n: int, people: int, rng: random.Random) -> Campaign:
    scene = Scene.objects.order_by("pk").first()
    Scenario.objects.bulk_create(
        [
            Scenario(
                kind="subjective",
                stem=f"病例{k}：患者拒绝输血。",
                norm="知情同意",
                scene=scene,
                origin="imported",
                status="accepted",
                content_hash=f"{k:064x}",
            )
            for k in range(n)
        ],
        batch_size=5000,
    )
    model = RegisteredModel.objects.create(name="bench-model", kind="imported")
    Response.objects.bulk_create(
        [
            Response(
                model=model, scenario_id=pk, scenario_version=1, scenario_hash="0" * 64, text="回答", origin="imported"
            )
            for pk in Scenario.objects.values_list("pk", flat=True)
        ],
        batch_size=5000,
    )
    campaign = Campaign.objects.create(name="bench", overlap=3, status="active")
    Item.objects.bulk_create(
        [
            Item(
                campaign=campaign, response_id=pk, scenario_id=scenario, position=n, submitted=3, state=ItemState.AGREED
            )
            for n, (pk, scenario) in enumerate(Response.objects.values_list("pk", "scenario_id"), start=1)
        ],
        batch_size=5000,
    )
    users = [User.objects.create(username=f"bench-annotator-{k}") for k in range(people)]
    labels, accepted = [], []
    dims = MEDES_RUBRIC.dimensions
    for n, item_id in enumerate(Item.objects.filter(campaign=campaign).values_list("pk", flat=True)):
        truth = {d.key: rng.choice(d.values) for d in dims}
        for j in range(3):
            scores = {
                k: (v if rng.random() < 0.85 else rng.choice(dims[i].values)) for i, (k, v) in enumerate(truth.items())
            }
            labels.append(
                Label(
                    item_id=item_id,
                    annotator=users[(n + j * 5) % people],
                    scores=scores,
                    idempotency_key=f"{n}-{j}",
                    guideline_version=1,
                    seconds_spent=rng.randint(20, 300),
                )
            )
        if rng.random() < 0.8:
            accepted.append(AcceptedLabel(item_id=item_id, scores=truth, provenance=Provenance.CONSENSUS))
    Label.objects.bulk_create(labels, batch_size=5000)
    AcceptedLabel.objects.bulk_create(accepted, batch_size=5000)
    return campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--annotators", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        start = time.perf_counter()
        campaign = build_campaign(args.items, args.annotators, random.Random(4))
        build_s = time.perf_counter() - start
        runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = compute_agreement(campaign)
            runs.append(time.perf_counter() - start)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print(f"campaign of {args.items} items × 3 labels, {args.annotators} annotators, built in {build_s:.1f} s")
    for summary in result["dimensions"]:
        alpha = summary["alpha_nominal"]
        print(
            f"  {summary['dimension']}: α nominal {alpha['value']:.3f} ({alpha['items']} items, "
            f"{alpha['ratings']} ratings), {len(summary['cohen_pairwise'])} Cohen pairs"
        )
    print(
        f"agreement computed in {min(runs):.2f} s best, {max(runs):.2f} s worst of {args.repeat} "
        "(target: < 10 s at 10k items, < 60 s at 100k)"
    )


if __name__ == "__main__":
    main()
