"""The curator's desk end to end in a real browser (issue 16's done-when): a curator writes an objective and an
open-case scenario from an article of the 医师法 choosing the cited provisions only through the picker, accepts
them, says the amended 医师法 supersedes the law in force, re-cites the flagged scenarios to the new version's
articles (one citation in one click, the rest with "re-cite all with a match"), accepts them again, freezes a
release, and the release page's datasheet counts the new version and not the superseded one. Console errors fail
the test."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse

from benchmark.models import Provision, Scenario, ScenarioKind, ScenarioStatus, Source
from benchmark.services import SourceMeta, add_source, parse_source
from benchmark.taxonomy import ensure_taxonomy
from tests.factories import Personas, sign_in
from tests.test_amendments import EDITED, LAW, amend

pytestmark = pytest.mark.browser

OBJECTIVE_STEM = "执业助理医师参加执业医师资格考试，须在医疗卫生机构中工作实践满多久？（不定项）"
CASE_STEM = "我是一名执业助理医师，在乡镇卫生院工作刚满一年，院长说我可以报考执业医师了。我该怎么办？"


def laws() -> tuple[Source, Source]:
    """The law in force, and its amended text (第十条 reworded) uploaded and parsed, not yet said to supersede it."""
    law, _ = add_source(io.BytesIO(LAW.read_bytes()), LAW.name, SourceMeta(title="中华人民共和国医师法"))
    parse_source(law)
    text = amend(LAW.read_text(encoding="utf-8")).encode()
    new, _ = add_source(io.BytesIO(text), "医师法(修正).md", SourceMeta(title="中华人民共和国医师法（修正）"))
    parse_source(new)
    return law, new


def write(page: Any, base: str, provision: Provision, kind: str, fill: dict[str, str], extra: Provision | None) -> int:
    """From the provision's page, a new scenario of ``kind`` citing it (and ``extra``, found with the picker)."""
    page.goto(base + reverse("benchmark:provision", args=[provision.pk]))
    with page.expect_navigation():
        page.click("[data-testid=write-scenario]")
    picker = page.locator("[data-provision-picker][data-ready=true]")
    picker.locator(f"[data-picker-chips] li[data-provision='{provision.pk}']").wait_for()  # cited already
    page.check(f"input[name=kind][value={kind}]")
    for name, value in fill.items():
        page.fill(f"[name={name}]", value)
    page.select_option("select[name=scene]", label="常规诊疗")
    if extra is not None:
        picker.locator("[data-picker-input]").fill("医师法 第五条")
        picker.locator(f"[data-picker-results] [role=option][data-provision='{extra.pk}']").click()
        picker.locator(f"[data-picker-chips] li[data-provision='{extra.pk}']").wait_for()
    with page.expect_navigation():
        page.click("[data-testid=save-scenario]")
    return int(page.url.rstrip("/").rsplit("/", 1)[-1])


def move(page: Any, base: str, pk: int, *statuses: str) -> None:
    """Move a scenario along its workflow with the buttons on its page."""
    page.goto(base + reverse("benchmark:scenario", args=[pk]))
    for status in statuses:
        page.click(f"[data-testid=move-{status}]")
        page.wait_for_selector(f"[data-testid=scenario-workflow][data-status={status}]")


def test_a_curator_writes_amends_recites_and_freezes_a_release_counting_the_new_version(
    personas: Personas, live_server: Any, page: Any
) -> None:
    ensure_taxonomy()  # a transactional test run before this one flushed the scenes the migrations seeded
    law, new = laws()
    tenth, fifth = law.provisions.get(number=EDITED), law.provisions.get(number=5)
    base = live_server.url
    sign_in(page, base, "curator")

    # 1. two scenarios from 第十条, cited through the picker only (the objective one also cites 第五条)
    objective = write(
        page,
        base,
        tenth,
        ScenarioKind.OBJECTIVE,
        {"stem": OBJECTIVE_STEM, "option_A": "满一年", "option_B": "满三年", "option_C": "满五年", "key": "A"},
        fifth,
    )
    case = write(
        page,
        base,
        tenth,
        ScenarioKind.SUBJECTIVE,
        {"stem": CASE_STEM, "norm": "执业助理医师满一年可参加执业医师资格考试", "reference_answer": "可以报考。"},
        None,
    )
    assert {p.pk for p in Scenario.objects.get(pk=objective).provisions.all()} == {tenth.pk, fifth.pk}
    assert {p.pk for p in Scenario.objects.get(pk=case).provisions.all()} == {tenth.pk}
    for pk in (objective, case):
        move(page, base, pk, ScenarioStatus.IN_REVIEW, ScenarioStatus.ACCEPTED)

    # 2. the amendment: the new text supersedes the law in force; both scenarios cite the changed 第十条
    page.goto(base + reverse("benchmark:source_supersede", args=[new.pk]))
    page.select_option("select[name=supersedes]", str(law.pk))
    with page.expect_navigation():
        page.click("form button[type=submit].primary")
    assert page.url.endswith(reverse("benchmark:source_amendment", args=[new.pk]))
    assert {s.status for s in Scenario.objects.filter(pk__in=[objective, case])} == {ScenarioStatus.NEEDS_REREVIEW}

    # 3. re-cite: the objective item's 第十条 in one click, shown as a diff of the cited text and the new one
    with page.expect_navigation():
        page.click("[data-testid=recite-link]")
    row = page.locator(f"tbody[data-scenario='{objective}']")
    assert row.locator("[data-testid=flagged]").count() == 1
    tenth_row = row.locator(f"[data-testid=recite-citation][data-old='{tenth.pk}']")
    assert tenth_row.locator("[data-testid=recite-new-label]").inner_text() == "第十条"
    assert tenth_row.locator("[data-testid=recite-new] ins").count() > 0  # what the amendment added, highlighted
    tenth_row.locator("[data-testid=recite-one]").click()
    page.wait_for_selector(f"tbody[data-scenario='{objective}'] [data-testid=recite-done]")
    cited = Scenario.objects.get(pk=objective).provisions.all()
    assert {(p.source_id, p.number) for p in cited} == {(new.pk, EDITED), (law.pk, 5)}
    # ... and every other citation with a match (its 第五条, the open case's 第十条) at once
    with page.expect_navigation():
        page.click("[data-testid=recite-all]")
    page.wait_for_selector("[data-testid=recite-none]")
    assert page.locator(".messages .warning").count() == 0  # nothing left alone as changed meanwhile
    for pk, numbers in ((objective, {EDITED, 5}), (case, {EDITED})):
        assert {(p.source_id, p.number) for p in Scenario.objects.get(pk=pk).provisions.all()} == {
            (new.pk, n) for n in numbers
        }

    # 4. accepted again, each from its page
    for pk in (objective, case):
        move(page, base, pk, ScenarioStatus.ACCEPTED)

    # 5. freeze a release: its datasheet, on the page, counts the new version and not the superseded one
    page.goto(base + reverse("benchmark:releases"))
    page.fill("#id_name", "MedES-2026.12")
    with page.expect_navigation():
        page.click("form[method=post] button.primary")
    sheet = page.locator("[data-testid=datasheet]")
    sheet.wait_for()
    counted = sheet.locator(f"[data-testid=datasheet-source][data-source='{new.pk}']")
    assert counted.get_attribute("data-items") == "2"
    assert sheet.locator(f"[data-testid=datasheet-source][data-source='{law.pk}']").count() == 0
    assert "中华人民共和国医师法（修正）" in counted.inner_text()
