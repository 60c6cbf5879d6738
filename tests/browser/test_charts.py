"""The charts in the browser (issue 16, item 4): the leaderboard's scatter and per-scene heat map, the guardian's
versions, confusion matrices and calibration, the agreement page's bars and a running job's loss curve are
drawn by the vendored Apache ECharts (a canvas inside each chart, ``data-chart-ready`` set by
static/js/charts.js after drawing), with no console error: nothing the Content-Security-Policy refuses. The
loss curve is drawn again when the polled fragment brings new points."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from alignment.kinds import TRAIN_JOB
from medes_site.models import Job, JobStatus
from tests.browser.conftest import ConsoleWatch
from tests.factories import Personas, build_krippendorff_campaign, sign_in
from tests.test_charts import guardian_world, leaderboard_world

pytestmark = pytest.mark.browser


def drawn_charts(page: Any) -> list[str]:
    """The ids of the chart data of every chart ECharts has drawn (a canvas with pixels on it)."""
    drawn: list[str] = page.eval_on_selector_all(
        "[data-chart][data-chart-ready]",
        """els => els.filter(el => {
            const c = el.querySelector('canvas');
            return c && c.width > 0 && c.height > 0;
        }).map(el => el.getAttribute('data-chart'))""",
    )
    return drawn


def test_the_leaderboard_and_agreement_charts_draw_without_console_errors(
    personas: Personas, live_server: Any, page: Any
) -> None:
    release, _runs = leaderboard_world()
    version, _records = guardian_world()
    campaign = build_krippendorff_campaign(personas)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, "ml")
    page.goto(live_server.url + reverse("alignment:leaderboard", args=[release.pk]))
    page.wait_for_selector("[data-chart=scene-heatmap][data-chart-ready] canvas", state="attached")
    page.wait_for_selector("[data-chart=risk-quality][data-chart-ready] canvas", state="attached")
    assert sorted(drawn_charts(page)) == ["risk-quality", "scene-heatmap"]
    # the tooltip is drawn on the canvas (no HTML with inline style): hovering the chart logs nothing
    page.hover("[data-chart=risk-quality]")
    # the per-scene table scrolls inside its card instead of widening it
    assert page.eval_on_selector("[data-testid=per-scene-card]", "card => card.scrollWidth <= card.clientWidth + 1"), (
        "the per-scene table overflows its card"
    )
    assert page.eval_on_selector("html", "html => html.scrollWidth <= window.innerWidth")

    page.goto(live_server.url + reverse("public_leaderboard", args=[release.pk]))
    page.wait_for_selector("[data-chart=risk-quality][data-chart-ready] canvas", state="attached")

    # the guardian: a chart of the versions' figures; per version its confusion matrices and calibration
    page.goto(live_server.url + reverse("alignment:guardian"))
    page.wait_for_selector("[data-chart=versions-chart][data-chart-ready] canvas", state="attached")
    page.goto(live_server.url + reverse("alignment:guardian_version", args=[version.number]))
    page.wait_for_selector("[data-chart=calibration-chart][data-chart-ready] canvas", state="attached")
    assert sorted(drawn_charts(page)) == sorted(
        ["calibration-chart", *(f"confusion-{key}" for key in ("R1", "R2", "Q1", "Q2", "Q3", "Q4", "risk"))]
    )

    assert page.console_watch.errors == []

    context = page.context.browser.new_context(locale="en-US")  # the reviewer, in English
    reviewer = context.new_page()
    reviewer.set_default_timeout(60_000)
    watch = ConsoleWatch(reviewer)
    sign_in(reviewer, live_server.url, "reviewer")
    reviewer.goto(live_server.url + reverse("annotation:campaign_agreement", args=[campaign.pk]))
    reviewer.wait_for_selector("[data-chart=agreement-chart][data-chart-ready] canvas", state="attached")
    assert drawn_charts(reviewer) == ["agreement-chart"]
    assert reviewer.is_visible("[data-testid=agreement-summary]")
    reviewer.hover("[data-chart=agreement-chart]")
    context.close()
    assert watch.errors == [], f"console errors: {watch.errors}"


def test_a_running_jobs_loss_curve_is_drawn_again_as_points_arrive(
    personas: Personas, live_server: Any, page: Any
) -> None:
    job = Job.objects.create(
        kind=TRAIN_JOB,
        config={},
        status=JobStatus.RUNNING,
        triggered_by=personas.ml_engineer,
        metrics={"loss_curve": [[1, 2.5], [2, 2.0]]},
    )
    sign_in(page, live_server.url, "ml")
    page.goto(live_server.url + reverse("jobs:detail", args=[job.pk]))
    page.wait_for_selector("[data-chart=loss-curve][data-points='2'][data-chart-ready] canvas", state="attached")
    Job.objects.filter(pk=job.pk).update(metrics={"loss_curve": [[1, 2.5], [2, 2.0], [3, 1.5]]})
    # the page polls every two seconds; the swapped-in fragment is drawn by charts.js
    page.wait_for_selector("[data-chart=loss-curve][data-points='3'][data-chart-ready] canvas", state="attached")
    assert drawn_charts(page) == ["loss-curve"]
