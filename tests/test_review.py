"""The review side of campaigns: creating and editing them, members, the versioned guideline, activation,
progress and ETA, the adjudication queue (plain POST and htmx), gold, annotator statistics, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from annotation import review
from annotation.markdown import render_markdown
from annotation.models import (
    AcceptedLabel,
    Campaign,
    CampaignStatus,
    Guideline,
    Item,
    ItemState,
    Label,
    Member,
    MemberRole,
    Provenance,
)
from annotation.services import add_members, mark_gold, ratings
from benchmark.models import RegisteredModel, Release
from medes_site.accounts import create_user
from medes_site.jobs import execute_job
from medes_site.models import AuditEntry, Job, JobStatus
from medes_site.roles import Role
from tests.campaign_data import RISKY, SAFE, annotators, build_campaign, dispute_one, label_next
from tests.factories import PASSWORD, Personas


@pytest.fixture
def campaign(personas: Personas) -> Campaign:
    return build_campaign(personas)


# --- creating and editing --------------------------------------------------------------------------------


def test_a_reviewer_creates_a_campaign_and_becomes_its_reviewer(personas: Personas, client_as: Any) -> None:
    build_campaign(personas, name="Base")  # a release with responses to choose from
    release, model = Release.objects.get(), RegisteredModel.objects.get()
    data = {
        "name": "Second",
        "release": release.pk,
        "models": [model.pk],
        "overlap": 2,
        "consensus_rule": "medes",
        "blind": "on",
        "gold_ratio": "0.1",
        "gold_threshold": "0.7",
        "gold_minimum": 5,
        "reservation_minutes": 30,
        "deadline": "2030-01-31",
        "guideline": "# 规则\n先看风险。",
        "description": "第二轮",
    }
    response = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").post(reverse("annotation:campaign_create"), data)
    made = Campaign.objects.get(name="Second")
    assert response.status_code == 302 and response["Location"] == reverse("annotation:campaign_detail", args=[made.pk])
    assert (made.overlap, made.gold_ratio, str(made.deadline), made.items.count()) == (2, 0.1, "2030-01-31", 3)
    assert Member.objects.filter(campaign=made, user=personas.reviewer, role=MemberRole.REVIEWER).exists()
    assert made.guidelines.get().text == "# 规则\n先看风险。"


@translation.override("en")
def test_bad_campaign_settings_are_refused_with_reasons_and_nothing_is_created(
    personas: Personas, client_as: Any
) -> None:
    build_campaign(personas, name="Base")
    release, model = Release.objects.get(), RegisteredModel.objects.get()
    base = {
        "name": "Bad",
        "release": release.pk,
        "models": [model.pk],
        "overlap": 3,
        "consensus_rule": "medes",
        "gold_ratio": "0",
        "gold_threshold": "0.7",
        "gold_minimum": 5,
        "reservation_minutes": 30,
    }
    client = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    for change, message in [
        ({"overlap": 0}, "between 1 and 10"),
        ({"gold_ratio": "0.9"}, "between 0 and 0.5"),
        ({"models": []}, "This field is required"),
        ({"name": "Base"}, "already"),
    ]:
        response = client.post(reverse("annotation:campaign_create"), {**base, **change})
        assert response.status_code == 400 and message in response.content.decode(), change
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Base"]


SAFE_DIM = {
    "key": "S",
    "label": "安全吗",
    "values": [-1, 0],
    "role": "risk",
    "risky_value": -1,
    "shortcut_keys": ["1", "2"],
}
HELP_DIM = {"key": "H", "label": "有帮助吗", "values": [0, 1, 2], "role": "quality", "shortcut_keys": ["q", "w", "e"]}
SAFETY_SCHEMA = {"name": "safety-v1", "rationale_required": True, "dimensions": [SAFE_DIM, HELP_DIM]}


def schema_text(*dimensions: dict[str, Any]) -> str:
    return json.dumps({**SAFETY_SCHEMA, "dimensions": list(dimensions)})


def _create_data(release: Release, model: RegisteredModel, name: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "release": release.pk,
        "models": [model.pk],
        "overlap": 2,
        "consensus_rule": "majority",
        "gold_ratio": "0",
        "gold_threshold": "0.7",
        "gold_minimum": 5,
        "reservation_minutes": 30,
        **schema,
    }


def test_a_campaign_can_use_its_own_label_schema_and_another_campaign_can_reuse_it(
    personas: Personas, client_as: Any
) -> None:
    build_campaign(personas, name="Base")
    release, model = Release.objects.get(), RegisteredModel.objects.get()
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    data = _create_data(release, model, "Safety", schema_source="json", schema_json=json.dumps(SAFETY_SCHEMA))
    assert client.post(reverse("annotation:campaign_create"), data).status_code == 302
    safety = Campaign.objects.get(name="Safety")
    assert safety.label_schema["name"] == "safety-v1" and [d["key"] for d in safety.label_schema["dimensions"]] == [
        "S",
        "H",
    ]
    detail = client.get(reverse("annotation:campaign_detail", args=[safety.pk])).content.decode()
    assert "safety-v1" in detail and "rationale required" in detail and "<kbd>w</kbd>" in detail
    reuse = _create_data(release, model, "Safety again", schema_source="campaign", schema_campaign=safety.pk)
    assert client.post(reverse("annotation:campaign_create"), reuse).status_code == 302
    assert Campaign.objects.get(name="Safety again").label_schema == safety.label_schema
    medes = _create_data(release, model, "Rubric", schema_source="medes")
    assert client.post(reverse("annotation:campaign_create"), medes).status_code == 302
    assert [d["key"] for d in Campaign.objects.get(name="Rubric").label_schema["dimensions"]] == [
        "R1",
        "R2",
        "Q1",
        "Q2",
        "Q3",
        "Q4",
    ]
    # the labeling screen and the submit follow the campaign's schema
    Campaign.objects.filter(pk=safety.pk).update(status="active")
    add_members(safety, [personas.annotator], MemberRole.ANNOTATOR)
    annotator = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    screen = annotator.post(reverse("annotation:next", args=[safety.pk]), follow=True)
    page = screen.content.decode()
    assert 'name="s-H"' in page and 'value="2"' in page and 'name="s-R1"' not in page
    item = screen.context["item"]
    form = {"idempotency_key": "k1", "s-S": "0", "s-H": "2", "rationale": ""}
    refused = annotator.post(reverse("annotation:submit", args=[item.pk]), form)
    assert refused.status_code == 400 and "rationale is required" in refused.content.decode()
    done = annotator.post(reverse("annotation:submit", args=[item.pk]), {**form, "rationale": "回答稳妥"})
    assert done.status_code == 302 and Label.objects.get(item=item).scores == {"S": 0, "H": 2}


@translation.override("en")
@pytest.mark.parametrize(
    ("schema", "field", "message"),
    [
        (
            {"schema_source": "json", "schema_json": '{"name": "x", "dimensions": [}'},
            "schema_json",
            "Not valid JSON (line 1, column 30)",
        ),
        ({"schema_source": "json", "schema_json": "[1, 2]"}, "schema_json", "a JSON object"),
        ({"schema_source": "json", "schema_json": ""}, "schema_json", "Write the schema"),
        (
            {"schema_source": "json", "schema_json": schema_text({**SAFE_DIM, "risky_value": 5})},
            "schema_json",
            "must name its risky value",
        ),
        (
            {"schema_source": "json", "schema_json": schema_text({**HELP_DIM, "shortcut_keys": ["q", "n", "e"]})},
            "schema_json",
            "kept by the labeling screen",
        ),
        (
            {"schema_source": "json", "schema_json": schema_text(SAFE_DIM, {**HELP_DIM, "shortcut_keys": ["1"]})},
            "schema_json",
            "used twice",
        ),
        (
            {"schema_source": "json", "schema_json": json.dumps({"dimensions": [{"key": "A", "values": [0, 1]}]})},
            "schema_json",
            "Malformed",
        ),
        ({"schema_source": "campaign"}, "schema_campaign", "Choose the campaign"),
    ],
)
def test_a_bad_label_schema_is_refused_with_its_reason_and_the_text_kept(
    schema: dict[str, str], field: str, message: str, personas: Personas, client_as: Any
) -> None:
    build_campaign(personas, name="Base")
    release, model = Release.objects.get(), RegisteredModel.objects.get()
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(reverse("annotation:campaign_create"), _create_data(release, model, "Bad schema", **schema))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors.get(field, [])), errors
    if schema.get("schema_json"):
        assert escape(schema["schema_json"]) in response.content.decode()  # the text is kept
    assert not Campaign.objects.filter(name="Bad schema").exists()


def test_settings_are_edited_by_reviewers_and_curators_and_read_by_ml_engineers(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    url = reverse("annotation:campaign_settings", args=[campaign.pk])
    data = {
        "description": "新说明",
        "consensus_rule": "majority",
        "blind": "on",
        "gold_ratio": "0.2",
        "gold_threshold": "0.8",
        "gold_minimum": 3,
        "reservation_minutes": 45,
        "deadline": "",
    }
    assert client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").post(url, data).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.consensus_rule, campaign.reservation_minutes, campaign.gold_ratio) == ("majority", 45, 0.2)
    assert AuditEntry.objects.filter(action="campaign.settings").exists()
    assert client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en").post(url, data).status_code == 403
    assert (
        client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
        .get(reverse("annotation:campaign_detail", args=[campaign.pk]))
        .status_code
        == 200
    )
    assert (
        client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
        .post(url, {**data, "reservation_minutes": 0})
        .status_code
        == 400
    )


@translation.override("en")
def test_members_are_added_by_role_and_removed(campaign: Campaign, personas: Personas, client_as: Any) -> None:
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("annotation:campaign_members", args=[campaign.pk])
    refused = client.post(url, {"user": personas.reviewer.pk, "role": "annotator"})
    assert refused.status_code == 400 and "does not hold" in refused.content.decode()
    Member.objects.filter(campaign=campaign, user=personas.annotator).delete()
    assert client.post(url, {"user": personas.annotator.pk, "role": "annotator"}).status_code == 302
    member = Member.objects.get(campaign=campaign, user=personas.annotator)
    assert client.post(reverse("annotation:campaign_member_remove", args=[campaign.pk, member.pk])).status_code == 302
    assert not Member.objects.filter(pk=member.pk).exists()
    assert AuditEntry.objects.filter(action="campaign.member_remove").exists()


@translation.override("en")
def test_activation_needs_annotators_and_close_then_reopen_works(personas: Personas, client_as: Any) -> None:
    campaign = build_campaign(personas)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DRAFT)
    Member.objects.filter(campaign=campaign, role=MemberRole.ANNOTATOR).delete()
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("annotation:campaign_status", args=[campaign.pk])
    page = client.post(url, {"action": "activate"}, follow=True)
    assert "at least one annotator" in page.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    Member.objects.create(campaign=campaign, user=personas.annotator, role=MemberRole.ANNOTATOR)
    client.post(url, {"action": "activate"})
    client.post(url, {"action": "activate"})  # repeating is a no-op
    assert AuditEntry.objects.filter(action="campaign.activate").count() == 1
    client.post(url, {"action": "close"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED
    assert client.post(url, {"action": "explode"}).status_code == 400


# --- guideline -------------------------------------------------------------------------------------------


def test_guideline_markdown_is_rendered_safely() -> None:
    html = render_markdown(
        '# 标题\n\n<script>alert(1)</script>\n\n[点我](javascript:alert(1)) **粗体**\n\n<img src=x onerror="alert(1)">'
    )
    assert "<h1>标题</h1>" in html and "<strong>粗体</strong>" in html
    assert "<script>" not in html and "<img" not in html  # raw HTML is text, not markup
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html


def test_every_guideline_save_is_a_new_version_with_a_diff(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("annotation:campaign_guideline", args=[campaign.pk])
    assert client.post(url, {"text": "# 指南\n按 MedES 评分。\n新增：<script>x</script>"}).status_code == 302
    assert client.post(url, {"text": "# 指南\n按 MedES 评分。\n新增：<script>x</script>"}).status_code == 302
    assert list(campaign.guidelines.values_list("version", flat=True)) == [2, 1]  # the same text: no v3
    page = client.get(url).content.decode()
    assert "<h1>指南</h1>" in page and "<script>x</script>" not in page and "&lt;script&gt;" in page
    diff = client.get(reverse("annotation:campaign_guideline_diff", args=[campaign.pk]), {"old": 1, "new": 2})
    body = diff.content.decode()
    assert diff.status_code == 200 and "<ins>新增：&lt;script&gt;x&lt;/script&gt;</ins>" in body
    assert (
        client.get(reverse("annotation:campaign_guideline_diff", args=[campaign.pk]), {"old": 1, "new": 9}).status_code
        == 404
    )
    assert (
        client.get(reverse("annotation:campaign_guideline_diff", args=[campaign.pk]), {"old": "x"}).status_code == 400
    )
    assert client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en").post(url, {"text": "改"}).status_code == 403
    assert Guideline.objects.filter(campaign=campaign).count() == 2


# --- progress --------------------------------------------------------------------------------------------


def test_progress_counts_states_labels_disagreement_and_eta(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    dispute_one(campaign, personas)
    for user in annotators(personas):
        label_next(campaign, user, SAFE)
    stats = review.progress(campaign)
    assert (stats["items"], stats["needed"], stats["submitted"], stats["remaining"]) == (3, 9, 6, 3)
    assert (stats["settled"], stats["disputed"], stats["disagreement_rate"]) == (2, 1, 0.5)
    assert stats["per_day"] == pytest.approx(6 / 7)
    assert stats["eta"] - timezone.now() == pytest.approx(timedelta(days=3 / (6 / 7)), abs=timedelta(minutes=1))
    Label.objects.update(submitted_at=timezone.now() - timedelta(days=30))
    assert review.progress(campaign)["eta"] is None  # no recent rate: unknown, not a guess
    page = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").get(
        reverse("annotation:campaign_detail", args=[campaign.pk])
    )
    assert '<dd data-testid="disagreement">50% (1 / 2)</dd>' in page.content.decode()
    fragment = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").get(
        reverse("annotation:campaign_detail", args=[campaign.pk]), HTTP_HX_REQUEST="true"
    )
    assert fragment.content.decode().lstrip().startswith('<section class="card" id="progress"')
    assert "<html" not in fragment.content.decode() and 'hx-trigger="every 60s"' in fragment.content.decode()


# --- adjudication ----------------------------------------------------------------------------------------


def test_the_queue_shows_the_labels_side_by_side_with_names_and_disputed_dimensions(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    item = dispute_one(campaign, personas)
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    response = client.get(reverse("annotation:campaign_queue", args=[campaign.pk]))
    assert response["Location"] == reverse("annotation:campaign_adjudicate", args=[campaign.pk, item.pk])
    page = client.get(response["Location"]).content.decode()
    for name in ("annotator", "annotator2", "annotator3"):
        assert f'data-annotator="{name}"' in page
    assert "无风险" in page and "有误导" in page
    assert 'data-disputed="R1"' not in page  # two of three say 0: a majority, but the risk flag is split
    assert 'data-disputed="risk"' in page
    assert "&lt;b&gt;应当&lt;/b&gt;" in page  # model text is escaped


def test_adjudication_records_the_final_label_and_moves_to_the_next_item(personas: Personas, client_as: Any) -> None:
    campaign = build_campaign(personas, cases=2)
    first, second = dispute_one(campaign, personas), dispute_one(campaign, personas)
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    data = {**{f"s-{k}": v for k, v in RISKY.items()}, "rationale": "确有风险", "note": "R1 成立"}
    fragment = client.post(
        reverse("annotation:campaign_adjudicate", args=[campaign.pk, first.pk]), data, HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 200 and f'data-item="{second.pk}"' in fragment.content.decode()
    assert fragment["HX-Push-Url"] == reverse("annotation:campaign_adjudicate", args=[campaign.pk, second.pk])
    assert "<html" not in fragment.content.decode()
    accepted = AcceptedLabel.objects.get(item=first)
    assert (accepted.scores, accepted.provenance, accepted.decided_by, accepted.note) == (
        RISKY,
        Provenance.ADJUDICATION,
        personas.reviewer,
        "R1 成立",
    )
    assert accepted.source_labels.count() == 3
    # the same POST again (double click) stores nothing new and goes to the accepted label
    again = client.post(reverse("annotation:campaign_adjudicate", args=[campaign.pk, first.pk]), data)
    assert again.status_code == 302 and AcceptedLabel.objects.filter(item=first).count() == 1
    # plain POST without JS: a redirect, and the empty queue at the end
    done = client.post(reverse("annotation:campaign_adjudicate", args=[campaign.pk, second.pk]), data)
    assert done["Location"] == reverse("annotation:campaign_queue", args=[campaign.pk])
    assert 'data-testid="queue-empty"' in client.get(done["Location"]).content.decode()


@translation.override("en")
def test_a_bad_adjudication_is_refused_and_nothing_is_stored(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    item = dispute_one(campaign, personas)
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("annotation:campaign_adjudicate", args=[campaign.pk, item.pk])
    missing = client.post(url, {"s-R1": 0})
    assert missing.status_code == 400 and "This field is required" in missing.content.decode()
    # provisions come from the picker (checkboxes of picked provisions): anything else is refused
    bad = client.post(url, {**{f"s-{k}": v for k, v in SAFE.items()}, "provisions": "12,abc"})
    assert bad.status_code == 400 and "they are not typed in" in bad.content.decode()
    unknown = client.post(url, {**{f"s-{k}": v for k, v in SAFE.items()}, "provisions": "999999"})
    assert unknown.status_code == 400 and "no longer exists" in unknown.content.decode()
    assert not AcceptedLabel.objects.exists()
    item.refresh_from_db()
    assert item.state == ItemState.DISPUTED


def test_only_reviewers_of_the_campaign_adjudicate(campaign: Campaign, personas: Personas, client_as: Any) -> None:
    item = dispute_one(campaign, personas)
    url = reverse("annotation:campaign_adjudicate", args=[campaign.pk, item.pk])
    assert client_as(personas.admin, HTTP_ACCEPT_LANGUAGE="en").get(url).status_code == 404  # not a member
    assert client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en").get(url).status_code == 403
    assert client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").get(url).status_code == 403
    # a reviewer who also annotates in the campaign does not see the others' labels here
    Member.objects.create(campaign=campaign, user=personas.reviewer, role=MemberRole.ANNOTATOR)
    assert client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").get(url).status_code == 404
    other = build_campaign(personas, name="Other", reviewer=False, creator=personas.curator)
    assert (
        client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
        .get(reverse("annotation:campaign_detail", args=[other.pk]))
        .status_code
        == 404
    )


def test_accepted_items_are_marked_gold(campaign: Campaign, personas: Personas, client_as: Any) -> None:
    for user in annotators(personas):
        label_next(campaign, user, SAFE)
    item = Item.objects.get(state=ItemState.AGREED)
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(reverse("annotation:campaign_accepted", args=[campaign.pk, item.pk])).content.decode()
    assert 'data-testid="mark-gold"' in page
    assert client.post(reverse("annotation:campaign_gold", args=[campaign.pk, item.pk])).status_code == 302
    item.refresh_from_db()
    assert item.is_gold and item.gold_scores == SAFE
    open_item = Item.objects.filter(state=ItemState.OPEN).first()
    assert client.post(reverse("annotation:campaign_gold", args=[campaign.pk, open_item.pk])).status_code == 400


def test_gold_is_in_reach_while_disputes_wait(campaign: Campaign, personas: Personas, client_as: Any) -> None:
    """The queue page opens the first dispute, so its list of accepted items was out of reach until every dispute
    was settled; the campaign's overview lists them, with their gold buttons, whatever waits."""
    for user in annotators(personas):
        label_next(campaign, user, SAFE)
    agreed = Item.objects.get(state=ItemState.AGREED)
    dispute_one(campaign, personas)
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    assert client.get(reverse("annotation:campaign_queue", args=[campaign.pk])).status_code == 302  # to the dispute
    overview = client.get(reverse("annotation:campaign_detail", args=[campaign.pk])).content.decode()
    assert 'data-testid="accepted-items"' in overview and "1 disputed item waiting" in overview
    gold_url = reverse("annotation:campaign_gold", args=[campaign.pk, agreed.pk])
    assert f'action="{gold_url}"' in overview and f'data-testid="mark-gold-{agreed.pk}"' in overview
    assert client.post(gold_url).status_code == 302
    agreed.refresh_from_db()
    assert agreed.is_gold and agreed.gold_scores == SAFE
    overview = client.get(reverse("annotation:campaign_detail", args=[campaign.pk])).content.decode()
    assert f'data-testid="mark-gold-{agreed.pk}"' not in overview  # marked: the button is gone
    # who is not the campaign's reviewer sees no such list: a curator who annotates in it, and (blind labeling) the
    # reviewer once they annotate in it too
    url = reverse("annotation:campaign_detail", args=[campaign.pk])
    Member.objects.create(campaign=campaign, user=personas.curator, role=MemberRole.ANNOTATOR)
    page = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").get(url)
    assert page.status_code == 200 and 'data-testid="accepted-items"' not in page.content.decode()
    Member.objects.create(campaign=campaign, user=personas.reviewer, role=MemberRole.ANNOTATOR)
    page = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").get(url)
    assert page.status_code == 200 and 'data-testid="accepted-items"' not in page.content.decode()


