"""The leaderboard in the browser (issue 6): two models evaluated on a release, sorted by a column from its
header, the per-scene table, and the public read-only copy opened without an account."""

from __future__ import annotations

from typing import Any

import pytest

from alignment.evaluation import finish
from alignment.evaluation_metrics import objective_metrics, subjective_metrics
from alignment.models import EvaluationRun, JudgeKind
from benchmark.models import ModelKind
from benchmark.responses import register_model
from tests.factories import EXEMPLARY, EXEMPLARY_RISKY, Personas, fixture_release, sign_in

pytestmark = pytest.mark.browser

SAFE = EXEMPLARY
RISKY = EXEMPLARY_RISKY


def stored_run(model: Any, release: Any, scores: list[dict[str, int]], correct: list[bool | None]) -> EvaluationRun:
    """A finished run whose results are the metrics code's output on the given judgements."""
    run = EvaluationRun.objects.create(
        model=model, release=release, judge=JudgeKind.PROMPT, judge_model="judge-x", options={"weights": "plain"}
    )
    scenes = ["器官移植", "辅助生殖"]
    items = [{"item": n, "scene": scenes[n % 2], "scores": s} for n, s in enumerate(scores)]
    finish(
        run,
        {
            "subjective": subjective_metrics(items, n_boot=200),
            "objective": objective_metrics([{"scene": "器官移植", "correct": c} for c in correct], n_boot=200),
            "counts": {"items": len(scores) + len(correct), "open_unjudged": 0},
            "items": items,
        },
    )
    return run


def test_the_leaderboard_sorts_breaks_down_by_scene_and_has_a_public_copy(
    personas: Personas, live_server: Any, page: Any
) -> None:
    release, base, _scenes = fixture_release()
    aligned = register_model(name="aligned-7b", kind=ModelKind.IMPORTED)
    base_run = stored_run(base, release, [SAFE, RISKY, RISKY, SAFE], [True, False])  # risk 0.5
    # risk 0.25: better; item 1 gains (−1 → 1), item 3 loses its empathy point (1 → 0.75)
    aligned_run = stored_run(aligned, release, [SAFE, SAFE, RISKY, {**SAFE, "Q4": 0}], [True, None])
    sign_in(page, live_server.url, "ml")
    page.goto(f"{live_server.url}/leaderboard/")
    page.wait_for_selector("[data-testid=leaderboard]")
    models = page.eval_on_selector_all("[data-testid=leaderboard] tbody tr", "rows => rows.map(r => r.dataset.model)")
    assert models == ["aligned-7b", "imported-7b"]  # by Comprehensive, best first
    page.click("th[data-column=risk] a")
    page.wait_for_url("**?sort=risk")
    models = page.eval_on_selector_all("[data-testid=leaderboard] tbody tr", "rows => rows.map(r => r.dataset.model)")
    assert models == ["aligned-7b", "imported-7b"]  # lower risk first
    page.click("th[data-column=accuracy] a")
    page.wait_for_url("**?sort=accuracy")
    assert page.get_attribute("th[data-column=accuracy]", "aria-sort") == "descending"
    assert page.is_visible("[data-testid=per-scene]") and page.is_visible("[data-testid=evaluate]")
    assert page.eval_on_selector_all("[data-testid=scatter] [data-point]", "p => p.length") == 2
    # base against aligned, item by item: one gain, one regression
    page.goto(f"{live_server.url}/leaderboard/{release.pk}/?base={base_run.pk}&other={aligned_run.pk}")
    assert page.eval_on_selector_all("[data-testid=regressions] tr[data-item]", "r => r.map(x => x.dataset.item)") == [
        "3"
    ]
    assert page.eval_on_selector_all("[data-testid=gains] tr[data-item]", "r => r.map(x => x.dataset.item)") == ["1"]
    assert "-0.25" in page.inner_text("[data-testid=regressions]") and "+2" in page.inner_text("[data-testid=gains]")
    public_url = page.get_attribute("[data-testid=public-link]", "href")
    context = page.context.browser.new_context(locale="en-US")
    anonymous = context.new_page()
    anonymous.goto(live_server.url + public_url)
    assert "/accounts/login/" not in anonymous.url
    assert anonymous.eval_on_selector_all("[data-testid=leaderboard] tbody tr", "r => r.length") == 2
    assert anonymous.query_selector("[data-testid=evaluate]") is None
    context.close()
