"""Re-citing after an amendment: every scenario still citing the superseded law is offered the new version's
matching article (paired by the comparison, or the closest text for a removed article, or none), and re-citing
swaps the citation in one step with history and audit, once, under optimistic locking; singly and in bulk."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from benchmark.models import Amendment, Provision, Scenario, ScenarioStatus, Source
from benchmark.recite import proposals, recite, recite_many
from benchmark.scenarios import ScenarioError, StaleEdit
from benchmark.services import SourceMeta, add_source, parse_source
from medes_site.models import AuditEntry
from tests.factories import Personas
from tests.test_amendments import DELETED, EDITED, LAW, accepted, add_new_version, amend, old


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    """The 医师法, scenarios citing it, and its amended version parsed (so compared and flagged)."""
    law, _ = add_source(io.BytesIO(LAW.read_bytes()), LAW.name, SourceMeta(title="中华人民共和国医师法"))
    parse_source(law)
    scenarios = {
        "changed": accepted("案例：执业助理医师考试", old(law, EDITED)),
        "removed": accepted("案例：个体行医", old(law, DELETED)),
        "unchanged": accepted("案例：医师节", old(law, 5)),
        "both": accepted("案例：两条", old(law, EDITED), old(law, 25), status=ScenarioStatus.DRAFT),
        "retired": accepted("案例：已退役", old(law, EDITED), status=ScenarioStatus.RETIRED),
    }
    new = add_new_version(law, amend(LAW.read_text(encoding="utf-8")))
    parse_source(new)
    fresh = {name: Scenario.objects.get(pk=s.pk) for name, s in scenarios.items()}  # flagging bumped versions
    return {"old": law, "new": new, "amendment": Amendment.objects.get(new_source=new), **fresh}


def cited(scenario: Scenario) -> set[tuple[int, str]]:
    return {(p.source_id, p.label) for p in scenario.provisions.all()}


def test_each_citation_of_the_superseded_law_gets_the_new_versions_matching_article(world: dict[str, Any]) -> None:
    found = {p.scenario.pk: p for p in proposals(world["amendment"])}
    assert world["retired"].pk not in found  # never released: nothing to re-cite
    changed = found[world["changed"].pk]
    assert changed.flagged and [(c.old.label, c.new and c.new.label, c.how) for c in changed.citations] == [
        ("第十条", "第十条", "paired")
    ]
    left, right = changed.citations[0].diff  # the cited old text against the proposed new text
    assert "一" in "".join(text for marked, text in left if marked)  # 满一年 → 满二年, and a sentence added
    assert "具体办法由国务院" in "".join(text for marked, text in right if marked)
    both = found[world["both"].pk]  # 第二十五条 is now 第二十四条 (第二十条 was deleted), text unchanged
    assert [(c.old.label, c.new and c.new.label) for c in both.citations] == [
        ("第十条", "第十条"),
        ("第二十五条", "第二十四条"),
    ]
    assert not found[world["unchanged"].pk].flagged  # cites the old law all the same: offered too
    removed = found[world["removed"].pk].citations[0]  # 个体行医 is gone: no article reads like it
    assert (removed.kind, removed.new, removed.how) == ("removed", None, "")
    # flagged ones come first
    assert [p.flagged for p in proposals(world["amendment"])] == sorted(
        (p.flagged for p in proposals(world["amendment"])), reverse=True
    )


def test_reciting_swaps_the_citation_once_with_history_and_audit(world: dict[str, Any], personas: Personas) -> None:
    scenario: Scenario = world["changed"]
    old10, new10 = old(world["old"], EDITED), world["new"].provisions.get(number=EDITED)
    done = recite(scenario.pk, {old10.pk: new10.pk}, expected_version=scenario.version, user=personas.curator)
    assert cited(done) == {(world["new"].pk, "第十条")} and done.version == scenario.version + 1
    assert done.status == ScenarioStatus.NEEDS_REREVIEW  # still reviewed before it is accepted again
    assert "第十条 → 第十条" in done.history.latest().history_change_reason
    entry = AuditEntry.objects.get(action="scenario.recite", object_id=str(scenario.pk))
    assert entry.details["changes"] == [[old10.pk, new10.pk]]
    again = recite(scenario.pk, {old10.pk: new10.pk}, expected_version=scenario.version, user=personas.curator)
    assert again.version == done.version and AuditEntry.objects.filter(action="scenario.recite").count() == 1
    assert scenario.pk not in {p.scenario.pk for p in proposals(world["amendment"])}


def test_a_scenario_saved_meanwhile_is_refused_as_stale(world: dict[str, Any], personas: Personas) -> None:
    scenario: Scenario = world["changed"]
    old10, new10 = old(world["old"], EDITED), world["new"].provisions.get(number=EDITED)
    with pytest.raises(StaleEdit):
        recite(scenario.pk, {old10.pk: new10.pk}, expected_version=scenario.version - 1 or 99, user=personas.curator)
    assert cited(Scenario.objects.get(pk=scenario.pk)) == {(world["old"].pk, "第十条")}


def test_only_an_article_of_a_later_version_can_be_cited(world: dict[str, Any], personas: Personas) -> None:
    scenario: Scenario = world["changed"]
    other, _ = add_source(io.BytesIO("第一条 测试。".encode()), "x.md", SourceMeta(title="另一法"))
    parse_source(other)
    with translation.override("en"), pytest.raises(ScenarioError, match="not in a later version"):
        recite(
            scenario.pk,
            {old(world["old"], EDITED).pk: other.provisions.get().pk},
            expected_version=scenario.version,
            user=personas.curator,
        )


def test_bulk_recites_every_scenario_it_can_and_leaves_stale_ones(world: dict[str, Any], personas: Personas) -> None:
    picks = [
        (p.scenario.pk, c.old.pk, c.new.pk, p.scenario.version - (p.scenario.pk == world["unchanged"].pk))
        for p in proposals(world["amendment"])
        for c in p.matched
        if c.new is not None
    ]
    result = recite_many(picks, user=personas.curator)
    assert world["unchanged"].pk in result.stale
    assert {world["changed"].pk, world["both"].pk} <= set(result.done)
    assert cited(Scenario.objects.get(pk=world["both"].pk)) == {
        (world["new"].pk, "第十条"),
        (world["new"].pk, "第二十四条"),
    }


# --- the pages ---------------------------------------------------------------------------------------------------


def url(name: str, source: Source) -> str:
    return reverse(f"benchmark:{name}", args=[source.pk])


def test_the_page_shows_each_citation_with_its_proposal(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    page = client_as(personas.curator).get(url("source_recite", world["new"]))
    assert page.status_code == 200
    text = page.content.decode()
    assert f'data-scenario="{world["changed"].pk}"' in text and 'data-testid="recite-one"' in text
    assert f'data-scenario="{world["retired"].pk}"' not in text
    removed = text.split(f'data-scenario="{world["removed"].pk}"')[1].split("</tbody>")[0]
    assert 'data-testid="recite-no-match"' in removed and 'data-testid="recite-one"' not in removed
    reviewer = client_as(personas.reviewer).get(url("source_recite", world["new"]))
    assert reviewer.status_code == 200 and 'data-testid="recite-one"' not in reviewer.content.decode()
    assert client_as(personas.annotator).get(url("source_recite", world["new"])).status_code == 403
    assert client_as(personas.curator).get(url("source_recite", world["old"])).status_code == 404  # no amendment
    assert client_as(personas.curator).post(url("source_recite", world["new"])).status_code == 405
    assert client_as(personas.curator).get(url("source_recite", world["new"]), {"page": "x"}).status_code == 400


def one(world: dict[str, Any], item: Scenario, **over: Any) -> dict[str, Any]:
    return {
        "scenario": item.pk,
        "old": old(world["old"], EDITED).pk,
        "new": world["new"].provisions.get(number=EDITED).pk,
        "version": item.version,
        **over,
    }


def test_one_click_recites_and_htmx_gets_the_row(world: dict[str, Any], personas: Personas, client_as: Any) -> None:
    client = client_as(personas.curator)
    scenario: Scenario = world["changed"]
    response = client.post(url("source_recite_one", world["new"]), one(world, scenario), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith("<tbody") and 'data-testid="recite-done"' in body and "<html" not in body
    assert cited(Scenario.objects.get(pk=scenario.pk)) == {(world["new"].pk, "第十条")}
    # the same click again: the same result, no error
    again = client.post(url("source_recite_one", world["new"]), one(world, scenario))
    assert again.status_code == 302 and again["Location"] == url("source_recite", world["new"])


def test_a_stale_click_is_409_with_the_current_row(world: dict[str, Any], personas: Personas, client_as: Any) -> None:
    scenario: Scenario = world["changed"]
    Scenario.objects.filter(pk=scenario.pk).update(version=scenario.version + 1)
    client = client_as(personas.curator)
    with translation.override("en"):
        response = client.post(
            url("source_recite_one", world["new"]), one(world, scenario), headers={"HX-Request": "true"}
        )
    assert response.status_code == 409
    assert 'data-testid="recite-error"' in response.content.decode()
    assert f'data-version="{scenario.version + 1}"' in response.content.decode()
    assert client.post(url("source_recite_one", world["new"]), one(world, scenario)).status_code == 409


def test_bad_or_foreign_input_is_refused(world: dict[str, Any], personas: Personas, client_as: Any) -> None:
    client = client_as(personas.curator)
    scenario: Scenario = world["changed"]
    target = url("source_recite_one", world["new"])
    assert client.post(target, {"scenario": scenario.pk}).status_code == 400
    assert client.post(target, one(world, scenario, old=world["new"].provisions.first().pk)).status_code == 404
    assert client.post(target, one(world, scenario, scenario=10**6)).status_code == 404
    unrelated = Provision.objects.exclude(source__in=[world["old"], world["new"]]).first()
    if unrelated is not None:
        assert client.post(target, one(world, scenario, new=unrelated.pk)).status_code == 400
    assert client.get(target).status_code == 405
    assert client_as(personas.reviewer).post(target, one(world, scenario)).status_code == 403
    assert client.post(url("source_recite_one", world["old"]), one(world, scenario)).status_code == 404


def test_recite_all_with_a_match_from_the_page(world: dict[str, Any], personas: Personas, client_as: Any) -> None:
    client = client_as(personas.curator)
    page = client.get(url("source_recite", world["new"]))
    matched = [str(v) for v in page.context["matched"]]
    response = client.post(url("source_recite_bulk", world["new"]), {"everything": "on", "matched": matched})
    assert response.status_code == 302
    left = {p.scenario.pk for p in proposals(world["amendment"])}
    assert world["changed"].pk not in left and world["both"].pk not in left and world["unchanged"].pk not in left
    assert client.post(url("source_recite_bulk", world["new"]), {}).status_code == 400
    assert client.post(url("source_recite_bulk", world["new"]), {"pick": ["1:2"]}).status_code == 400


def test_choosing_an_article_by_hand_with_the_picker(world: dict[str, Any], personas: Personas, client_as: Any) -> None:
    client = client_as(personas.curator)
    scenario: Scenario = world["removed"]
    old20 = old(world["old"], DELETED)
    target = url("source_recite_choose", world["new"])
    page = client.get(target, {"scenario": scenario.pk, "old": old20.pk})
    text = page.content.decode()
    assert page.status_code == 200 and "data-provision-picker" in text and 'data-testid="recite-no-match"' in text
    assert client.get(target).status_code == 400
    assert client.get(target, {"scenario": world["changed"].pk, "old": old20.pk}).status_code == 400  # not cited
    assert client.get(target, {"scenario": 10**6, "old": old20.pk}).status_code == 404
    assert client_as(personas.reviewer).get(target, {"scenario": scenario.pk, "old": old20.pk}).status_code == 403
    form = {"scenario": scenario.pk, "old": old20.pk, "version": scenario.version}
    # without JavaScript the picker's search button posts the form: the matches come back, nothing is saved
    searched = client.post(target, {**form, "picker-search": "new", "new-q": "人工智能"})
    assert searched.status_code == 200 and 'name="new"' in searched.content.decode()
    new40, new41 = world["new"].provisions.get(number=40), world["new"].provisions.get(number=41)
    assert client.post(target, {**form, "new": [new40.pk, new41.pk]}).status_code == 400  # one article
    assert client.post(target, {**form, "new": [new40.pk], "version": scenario.version + 5}).status_code == 409
    response = client.post(target, {**form, "new": [new40.pk]})
    assert response.status_code == 302 and response["Location"] == url("source_recite", world["new"])
    assert cited(Scenario.objects.get(pk=scenario.pk)) == {(world["new"].pk, "第四十条")}


# --- the datasheet counts the version actually cited -----------------------------------------------------------


def by_version(release: Any) -> dict[int, int]:
    from benchmark.releases import datasheet_facts

    return {c.source_id: c.items for c in datasheet_facts(release).sources}


def test_a_release_frozen_after_reciting_counts_the_new_version_and_an_earlier_one_keeps_the_old(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    from benchmark.releases import datasheet, publish_release
    from benchmark.scenarios import change_status

    law, new = world["old"], world["new"]
    before = publish_release("MedES-before", user=personas.curator)  # 第五条 of the old law, accepted
    assert by_version(before) == {law.pk: 1}
    scenario: Scenario = world["changed"]
    recite(
        scenario.pk,
        {old(law, EDITED).pk: new.provisions.get(number=EDITED).pk},
        expected_version=scenario.version,
        user=personas.curator,
    )
    change_status(scenario.pk, ScenarioStatus.ACCEPTED, user=personas.curator)
    after = publish_release("MedES-after", user=personas.curator)
    assert by_version(after) == {law.pk: 1, new.pk: 1}  # 医师节 still cites the old law; the re-cited one the new
    assert by_version(before) == {law.pk: 1}  # the earlier release still counts what it cited
    sheet = datasheet(after)
    assert "| 中华人民共和国医师法（修正） | 1 | 1 | 67 | 1% | – |" in sheet
    assert "| 中华人民共和国医师法 | 1 | 1 | 67 | 1% | 中华人民共和国医师法（修正） |" in sheet
    assert "Language: English" in sheet

    with translation.override("en"):
        page = client_as(personas.curator).get(reverse("benchmark:release", args=[after.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and 'data-testid="datasheet-sources"' in text
    assert f'data-source="{new.pk}" data-items="1"' in text
    assert "| scene |" not in text  # HTML, not Markdown source
    page_zh = client_as(personas.curator, headers={"Accept-Language": "zh-hans"}).get(
        reverse("benchmark:release", args=[after.pk])
    )
    assert 'data-testid="datasheet-scenes"' in page_zh.content.decode() and "|---|" not in page_zh.content.decode()


def test_a_removed_article_merged_into_another_is_offered_by_its_text(db: None, personas: Personas) -> None:
    duty = (
        "医师应当遵守法律法规和技术操作规范，尊重患者隐私，恪守职业道德，"
        "努力钻研业务，更新知识，提高医学专业技术能力和水平。"
    )
    rule = "医疗机构应当建立医疗质量安全事件报告制度，及时报告并分析原因。"
    first, _ = add_source(io.BytesIO(f"第一条 {duty}\n第二条 {rule}".encode()), "a.txt", SourceMeta(title="a"))
    parse_source(first)
    scenario = accepted("案例：报告制度", first.provisions.get(number=2))
    text = f"第一条 {duty}{rule}\n第二条 本办法自公布之日起施行。"
    second, _ = add_source(io.BytesIO(text.encode()), "b.txt", SourceMeta(title="b", supersedes=first))
    parse_source(second)
    amendment = Amendment.objects.get(new_source=second)
    assert amendment.changes.get(old_provision__number=2).kind == "removed"  # the comparison pairs 第一条 only
    (proposal,) = proposals(amendment)
    (citation,) = proposal.citations
    assert proposal.scenario == scenario
    assert citation.new == second.provisions.get(number=1) and citation.how == "text"


def test_a_bad_htmx_click_comes_back_as_the_row_with_the_reason(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    scenario: Scenario = world["changed"]
    with translation.override("en"):
        response = client_as(personas.curator).post(
            url("source_recite_one", world["new"]),
            {"scenario": scenario.pk, "old": old(world["old"], EDITED).pk, "version": scenario.version},
            headers={"HX-Request": "true", "Accept-Language": "en"},
        )
    body = response.content.decode()
    assert response.status_code == 400 and body.lstrip().startswith("<tbody")
    assert "Choose the new version" in body