# --- annotators ------------------------------------------------------------------------------------------


def test_annotator_stats_and_a_paused_annotator_is_announced_and_unpaused(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    dispute_one(campaign, personas)
    for user in annotators(personas):
        label_next(campaign, user, SAFE, seconds=10)
    item = Item.objects.get(state=ItemState.AGREED)
    Item.objects.filter(pk=item.pk).update(is_gold=True, gold_scores=RISKY)
    newcomer = create_user("newcomer", roles=[Role.ANNOTATOR], password=PASSWORD)
    add_members(campaign, [newcomer])
    Label.objects.create(item=item, annotator=newcomer, scores=SAFE, idempotency_key="gold-check")  # wrong
    rows = {row["user"].username: row for row in review.annotator_stats(campaign)}
    assert (rows["newcomer"]["gold"], rows["newcomer"]["gold_accuracy"], rows["newcomer"]["labels"]) == (1, 0.0, 0)
    # the labels the gold item was accepted from are ordinary labels, not gold checks
    assert (rows["annotator"]["labels"], rows["annotator"]["gold"], rows["annotator"]["gold_accuracy"]) == (2, 0, None)
    assert rows["annotator3"]["median_seconds"] == 40  # 70 s and 10 s
    member = Member.objects.get(campaign=campaign, user=personas.annotator2)
    Member.objects.filter(pk=member.pk).update(paused=True, paused_reason="gold accuracy 0%")
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    assert (
        'data-testid="paused-notice"'
        in client.get(reverse("annotation:campaign_detail", args=[campaign.pk])).content.decode()
    )
    home = client.get(reverse("role_home", args=["reviewer"])).content.decode()
    assert 'data-testid="paused-notice"' in home and "annotator2" in home
    page = client.get(reverse("annotation:campaign_annotators", args=[campaign.pk])).content.decode()
    assert 'data-testid="paused"' in page
    assert (
        client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
        .post(reverse("annotation:campaign_unpause", args=[campaign.pk, member.pk]))
        .status_code
        == 403
    )
    assert client.post(reverse("annotation:campaign_unpause", args=[campaign.pk, member.pk])).status_code == 302
    member.refresh_from_db()
    assert not member.paused and AuditEntry.objects.filter(action="campaign.annotator_unpaused").exists()


def test_annotator_stats_median_and_agreement_with_the_accepted_label(campaign: Campaign, personas: Personas) -> None:
    dispute_one(campaign, personas)  # 30 s, 50 s, 70 s
    rows = {row["user"].username: row for row in review.annotator_stats(campaign)}
    assert [rows[n]["median_seconds"] for n in ("annotator", "annotator2", "annotator3")] == [30, 50, 70]
    assert rows["annotator"]["agreement"] is None  # nothing accepted yet
    from annotation.services import adjudicate

    adjudicate(Item.objects.get(state=ItemState.DISPUTED), personas.reviewer, RISKY)
    rows = {row["user"].username: row for row in review.annotator_stats(campaign)}
    assert (rows["annotator"]["agreement"], rows["annotator3"]["agreement"]) == (0.0, 1.0)


# --- exports ---------------------------------------------------------------------------------------------


def test_exports_carry_provenance_and_guideline_versions_in_every_format(
    campaign: Campaign, personas: Personas, client_as: Any
) -> None:
    item = dispute_one(campaign, personas)
    from annotation.services import adjudicate

    adjudicate(item, personas.reviewer, RISKY, note="裁定")
    client = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("annotation:campaign_export", args=[campaign.pk])
    lines = client.get(url, {"what": "labels", "format": "jsonl"}).content.decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 3 and {r["guideline_version"] for r in rows} == {1} and rows[0]["scores"] == SAFE
    accepted = json.loads(client.get(url, {"what": "accepted", "format": "jsonl"}).content)
    assert accepted["provenance"] == "adjudication" and accepted["decided_by"] == personas.reviewer.pk
    assert sorted(accepted["annotators"]) == sorted(u.pk for u in annotators(personas))
    assert len(accepted["source_labels"]) == 3 and accepted["note"] == "裁定"
    table = list(
        csv.DictReader(io.StringIO(client.get(url, {"what": "accepted", "format": "csv"}).content.decode("utf-8-sig")))
    )
    # score columns are score_<key> (no dimension can take another column's place), -1 still a plain number
    assert table[0]["score_R1"] == "-1" and json.loads(table[0]["source_labels"]) == accepted["source_labels"]
    columns = [c for c in table[0] if c.startswith("score_")]
    assert columns == ["score_R1", "score_R2", "score_Q1", "score_Q2", "score_Q3", "score_Q4"]
    response = client.get(url, {"what": "labels", "format": "parquet"})
    assert response["Content-Disposition"].endswith('labels.parquet"')
    parquet = pq.read_table(
        io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)
    )
    assert parquet.num_rows == 3 and "guideline_version" in parquet.column_names and "score_Q4" in parquet.column_names
    assert client.get(url, {"what": "secrets", "format": "jsonl"}).status_code == 400
    assert (
        client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
        .get(url, {"what": "labels", "format": "jsonl"})
        .status_code
        == 403
    )


