"""The agreement section of a release's datasheet: per campaign on the release, per dimension, Krippendorff's
alpha (nominal) and Fleiss' kappa with the items and ratings behind them, as tables the datasheet renders (the
file in English, the release page in the reader's language: benchmark.releases)."""

from __future__ import annotations

from annotation.agreement import dimension_agreement
from annotation.models import Campaign, Label
from annotation.services import ratings
from benchmark.models import Release
from benchmark.releases import AgreementRow, AgreementTable


def agreement_tables(release: Release) -> list[AgreementTable]:
    tables: list[AgreementTable] = []
    for campaign in Campaign.objects.filter(release=release).order_by("pk"):
        if not Label.objects.filter(item__campaign=campaign).exists():
            continue
        rows = []
        for dimension, table in ratings(campaign).items():
            figures = dimension_agreement(dimension, table)
            alpha, kappa = figures.alpha_nominal, figures.fleiss_kappa
            rows.append(
                AgreementRow(dimension, alpha.value, alpha.note, kappa.value, kappa.note, alpha.items, alpha.ratings)
            )
        tables.append(AgreementTable(campaign.name, campaign.overlap, rows))
    return tables
