"""Campaigns that review drafted scenarios: built from scenarios in a reviewable state, labeled on the same
blind, keyboard-first screen (the scenario shown whole with the provisions it cites, no response), settled and
exported like any other campaign."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import translation

from annotation.assignments import next_assignment
from annotation.exports import export_rows
from annotation.models import AcceptedLabel, Campaign, CampaignStatus, Item, Label, MemberRole, Subject
from annotation.schema import SCENARIO_REVIEW
from annotation.services import CampaignError, Submission, add_members, create_scenario_review
from annotation.services import submit_label as submit
from benchmark.models import Scenario, ScenarioStatus, Scene
from benchmark.scenarios import create_scenario
from medes_site.accounts import create_user
from medes_site.roles import Role
from tests.factories import PASSWORD, Personas
from tests.labeling_fixtures import law

ACCEPT = {"D": 1, "G": 1, "R": 1, "C": 1, "K": 1}
REJECT = {**ACCEPT, "D": -1, "G": 0}


def drafts(n: int = 3) -> list[Scenario]:
    """``n`` drafted multiple-choice scenarios citing a provision, plus one accepted and one retired."""
    scene = Scene.objects.order_by("pk").first() or Scene.objects.create(name="辅助生殖")
    _source, provisions = law()
    made = []
    for i in range(n):
        scenario = create_scenario(
            kind="objective",
            stem=f"草拟题{i}：医院能否出售剩余胚胎？<b>粗体</b>",
            options={"A": "可以", "B": "不可以"},
            key="B",
            norm="禁止买卖胚胎",
            scene=scene,
            origin="generated",
            status=ScenarioStatus.DRAFT,
        )[0]
        scenario.provisions.add(provisions[0])
        made.append(scenario)
    for status in (ScenarioStatus.ACCEPTED, ScenarioStatus.RETIRED):
        create_scenario(
            kind="subjective", stem=f"已定稿：{status}", norm="知情同意", scene=scene, origin="expert", status=status
        )
    return made


def review_campaign(people: list[User], *, overlap: int = 2) -> Campaign:
    campaign = create_scenario_review(
        "Draft review",
        scenarios=Scenario.objects.values_list("pk", flat=True),
        overlap=overlap,
        guideline="# 审题\n看依据。",
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.ACTIVE)
    campaign.refresh_from_db()
    add_members(campaign, people, MemberRole.ANNOTATOR)
    return campaign


def test_a_scenario_review_holds_the_drafts_only_with_the_review_form(personas: Personas) -> None:
    made = drafts()
    campaign = review_campaign([personas.annotator])
    items = list(Item.objects.filter(campaign=campaign).order_by("position"))
    assert [item.scenario_id for item in items] == [s.pk for s in made]  # accepted and retired ones left out
    assert all(item.response_id is None for item in items)
    assert campaign.subject == Subject.SCENARIOS and campaign.label_schema == SCENARIO_REVIEW.as_dict()
    with translation.override("en"), pytest.raises(CampaignError, match="None of these scenarios"):
        create_scenario_review(
            "Nothing", scenarios=Scenario.objects.filter(status=ScenarioStatus.ACCEPTED).values_list("pk", flat=True)
        )
    assert not Campaign.objects.filter(name="Nothing").exists()


def test_reviewers_label_a_draft_on_the_labeling_screen_and_agreeing_labels_are_accepted(
    personas: Personas, client_as: Any
) -> None:
    made = drafts(1)
    campaign = review_campaign([personas.annotator, personas.annotator2])
    client = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    screen = client.post(reverse("annotation:next", args=[campaign.pk]), follow=True)
    page = screen.content.decode()
    assert "Drafted scenario to review" in page and 'data-testid="response-text"' not in page
    assert "&lt;b&gt;粗体&lt;/b&gt;" in page  # scenario text is escaped
    assert 'data-testid="answer-key"' in page and "不可以" in page  # the key and the options
    assert "第1条" in page.split('data-testid="cited"')[1].split("</ul>")[0]  # the provision it cites
    assert 'name="s-D"' in page and 'data-shortcut="3"' in page and 'name="s-R1"' not in page
    item = screen.context["item"]
    form = {"idempotency_key": "r1", "rationale": "依据准确", **{f"s-{k}": str(v) for k, v in ACCEPT.items()}}
    assert client.post(reverse("annotation:submit", args=[item.pk]), form).status_code == 302
    assignment = next_assignment(campaign, personas.annotator2)
    assert assignment is not None and assignment.item_id == item.pk
    submit(assignment.item, personas.annotator2, Submission(ACCEPT, idempotency_key="r2"))
    accepted = AcceptedLabel.objects.get(item=item)
    assert accepted.scores == ACCEPT and accepted.source_labels.count() == 2
    rows = list(export_rows(campaign, "accepted"))
    assert rows[0]["scenario"] == made[0].pk and rows[0]["response"] is None and rows[0]["model"] is None
    labels = list(export_rows(campaign, "labels"))
    assert {row["scenario"] for row in labels} == {made[0].pk} and len(labels) == 2


def test_splitting_on_rejecting_a_draft_sends_it_to_a_reviewer(personas: Personas) -> None:
    drafts(1)
    campaign = review_campaign([personas.annotator, personas.annotator2])
    for user, scores in ((personas.annotator, ACCEPT), (personas.annotator2, REJECT)):
        assignment = next_assignment(campaign, user)
        assert assignment is not None
        submit(assignment.item, user, Submission(scores, idempotency_key=f"k{user.pk}"))
    assert Item.objects.get(campaign=campaign).state == "disputed"
    assert Label.objects.filter(item__campaign=campaign).count() == 2


def test_the_create_form_makes_a_scenario_review_and_explains_what_is_missing(
    personas: Personas, client_as: Any
) -> None:
    drafts(2)
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    base = {
        "name": "Review drafts",
        "subject": "scenarios",
        "overlap": 2,
        "consensus_rule": "medes",
        "gold_ratio": "0",
        "gold_threshold": "0.7",
        "gold_minimum": 5,
        "reservation_minutes": 30,
    }
    missing = client.post(reverse("annotation:campaign_create"), base)
    assert missing.status_code == 400 and "Choose which scenarios to review" in missing.content.decode()
    responses_without_release = client.post(reverse("annotation:campaign_create"), {**base, "subject": "responses"})
    assert responses_without_release.status_code == 400
    assert set(responses_without_release.context["form"].errors) >= {"release", "models"}
    made = client.post(reverse("annotation:campaign_create"), {**base, "scenario_statuses": ["draft"]})
    assert made.status_code == 302
    campaign = Campaign.objects.get(name="Review drafts")
    assert campaign.items.count() == 2 and campaign.label_schema["name"] == SCENARIO_REVIEW.name
    detail = client.get(reverse("annotation:campaign_detail", args=[campaign.pk])).content.decode()
    assert SCENARIO_REVIEW.name in detail
    # the rubric can still be chosen explicitly
    rubric = client.post(
        reverse("annotation:campaign_create"),
        {**base, "name": "Rubric on drafts", "scenario_statuses": ["draft"], "schema_source": "medes"},
    )
    assert rubric.status_code == 302
    assert json.dumps(Campaign.objects.get(name="Rubric on drafts").label_schema).count('"R1"') == 1


def test_an_annotator_of_another_campaign_cannot_open_a_draft(personas: Personas, client_as: Any) -> None:
    drafts(1)
    campaign = review_campaign([personas.annotator])
    assignment = next_assignment(campaign, personas.annotator)
    assert assignment is not None
    outsider = create_user("outsider-annotator", roles=[Role.ANNOTATOR], password=PASSWORD)
    response = client_as(outsider).get(reverse("annotation:item", args=[assignment.item_id]))
    assert response.status_code == 404
