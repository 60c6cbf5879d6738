"""A reviewer adjudicates disputed items in the browser (the next item arrives without a page load), marks an
accepted item gold, and the agreement page shows α and κ equal to the hand-computed Krippendorff (2011) example."""

from __future__ import annotations

from typing import Any

import pytest

from annotation.models import AcceptedLabel, Item, ItemState, Provenance
from tests.campaign_data import build_campaign, dispute_one
from tests.factories import (
    KRIPPENDORFF_2011,
    Personas,
    build_krippendorff_campaign,
    hand_fleiss,
    ratings_table,
    sign_in,
)

pytestmark = pytest.mark.browser


def test_a_reviewer_adjudicates_and_the_agreement_page_shows_the_hand_computed_figures(
    personas: Personas, live_server: Any, page: Any
) -> None:
    campaign = build_campaign(personas, cases=2)
    # the queue lists disputes by position; which item each annotator gets first rotates with who they are
    first, second = sorted((dispute_one(campaign, personas), dispute_one(campaign, personas)), key=lambda i: i.position)
    k2011 = build_krippendorff_campaign(personas)
    base = live_server.url
    sign_in(page, base, "reviewer")
    page.goto(f"{base}/campaigns/{campaign.pk}/queue/")
    panel = page.locator("[data-testid=adjudication]")
    assert panel.get_attribute("data-item") == str(first.pk)
    assert page.locator("th[data-annotator=annotator3]").count() == 1  # names, for reviewers
    assert page.locator("tr[data-disputed=risk]").count() == 1
    page.evaluate("window.__samePage = true")
    page.check('input[name="s-R1"][value="-1"]')
    page.fill("textarea[name=rationale]", "回答含有误导性陈述")
    page.fill("textarea[name=note]", "R1 成立")
    page.click("[data-testid=adjudicate]")
    page.wait_for_selector(f"[data-testid=adjudication][data-item='{second.pk}']")
    assert page.evaluate("window.__samePage === true"), "the next item should arrive without a page load"
    assert page.url.endswith(f"/campaigns/{campaign.pk}/queue/{second.pk}/")
    accepted = AcceptedLabel.objects.get(item=first)
    assert accepted.provenance == Provenance.ADJUDICATION and accepted.scores["R1"] == -1 and accepted.note == "R1 成立"
    page.click("[data-testid=adjudicate]")  # the suggested (majority) scores as they are
    page.wait_for_selector("[data-testid=queue-empty]")
    assert Item.objects.filter(campaign=campaign, state=ItemState.ADJUDICATED).count() == 2
    page.goto(f"{base}/campaigns/{campaign.pk}/accepted/{first.pk}/")
    page.click("[data-testid=mark-gold]")
    page.wait_for_selector("[data-testid=accepted]")
    assert Item.objects.get(pk=first.pk).is_gold

    page.goto(f"{base}/campaigns/{k2011.pk}/agreement/")
    section = page.locator("section[data-dimension=V]")
    alpha = section.locator("tr[data-figure='α nominal'] [data-value]")
    assert alpha.get_attribute("data-value") == "0.743"
    assert "11" in section.locator("tr[data-figure='α nominal']").inner_text()
    full = [list(row.values()) for row in ratings_table(KRIPPENDORFF_2011).values() if len(row) == 4]
    kappa = section.locator("tr[data-figure='Fleiss κ'] [data-value]")
    assert kappa.get_attribute("data-value") == f"{hand_fleiss(full, [1, 2, 3, 4, 5]):.3f}"
    page.wait_for_selector("[data-testid=agreement-chart][data-chart-ready]")  # drawn by the vendored ECharts
