"""The agreement section of a release's datasheet: per campaign on the release, per dimension, Krippendorff's
alpha (nominal) and Fleiss' kappa with the items and ratings behind them."""

from __future__ import annotations

from annotation.agreement import dimension_agreement
from annotation.models import Campaign, Label
from annotation.services import ratings
from benchmark.models import Release


def agreement_lines(release: Release) -> list[str]:
    lines: list[str] = []
    for campaign in Campaign.objects.filter(release=release).order_by("pk"):
        if not Label.objects.filter(item__campaign=campaign).exists():
            continue
        lines += [
            f"Campaign *{campaign.name}* (k = {campaign.overlap}):",
            "",
            "| dimension | Krippendorff's α (nominal) | Fleiss' κ | items | ratings |",
            "|---|---|---|---|---|",
        ]
        for dimension, table in ratings(campaign).items():
            figures = dimension_agreement(dimension, table)
            alpha, kappa = figures.alpha_nominal, figures.fleiss_kappa
            shown = [f"{f.value:.3f}" if f.value is not None else f"– ({f.note})" for f in (alpha, kappa)]
            lines.append(f"| {dimension} | {shown[0]} | {shown[1]} | {alpha.items} | {alpha.ratings} |")
        lines.append("")
    return lines
