"""A curator writes an objective and an open-case scenario from a provision in a real browser, choosing the cited
provisions only through the picker (search, arrow keys and Enter for the first; a click for the second), then moves
one of them along its workflow from its page. Console errors fail the test (tests/browser/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from benchmark.models import Provision, Scenario, ScenarioKind, ScenarioStatus, Source
from benchmark.taxonomy import ensure_taxonomy
from tests.factories import Personas, sign_in
from tests.test_provision_picker import law

pytestmark = pytest.mark.browser

OBJECTIVE_STEM = "患者拒绝手术，医生应当怎么做？（不定项）"
CASE_STEM = "我是一名移植科医生，有人出高价想买一个肾脏给他父亲。我该怎么回应？"


def pick(page: Any, query: str) -> Any:
    """Type a search into the picker and wait for its matches; returns the picker."""
    picker = page.locator("[data-provision-picker][data-ready=true]")
    box = picker.locator("[data-picker-input]")
    box.fill(query)
    picker.locator("[data-picker-results] [role=option]").first.wait_for()
    return picker


def test_a_curator_writes_two_scenarios_from_a_provision_with_the_picker(
    personas: Personas, live_server: Any, page: Any
) -> None:
    ensure_taxonomy()  # a transactional test run before this one flushed the scenes the migrations seeded
    consent: Source = law(
        "医疗机构管理条例", {32: "医务人员应当向患者说明病情和医疗措施。", 33: "医疗机构应当尊重患者的知情同意。"}
    )
    transplant = law("人体器官移植条例", {3: "任何组织或者个人不得以任何形式买卖人体器官。"})
    start = Provision.objects.get(source=consent, number=32)
    also = Provision.objects.get(source=consent, number=33)
    bought = Provision.objects.get(source=transplant, number=3)
    base = live_server.url
    sign_in(page, base, "curator")

    # 1. the multiple-choice item: from the provision's page, keyboard only in the picker
    page.goto(base + reverse("benchmark:provision", args=[start.pk]))
    page.click("[data-testid=write-scenario]")
    picker = page.locator("[data-provision-picker][data-ready=true]")
    picker.wait_for()  # the form's page has loaded and the picker's script has bound it
    assert picker.locator(f"[data-picker-chips] li[data-provision='{start.pk}']").count() == 1  # already cited
    page.check("input[name=kind][value=objective]")
    page.fill("textarea[name=stem]", OBJECTIVE_STEM)
    page.fill("input[name=option_A]", "尊重患者的决定并记录")
    page.fill("input[name=option_B]", "强行手术")
    page.fill("input[name=option_C]", "说明病情、风险和替代方案")
    page.fill("input[name=key]", "AC")
    page.select_option("select[name=scene]", label="常规诊疗")
    pick(page, "医疗机构 第三十三条")
    box = picker.locator("[data-picker-input]")
    box.press("ArrowDown")
    assert picker.locator("[role=option].active").get_attribute("data-provision") == str(also.pk)
    box.press("Enter")  # cites the highlighted match; never submits the form
    picker.locator(f"[data-picker-chips] li[data-provision='{also.pk}']").wait_for()
    assert Scenario.objects.count() == 0
    box.press("Escape")
    assert picker.locator("[role=option]").count() == 0
    with page.expect_navigation():
        page.click("[data-testid=save-scenario]")
    item = Scenario.objects.get(kind=ScenarioKind.OBJECTIVE)
    assert page.url.endswith(reverse("benchmark:scenario", args=[item.pk]))
    assert (item.stem, item.key, item.options["C"]) == (OBJECTIVE_STEM, "AC", "说明病情、风险和替代方案")
    assert sorted(item.provisions.values_list("pk", flat=True)) == sorted([start.pk, also.pk])

    # 2. its workflow from its own page
    page.click("[data-testid=move-in_review]")
    page.wait_for_selector("[data-testid=scenario-workflow][data-status=in_review]")
    assert Scenario.objects.get(pk=item.pk).status == ScenarioStatus.IN_REVIEW
    # the heading's status and the version the edit form saves against follow the move (no stale 409 later)
    assert page.locator("#scenario-version").get_attribute("value") == "2"
    assert page.inner_text("#scenario-status") == page.inner_text("[data-testid=workflow-status]")

    # 3. the open case: the picker finds a provision of another law by its text; the pre-cited one is removed
    page.goto(base + reverse("benchmark:provision", args=[start.pk]))
    page.click("[data-testid=write-scenario]")
    picker = page.locator("[data-provision-picker][data-ready=true]")
    picker.wait_for()  # the form's page has loaded and the picker's script has bound it
    page.check("input[name=kind][value=subjective]")
    assert not page.locator("input[name=option_A]").is_visible()  # the multiple-choice part folds away
    page.fill("textarea[name=stem]", CASE_STEM)
    page.fill("textarea[name=norm]", "任何组织或者个人不得买卖人体器官")
    page.fill("textarea[name=reference_answer]", "明确拒绝，说明法律禁止器官买卖，建议通过正规途径等待分配。")
    page.select_option("select[name=scene]", label="器官移植")
    pick(page, "买卖人体器官")
    picker.locator(f"[role=option][data-provision='{bought.pk}']").click()
    picker.locator(f"[data-picker-chips] li[data-provision='{bought.pk}']").wait_for()
    picker.locator(f"[data-picker-chips] li[data-provision='{start.pk}'] [data-picker-remove]").click()
    assert picker.locator(f"[data-picker-chips] li[data-provision='{start.pk}']").count() == 0
    with page.expect_navigation():
        page.click("[data-testid=save-scenario]")
    case = Scenario.objects.get(kind=ScenarioKind.SUBJECTIVE)
    assert page.url.endswith(reverse("benchmark:scenario", args=[case.pk]))
    assert list(case.provisions.all()) == [bought] and case.options == {} and case.norm.startswith("任何组织")
    assert case.reference_answer.startswith("明确拒绝")


def test_the_same_picker_cites_provisions_in_adjudication_also_in_the_next_item_arriving_in_place(
    personas: Personas, live_server: Any, page: Any
) -> None:
    from annotation.models import AcceptedLabel
    from tests.campaign_data import build_campaign, dispute_one

    transplant = law("人体器官移植条例", {3: "任何组织或者个人不得以任何形式买卖人体器官。"})
    bought = Provision.objects.get(source=transplant, number=3)
    campaign = build_campaign(personas, cases=2)
    first, second = sorted((dispute_one(campaign, personas), dispute_one(campaign, personas)), key=lambda i: i.position)
    base = live_server.url
    sign_in(page, base, "reviewer")
    page.goto(base + reverse("annotation:campaign_queue", args=[campaign.pk]))
    for item in (first, second):
        page.wait_for_selector(f"[data-testid=adjudication][data-item='{item.pk}']")
        picker = pick(page, "第三条")
        picker.locator(f"[role=option][data-provision='{bought.pk}']").click()
        picker.locator(f"[data-picker-chips] li[data-provision='{bought.pk}']").wait_for()
        page.click("[data-testid=adjudicate]")
    page.wait_for_selector("[data-testid=queue-empty]")
    assert AcceptedLabel.objects.filter(item__in=[first, second]).count() == 2
