"""python manage.py agreement CAMPAIGN: the campaign's agreement statistics, each with its counts."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.campaign_agreement import FIGURES, compute_agreement
from annotation.models import Campaign


def find_campaign(name_or_id: str) -> Campaign:
    campaign = Campaign.objects.filter(name=name_or_id).first()
    if campaign is None and name_or_id.isdigit():
        campaign = Campaign.objects.filter(pk=int(name_or_id)).first()
    if campaign is None:
        raise CommandError(f"There is no campaign named or numbered {name_or_id!r}.")
    return campaign


def _figure(figure: dict[str, Any]) -> str:
    value = "undefined" if figure["value"] is None else f"{figure['value']:.3f}"
    note = f"; {figure['note']}" if figure.get("note") else ""
    return f"{value} ({figure['items']} items, {figure['ratings']} ratings{note})"


class Command(BaseCommand):
    help = "Print a campaign's agreement statistics (Fleiss, Krippendorff, Cohen) with their counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="campaign name or id")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = find_campaign(options["campaign"])
        result = compute_agreement(campaign)
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        names = result["annotators"]
        self.stdout.write(f"Campaign {campaign.name}: {result['accepted']} accepted items")
        for summary in [*result["dimensions"], result["overall"]]:
            counts = f"{summary['items']} items, {summary['annotators']} annotators, {summary['ratings']} ratings"
            self.stdout.write(f"\n{summary['dimension']}: {counts}")
            for key, label in FIGURES:
                if key in summary:
                    self.stdout.write(f"  {label}: {_figure(summary[key])}")
            for pair in summary["cohen_pairwise"]:
                a, b = (names.get(x, x) for x in pair["annotators"])
                self.stdout.write(f"  Cohen κ {a} · {b}: {_figure(pair)}")
            for annotator, figure in summary.get("against_consensus", {}).items():
                self.stdout.write(f"  {names.get(annotator, annotator)} vs accepted: {_figure(figure)}")
