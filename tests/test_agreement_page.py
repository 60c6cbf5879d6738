"""The agreement page and `manage.py agreement` against a hand-computed example: the data of Krippendorff (2011),
"Computing Krippendorff's alpha-reliability" (4 observers, 12 units, values 1–5, missing values), labeled in a
campaign whose schema has one dimension with values 1–5. Each figure shows the counts it rests on."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from annotation.models import Campaign, Label
from tests.factories import (
    KRIPPENDORFF_2011,
    Personas,
    build_krippendorff_campaign,
    hand_alpha,
    hand_fleiss,
    ratings_table,
)


@pytest.fixture
def k2011(personas: Personas) -> Campaign:
    return build_krippendorff_campaign(personas)


def figure_cell(page: str, dimension: str, label: str) -> str:
    section = page.split(f'data-dimension="{dimension}"', 1)[1].split("</section>", 1)[0]
    row = section.split(f'data-figure="{label}"', 1)[1].split("</tr>", 1)[0]
    return re.sub(r"\s+", " ", row)


def test_the_agreement_page_shows_alpha_and_kappa_with_their_counts(
    k2011: Campaign, personas: Personas, client_as: Any
) -> None:
    page = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").get(
        reverse("annotation:campaign_agreement", args=[k2011.pk])
    )
    body = page.content.decode()
    assert page.status_code == 200
    nominal = figure_cell(body, "V", "α nominal")
    assert 'data-value="0.743"' in nominal and "11 items, 40 ratings" in nominal  # the paper's 0.743
    ratings = ratings_table(KRIPPENDORFF_2011)
    ordinal = figure_cell(body, "V", "α ordinal")
    assert f'data-value="{hand_alpha(ratings, "ordinal"):.3f}"' in ordinal and "11 items, 40 ratings" in ordinal
    assert 'data-value="0.815"' in ordinal  # the paper's ordinal figure
    # Fleiss needs a fixed number of ratings per item: the 8 units all four observers rated
    full = [list(row.values()) for row in ratings.values() if len(row) == 4]
    fleiss = figure_cell(body, "V", "Fleiss κ")
    assert f'data-value="{hand_fleiss(full, [1, 2, 3, 4, 5]):.3f}"' in fleiss
    assert "8 items, 32 ratings" in fleiss and "3 items with another number of ratings left out" in fleiss
    # the chart (drawn by static/js/charts.js from its JSON) and the pairwise Cohen rows
    assert 'data-chart="agreement-chart"' in body and "observerA · observerB" in body


def test_an_undefined_figure_says_why(personas: Personas, client_as: Any) -> None:
    campaign = build_krippendorff_campaign(personas)
    Label.objects.filter(item__campaign=campaign).update(scores={"V": 3})
    body = (
        client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
        .get(reverse("annotation:campaign_agreement", args=[campaign.pk]))
        .content.decode()
    )
    cell = figure_cell(body, "V", "α nominal")
    assert 'data-value="none"' in cell and "no variation: every rating is the same" in cell


def test_the_agreement_command_prints_the_same_figures_with_counts(k2011: Campaign) -> None:
    out = io.StringIO()
    call_command("agreement", "K2011", stdout=out)
    text = out.getvalue()
    assert "α nominal: 0.743 (11 items, 40 ratings)" in text
    assert "α ordinal: 0.815 (11 items, 40 ratings)" in text
    assert "Fleiss κ:" in text and "(8 items, 32 ratings; 3 items with another number of ratings left out)" in text
    # nothing accepted yet: each annotator against consensus is undefined, and says so with its counts
    assert "observerA vs accepted: undefined (0 items, 0 ratings; fewer than two items rated by both)" in text
    with pytest.raises(CommandError, match="no campaign"):
        call_command("agreement", "Nope")


def test_agreement_page_scope(k2011: Campaign, personas: Personas, client_as: Any) -> None:
    url = reverse("annotation:campaign_agreement", args=[k2011.pk])
    assert client_as(personas.annotator).get(url).status_code == 403
    ml_page = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en").get(url)
    observer = Label.objects.filter(item__campaign=k2011).order_by("annotator_id").first().annotator  # type: ignore[union-attr]
    # annotator names are for reviewers; others see annotators by number
    assert "observerA" not in ml_page.content.decode() and f"annotator #{observer.pk}" in ml_page.content.decode()
    assert client_as(personas.reviewer).get(reverse("annotation:campaign_agreement", args=[999999])).status_code == 404


def test_pairwise_cohen_matches_the_pair_by_pair_computation() -> None:
    from annotation.agreement import cohen_kappa, cohen_pairwise

    ratings = ratings_table(KRIPPENDORFF_2011)
    pairs = cohen_pairwise(ratings)
    assert [p.annotators for p in pairs] == [("A", "B"), ("A", "C"), ("A", "D"), ("B", "C"), ("B", "D"), ("C", "D")]
    for figure in pairs:
        assert figure == cohen_kappa(ratings, *figure.annotators)