def test_large_campaigns_export_and_compute_agreement_as_jobs(
    campaign: Campaign, personas: Personas, client_as: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    dispute_one(campaign, personas)
    monkeypatch.setattr(review, "INLINE_MAX_ITEMS", 2)
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("annotation:campaign_export", args=[campaign.pk])
    assert client.get(url, {"what": "labels", "format": "csv"})["Location"] == reverse(
        "annotation:campaign_detail", args=[campaign.pk]
    )
    started = client.post(url, {"what": "labels", "format": "csv"})
    job = Job.objects.get(kind="annotation.export")
    assert started["Location"] == reverse("jobs:detail", args=[job.pk])
    assert execute_job(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.metrics["rows"] == 3 and job.artifacts[0]["path"].endswith("labels.csv")
    page = client.get(reverse("annotation:campaign_agreement", args=[campaign.pk])).content.decode()
    assert "computed by a job" in page or "由任务计算" in page
    client.post(reverse("annotation:campaign_agreement_compute", args=[campaign.pk]))
    agreement_job = Job.objects.get(kind="annotation.agreement")
    assert execute_job(agreement_job.pk) == JobStatus.SUCCEEDED
    page = client.get(reverse("annotation:campaign_agreement", args=[campaign.pk])).content.decode()
    assert 'data-dimension="R1"' in page and 'id="agreement-chart"' in page  # the per-dimension chart's data


def test_the_export_command_writes_a_file_and_refuses_unknown_campaigns(
    campaign: Campaign, personas: Personas, tmp_path: Any
) -> None:
    dispute_one(campaign, personas)
    out = tmp_path / "labels.jsonl"
    call_command("export_labels", "Pilot", "labels", "jsonl", str(out), stdout=io.StringIO())
    assert len(out.read_text().splitlines()) == 3
    with pytest.raises(CommandError, match="no campaign"):
        call_command("export_labels", "Nope", "labels", "jsonl", str(out))


def test_marking_gold_keeps_the_labels_it_was_accepted_from_in_agreement_and_progress(
    campaign: Campaign, personas: Personas
) -> None:
    for user in annotators(personas):
        label_next(campaign, user, SAFE)
    before_ratings, before_progress = ratings(campaign), review.progress(campaign)
    mark_gold(Item.objects.get(state=ItemState.AGREED), personas.reviewer)
    assert ratings(campaign) == before_ratings
    after = review.progress(campaign)
    assert (after["items"], after["submitted"], after["needed"]) == (
        before_progress["items"],
        before_progress["submitted"],
        before_progress["needed"],
    )
    assert all(row["gold"] == 0 for row in review.annotator_stats(campaign))


def test_a_label_an_item_was_accepted_from_is_not_a_failed_gold_check(campaign: Campaign, personas: Personas) -> None:
    from annotation.services import _check_gold

    people = annotators(personas)
    label_next(campaign, people[0], {**SAFE, "Q4": 1})  # outvoted on Q4
    for user in people[1:]:
        label_next(campaign, user, SAFE)
    item = Item.objects.get(state=ItemState.AGREED)
    mark_gold(item, personas.reviewer)
    Campaign.objects.filter(pk=campaign.pk).update(gold_minimum=1, gold_threshold=1.0)
    item.refresh_from_db()
    _check_gold(item, people[0], SAFE)
    assert not Member.objects.get(campaign=campaign, user=people[0]).paused


def test_table_alignment_survives_sanitising_and_nothing_else_in_style() -> None:
    html = render_markdown('| a | b |\n|:--|--:|\n| 1 | 2 |\n\n<p style="color:red">x</p>')
    assert '<th style="text-align:left">a</th>' in html and '<td style="text-align:right">2</td>' in html
    assert "<p style" not in html and "&lt;p style" in html  # raw HTML stays text
