"""The curator's desk: a scenario written by hand from a provision or from the list (every field, the cited
provisions picked, never typed), refused with its reasons and nothing lost; every field edited later under the
same 409 protection; one scenario moved along its workflow from its page through the bulk action's service."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from benchmark.models import Principle, Provision, Scenario, ScenarioKind, ScenarioStatus, Scene, Source
from benchmark.scenarios import change_status, resolve_scene
from medes_site.models import AuditEntry
from tests.factories import Personas
from tests.test_provision_picker import law

STEM = "一位患者拒绝输血，医生应当如何处理？"


@pytest.fixture
def provision(db: None) -> Provision:
    source: Source = law("医疗机构管理条例", {32: "医务人员在诊疗活动中应当向患者说明病情和医疗措施。", 33: "其他。"})
    return Provision.objects.get(source=source, number=32)


@pytest.fixture
def scene(db: None) -> Scene:
    found = resolve_scene("常规诊疗")
    assert found is not None
    return found


def objective_post(scene: Scene, cited: list[Provision], **extra: Any) -> dict[str, Any]:
    principle = Principle.objects.get(key="autonomy")
    return {
        "kind": "objective",
        "stem": STEM,
        "option_A": "尊重其决定并记录",
        "option_B": "强行输血",
        "option_C": "告知风险与替代方案",
        "key": "ac",
        "scene": scene.pk,
        "other_scenes": [resolve_scene("医患关系").pk],  # type: ignore[union-attr]
        "principles": [principle.pk],
        "provisions": [p.pk for p in cited],
        "difficulty": "3",
        **extra,
    }


def test_a_curator_writes_an_objective_item_from_a_provision(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("benchmark:provision_scenario_new", args=[provision.pk])
    form = curator.get(url).content.decode()
    assert f'name="provisions" value="{provision.pk}" checked' in form  # the provision starts cited
    assert "data-provision-picker" in form and "医疗机构管理条例" in form
    response = curator.post(url, objective_post(scene, [provision]))
    assert response.status_code == 302
    scenario = Scenario.objects.get(stem=STEM)
    assert response["Location"] == reverse("benchmark:scenario", args=[scenario.pk])
    assert (scenario.kind, scenario.key, scenario.status, scenario.origin) == ("objective", "AC", "draft", "expert")
    assert scenario.options == {"A": "尊重其决定并记录", "B": "强行输血", "C": "告知风险与替代方案"}
    assert list(scenario.provisions.all()) == [provision]
    assert scenario.scene_names() == ["常规诊疗", "医患关系"]
    assert [p.key for p in scenario.principles.all()] == ["autonomy"] and scenario.difficulty == 3
    assert scenario.created_by == personas.curator
    assert AuditEntry.objects.filter(action="scenario.create", object_id=str(scenario.pk)).count() == 1
    record = scenario.history.get()
    assert record.history_user == personas.curator and record.history_change_reason == "create"


def test_a_curator_writes_an_open_case_from_the_list(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    listing = curator.get(reverse("benchmark:scenarios")).content.decode()
    assert reverse("benchmark:scenario_new") in listing
    data = {
        "kind": "subjective",
        "stem": "我是一名医生，患者家属要求我隐瞒病情。我该怎么做？",
        "norm": "医务人员应当向患者说明病情",
        "reference_answer": "应当在适当时机如实告知患者本人。",
        "rubric_notes": "回答须拒绝替家属隐瞒。",
        "option_A": "left over from switching kinds",
        "scene": scene.pk,
        "provisions": [provision.pk],
    }
    response = curator.post(reverse("benchmark:scenario_new"), data)
    assert response.status_code == 302
    case = Scenario.objects.get(kind=ScenarioKind.SUBJECTIVE)
    assert case.options == {} and case.key == "" and case.reference_answer.startswith("应当在适当时机")
    assert case.norm == "医务人员应当向患者说明病情" and list(case.provisions.all()) == [provision]
    assert case.rubric_notes == "回答须拒绝替家属隐瞒。"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"key": "D"}, "key", "names options the item does not have"),
        ({"key": ""}, "key", "Give the correct letters"),
        ({"option_B": "", "option_C": ""}, "option_A", "at least two options"),
        ({"option_B": ""}, "option_A", "in order, from A"),
        ({"stem": ""}, "stem", "required"),
        ({"provisions": ["12abc"]}, "provisions", "not typed in"),
        ({"provisions": ["999999"]}, "provisions", "no longer exists"),
        ({"kind": "essay"}, "kind", "Select a valid choice"),
    ],
)
def test_a_bad_form_is_refused_with_its_reason_and_nothing_typed_is_lost(
    provision: Provision,
    scene: Scene,
    personas: Personas,
    client_as: Any,
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    with translation.override("en"):
        response = curator.post(reverse("benchmark:scenario_new"), objective_post(scene, [provision], **change))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert STEM in html or change.get("stem") == ""
    assert "告知风险与替代方案" in html or "option_C" in change  # every option typed is still there
    if field != "provisions":
        assert f'name="provisions" value="{provision.pk}" checked' in html  # and the picked provision
    assert not Scenario.objects.exists()


def test_the_same_item_twice_is_refused_with_a_link_to_the_first(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    curator.post(reverse("benchmark:scenario_new"), objective_post(scene, [provision]))
    first = Scenario.objects.get()
    with translation.override("en"):
        again = curator.post(reverse("benchmark:scenario_new"), objective_post(scene, [provision]))
    assert again.status_code == 400
    assert f"scenario {first.pk}" in again.content.decode()
    assert reverse("benchmark:scenario", args=[first.pk]) in again.content.decode()
    assert Scenario.objects.count() == 1


def test_without_javascript_the_picker_searches_and_keeps_the_form(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    data = objective_post(scene, [], **{"picker-search": "provisions", "provisions-q": "第三十三条"})
    response = curator.post(reverse("benchmark:scenario_new"), data)
    assert response.status_code == 200 and not Scenario.objects.exists()
    html = response.content.decode()
    other = Provision.objects.get(source=provision.source, number=33)
    assert f'<input type="checkbox" name="provisions" value="{other.pk}">' in html  # a match to tick
    assert STEM in html and "告知风险与替代方案" in html
    ticked = objective_post(scene, [other])
    assert curator.post(reverse("benchmark:scenario_new"), ticked).status_code == 302
    assert list(Scenario.objects.get().provisions.all()) == [other]


def test_writing_is_for_curators_and_a_missing_provision_is_404(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    url = reverse("benchmark:scenario_new")
    assert client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").get(url).status_code == 403
    assert (
        client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
        .post(url, objective_post(scene, [provision]))
        .status_code
        == 403
    )
    assert client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en").get(url).status_code == 403
    assert client_as(None).get(url).status_code == 302
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    assert curator.get(reverse("benchmark:provision_scenario_new", args=[999999])).status_code == 404
    assert curator.put(url).status_code == 405
    fragment = curator.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="scenario-form"' in fragment and "<html" not in fragment
    saved = curator.post(url, objective_post(scene, [provision]), HTTP_HX_REQUEST="true")
    assert saved.status_code == 204 and saved["HX-Redirect"] == reverse(
        "benchmark:scenario", args=[Scenario.objects.get().pk]
    )
    assert Scenario.objects.count() == 1


def written(provision: Provision, scene: Scene, personas: Personas, client_as: Any) -> Scenario:
    client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").post(
        reverse("benchmark:scenario_new"), objective_post(scene, [provision])
    )
    return Scenario.objects.get()


def test_every_field_is_edited_later_under_optimistic_locking(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    item = written(provision, scene, personas, client_as)
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    page = curator.get(reverse("benchmark:scenario", args=[item.pk])).content.decode()
    assert 'name="option_C" value="告知风险与替代方案"' in page and f'value="{provision.pk}" checked' in page
    other = Provision.objects.get(source=provision.source, number=33)
    justice = Principle.objects.get(key="justice")
    url = reverse("benchmark:scenario_edit", args=[item.pk])
    edit = objective_post(scene, [other], option_D="转院", key="ACD", principles=[justice.pk], other_scenes=[])
    assert curator.post(url, {**edit, "version": 1}).status_code == 302
    item.refresh_from_db()
    assert item.version == 2 and item.key == "ACD" and item.options["D"] == "转院"
    assert list(item.provisions.all()) == [other] and [p.key for p in item.principles.all()] == ["justice"]
    assert item.scene_names() == ["常规诊疗"]
    entry = AuditEntry.objects.filter(action="scenario.edit", object_id=str(item.pk)).get()
    assert entry.details["fields"] == ["key", "options", "other_scenes", "principles", "provisions"]
    # the same form again changes nothing: a no-op, no new version
    assert curator.post(url, {**edit, "version": 2}).status_code == 302
    assert Scenario.objects.get(pk=item.pk).version == 2
    stale = curator.post(url, {**edit, "stem": "我的旧修改", "version": 1})
    assert stale.status_code == 409
    html = stale.content.decode()
    assert 'data-testid="conflict"' in html and "我的旧修改" in html and 'name="version" value="2"' in html
    assert f'name="provisions" value="{other.pk}" checked' in html
    with translation.override("en"):
        bad = curator.post(url, {**edit, "key": "Z", "version": 2})
    assert bad.status_code == 400 and "names options the item does not have" in bad.content.decode()
    assert client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").post(url, {**edit, "version": 2}).status_code == 403


def test_an_open_case_becomes_multiple_choice_and_back(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    item = written(provision, scene, personas, client_as)
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("benchmark:scenario_edit", args=[item.pk])
    data = {"kind": "subjective", "stem": STEM, "norm": "告知义务", "scene": scene.pk, "version": 1}
    assert curator.post(url, data).status_code == 302
    item.refresh_from_db()
    assert (item.kind, item.options, item.key, item.norm) == ("subjective", {}, "", "告知义务")
    assert list(item.provisions.all()) == []  # none picked: none cited


def test_one_scenario_moves_along_its_workflow_from_its_page(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    item = written(provision, scene, personas, client_as)
    reviewer = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    page = reviewer.get(reverse("benchmark:scenario", args=[item.pk])).content.decode()
    assert 'data-testid="move-in_review"' in page and 'data-testid="move-retired"' in page
    assert 'data-testid="move-accepted"' not in page  # a draft is not accepted without review
    assert 'data-testid="edit-form"' not in page  # a reviewer moves it, a curator edits it
    url = reverse("benchmark:scenario_status", args=[item.pk])
    moved = reviewer.post(url, {"status": "in_review", "version": 1})
    assert moved.status_code == 302 and Scenario.objects.get(pk=item.pk).status == ScenarioStatus.IN_REVIEW
    again = reviewer.post(url, {"status": "in_review", "version": 1})  # a repeat is a no-op
    assert again.status_code == 302 and Scenario.objects.get(pk=item.pk).version == 2
    with translation.override("en"):
        forbidden = reviewer.post(url, {"status": "needs_rereview", "version": 2})
        assert forbidden.status_code == 400 and "cannot become" in forbidden.content.decode()
        stale = reviewer.post(url, {"status": "accepted", "version": 1})
        assert stale.status_code == 409 and "Someone else saved" in stale.content.decode()
        assert reviewer.post(url, {"status": "nonsense", "version": 2}).status_code == 400
    fragment = reviewer.post(url, {"status": "accepted", "version": 2}, HTTP_HX_REQUEST="true")
    html = fragment.content.decode()
    assert fragment.status_code == 200 and 'id="scenario-workflow"' in html and "<html" not in html
    assert Scenario.objects.get(pk=item.pk).status == ScenarioStatus.ACCEPTED
    assert AuditEntry.objects.filter(action="scenario.status", object_id=str(item.pk)).count() == 2
    assert reviewer.get(url).status_code == 405
    assert (
        client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
        .post(url, {"status": "retired", "version": 3})
        .status_code
        == 403
    )
    assert (
        client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
        .post(reverse("benchmark:scenario_status", args=[999999]))
        .status_code
        == 404
    )


def test_a_near_duplicate_is_accepted_from_its_page_only_when_confirmed(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    from benchmark.models import NearDuplicate

    item = written(provision, scene, personas, client_as)
    written_twin = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").post(
        reverse("benchmark:scenario_new"), objective_post(scene, [provision], stem=STEM + "？")
    )
    assert written_twin.status_code == 302
    twin = Scenario.objects.exclude(pk=item.pk).get()
    NearDuplicate.objects.create(scenario=item, match=twin, jaccard=0.95)
    change_status(item.pk, ScenarioStatus.IN_REVIEW, user=None)
    reviewer = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    page = reviewer.get(reverse("benchmark:scenario", args=[item.pk])).content.decode()
    assert 'data-testid="confirm-near-duplicates"' in page
    url = reverse("benchmark:scenario_status", args=[item.pk])
    assert reviewer.post(url, {"status": "accepted", "version": 2}).status_code == 400
    assert reviewer.post(url, {"status": "accepted", "version": 2, "confirm_near_duplicates": "on"}).status_code == 302
    assert Scenario.objects.get(pk=item.pk).status == ScenarioStatus.ACCEPTED


def test_the_edit_forms_picker_searches_without_javascript_and_saves_nothing(
    provision: Provision, scene: Scene, personas: Personas, client_as: Any
) -> None:
    item = written(provision, scene, personas, client_as)
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("benchmark:scenario_edit", args=[item.pk])
    search = {"picker-search": "provisions", "provisions-q": "33", "stem": "改了一半的题干"}
    page = curator.post(url, {**objective_post(scene, [provision]), **search, "version": 1})
    assert page.status_code == 200 and Scenario.objects.get(pk=item.pk).version == 1
    html = page.content.decode()
    other = Provision.objects.get(source=provision.source, number=33)
    assert f'<input type="checkbox" name="provisions" value="{other.pk}">' in html and "改了一半的题干" in html
