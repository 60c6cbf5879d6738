"""The annotation REST API: campaigns (members see theirs), my assignments, label submits with an idempotency key
and a version (201/200/409/400), accepted labels for the review side, and blind labeling on every route."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation.models import Campaign, Item, Label, Member, MemberRole
from annotation.services import adjudicate
from tests.campaign_data import RISKY, SAFE, annotators, build_campaign, dispute_one
from tests.factories import Personas


@pytest.fixture
def campaign(personas: Personas) -> Campaign:
    return build_campaign(personas)


def api(client_as: Any, user: Any) -> Any:
    return client_as(user, HTTP_ACCEPT_LANGUAGE="en")


def reserve(client: Any, campaign: Campaign) -> dict[str, Any]:
    response = client.post(reverse("api-assignment-next", args=[campaign.pk]))
    assert response.status_code == 200, response.content
    return response.json()


def submit(client: Any, item: int, scores: dict[str, int], key: str, **extra: Any) -> Any:
    body = {"item": item, "scores": scores, "idempotency_key": key, **extra}
    return client.post(reverse("api-label-list"), body, content_type="application/json")


def test_members_see_their_campaigns_and_others_see_none(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    other = build_campaign(personas, name="Other", reviewer=False, creator=personas.curator)
    Member.objects.filter(campaign=other, user=personas.annotator).delete()
    names = [c["name"] for c in api(client_as, personas.annotator).get(reverse("api-campaign-list")).json()["results"]]
    assert names == ["Pilot"]
    assert api(client_as, personas.annotator).get(reverse("api-campaign-detail", args=[other.pk])).status_code == 404
    assert len(api(client_as, personas.ml_engineer).get(reverse("api-campaign-list")).json()["results"]) == 2
    assert client_as(None).get(reverse("api-campaign-list")).status_code == 403
    assert client_as(personas.outsider).get(reverse("api-campaign-list")).status_code == 403


def test_reserve_then_submit_is_idempotent_and_a_stale_edit_gets_409_with_both_versions(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    client = api(client_as, personas.annotator)
    assignment = reserve(client, campaign)
    assert reserve(client, campaign)["id"] == assignment["id"]  # asking again keeps the same reservation
    assert "<b>应当</b>" in assignment["response"]  # JSON carries the text as it is; pages escape it
    first = submit(client, assignment["item"], SAFE, "key-1")
    assert first.status_code == 201 and first.json()["version"] == 1
    again = submit(client, assignment["item"], SAFE, "key-1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    edited = submit(client, assignment["item"], RISKY, "key-2", expected_version=1)
    assert edited.status_code == 200 and edited.json()["version"] == 2
    stale = submit(client, assignment["item"], SAFE, "key-3", expected_version=1)
    assert stale.status_code == 409
    body = stale.json()
    assert body["current"] == {"scores": RISKY, "rationale": "", "version": 2}
    assert body["mine"]["scores"] == SAFE and body["mine"]["expected_version"] == 1
    assert Label.objects.count() == 1 and Label.objects.get().scores == RISKY


def test_bad_submits_are_400_with_field_errors_and_store_nothing(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    client = api(client_as, personas.annotator)
    item = reserve(client, campaign)["item"]
    bad_value = submit(client, item, {**SAFE, "R1": 7}, "k")
    assert bad_value.status_code == 400 and "scores.R1" in bad_value.json()
    no_key = client.post(reverse("api-label-list"), {"item": item, "scores": SAFE}, content_type="application/json")
    assert no_key.status_code == 400 and "idempotency_key" in no_key.json()
    not_json = client.post(reverse("api-label-list"), "{", content_type="application/json")
    assert not_json.status_code == 400
    assert api(client_as, personas.annotator).get(reverse("api-label-list"), {"campaign": "x"}).status_code == 400
    assert not Label.objects.exists()


def test_an_annotator_never_sees_others_labels_through_the_api(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    item = dispute_one(campaign, personas)  # all three annotators labeled it
    people = annotators(personas)
    for person in people:
        mine = api(client_as, person).get(reverse("api-label-list")).json()["results"]
        assert [label["annotator"] for label in mine] == [person.pk]
    # an item the annotator was never given: 404, and the message names no label
    newcomer_item = Item.objects.exclude(pk=item.pk).first()
    assert newcomer_item is not None
    other = Label.objects.create(
        item=newcomer_item, annotator=people[1], scores=RISKY, idempotency_key="x", rationale="秘密理由"
    )
    response = submit(api(client_as, people[0]), newcomer_item.pk, SAFE, "peek")
    assert response.status_code == 404 and "秘密理由" not in response.content.decode()
    assert str(other.scores) not in response.content.decode()
    assert api(client_as, people[0]).get(reverse("api-accepted-list")).status_code == 403
    assignments = api(client_as, people[0]).get(reverse("api-assignment-list")).json()["results"]
    assert {a["item"] for a in assignments} == {item.pk} and "scores" not in assignments[0]


def test_the_review_side_reads_all_labels_and_accepted_labels_unless_it_annotates_there(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    item = dispute_one(campaign, personas)
    adjudicate(item, personas.reviewer, RISKY, note="裁定")
    reviewer = api(client_as, personas.reviewer)
    assert len(reviewer.get(reverse("api-label-list"), {"campaign": campaign.pk}).json()["results"]) == 3
    accepted = reviewer.get(reverse("api-accepted-list")).json()["results"]
    assert accepted[0]["provenance"] == "adjudication" and len(accepted[0]["source_labels"]) == 3
    assert len(api(client_as, personas.ml_engineer).get(reverse("api-accepted-list")).json()["results"]) == 1
    Member.objects.create(campaign=campaign, user=personas.reviewer, role=MemberRole.ANNOTATOR)
    assert reviewer.get(reverse("api-label-list")).json()["results"] == []
    assert reviewer.get(reverse("api-accepted-list")).json()["results"] == []


def test_next_refuses_non_members_and_paused_annotators(campaign: Campaign, personas: Personas, client_as: Any) -> None:
    other = build_campaign(personas, name="Other", reviewer=False, creator=personas.curator)
    Member.objects.filter(campaign=other, user=personas.annotator).delete()
    client = api(client_as, personas.annotator)
    assert client.post(reverse("api-assignment-next", args=[other.pk])).status_code == 404
    Member.objects.filter(campaign=campaign, user=personas.annotator).update(paused=True, paused_reason="gold")
    paused = client.post(reverse("api-assignment-next", args=[campaign.pk]))
    assert paused.status_code == 403 and "paused" in paused.json()["detail"]
    assert client.get(reverse("api-assignment-next", args=[campaign.pk])).status_code == 405


def test_the_openapi_schema_validates_without_warnings(db: None) -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
