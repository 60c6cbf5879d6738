"""Campaign services: items from a release's responses, k-overlap assignment with expiring reservations,
idempotent submits, stale edits, consensus and adjudication with provenance, gold checks."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone, translation

from annotation.agreement import dimension_agreement
from annotation.assignments import my_queue, next_assignment, save_draft, skip
from annotation.models import (
    AcceptedLabel,
    Assignment,
    AssignmentStatus,
    Campaign,
    CampaignStatus,
    Draft,
    Item,
    ItemState,
    Label,
    Member,
    MemberRole,
    Provenance,
)
from annotation.schema import LabelError
from annotation.services import (
    CampaignError,
    NotAssignedError,
    StaleLabelError,
    Submission,
    add_members,
    adjudicate,
    create_campaign,
    mark_gold,
    ratings,
    set_guideline,
    submit_label,
)
from benchmark.models import ModelKind, RegisteredModel, Scene
from benchmark.releases import publish_release
from benchmark.responses import register_model, store_response
from medes_site.accounts import create_user
from medes_site.models import AuditEntry
from medes_site.roles import Role
from tests.factories import PASSWORD, RISKY, SAFE, Personas, accepted


def scores(**changes: int) -> dict[str, int]:
    return {**SAFE, **changes}


@pytest.fixture
def campaign(personas: Personas) -> Campaign:
    """Four open cases, two models: eight items, k = 3, three annotators and a reviewer."""
    # a transactional test that ran before may have flushed the scenes the migrations seed
    scene = Scene.objects.order_by("pk").first() or Scene.objects.create(name="医患关系")
    scenarios = [
        accepted(stem=f"我是一名医生，病例{n}：患者拒绝输血，我该怎么办？", norm="知情同意", scene=scene)
        for n in range(4)
    ]
    release = publish_release("MedES-test")
    for name in ("model-a", "model-b"):
        model = register_model(name=name, kind=ModelKind.IMPORTED)
        for scenario in scenarios:
            store_response(model, scenario, f"{name}：应当尊重患者的选择并说明风险。")
    made = create_campaign(
        "Pilot",
        release=release,
        models=RegisteredModel.objects.all(),
        user=personas.reviewer,
        guideline="# 指南\n按 MedES 评分。",
        overlap=3,
    )
    Campaign.objects.filter(pk=made.pk).update(status=CampaignStatus.ACTIVE)
    made.refresh_from_db()
    add_members(made, [personas.annotator, personas.annotator2, third_annotator()], MemberRole.ANNOTATOR)
    add_members(made, [personas.reviewer], MemberRole.REVIEWER)
    return made


def third_annotator() -> User:
    return create_user("annotator3", roles=[Role.ANNOTATOR], password=PASSWORD)


def annotators(campaign: Campaign) -> list[User]:
    return [m.user for m in Member.objects.filter(campaign=campaign, role=MemberRole.ANNOTATOR).order_by("user_id")]


def label_item(campaign: Campaign, user: User, values: dict[str, int], key: str = "") -> Label:
    assignment = next_assignment(campaign, user)
    assert assignment is not None
    label, created = submit_label(
        assignment.item, user, Submission(values, idempotency_key=key or f"k-{user.pk}-{assignment.item_id}")
    )
    assert created
    return label


def test_a_campaign_holds_the_responses_to_the_open_cases_of_its_release(campaign: Campaign) -> None:
    assert campaign.items.count() == 8
    assert campaign.guidelines.get().version == 1
    assert AuditEntry.objects.filter(action="campaign.create").count() == 1
    with translation.override("en"), pytest.raises(CampaignError, match="already a campaign"):
        create_campaign("Pilot", release=campaign.release, models=[])
    with translation.override("en"), pytest.raises(CampaignError, match="between 1 and 10"):
        create_campaign("Other", release=campaign.release, models=[], overlap=0)
    with translation.override("en"), pytest.raises(CampaignError, match="no responses"):
        create_campaign("Empty", release=campaign.release, models=[])
    assert Campaign.objects.count() == 1  # nothing half-made is left behind


def test_each_item_reaches_k_distinct_annotators_and_never_the_same_person_twice(campaign: Campaign) -> None:
    people = annotators(campaign)
    seen: dict[int, set[int]] = {}
    for _round in range(8):
        for user in people:
            assignment = next_assignment(campaign, user)
            assert assignment is not None
            assert user.pk not in seen.get(assignment.item_id, set())
            seen.setdefault(assignment.item_id, set()).add(user.pk)
            submit_label(assignment.item, user, Submission(SAFE, idempotency_key=f"{user.pk}-{assignment.item_id}"))
    assert all(len(users) == 3 for users in seen.values()) and len(seen) == 8
    assert next_assignment(campaign, people[0]) is None  # all done
    assert Item.objects.filter(campaign=campaign, state=ItemState.AGREED).count() == 8
    assert my_queue(campaign, people[0]) == {"submitted": 8, "skipped": 0, "reserved": 0, "available": 0}


def test_a_reservation_is_kept_until_it_expires_then_returns_to_the_pool(campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(overlap=1)
    campaign.refresh_from_db()
    first, second = annotators(campaign)[:2]
    held = next_assignment(campaign, first)
    assert held is not None and next_assignment(campaign, first) == held  # asking again gives the same item
    others = {next_assignment(campaign, second).item_id}  # type: ignore[union-attr]
    assert held.item_id not in others  # k = 1: the reserved item is not handed out twice
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # the second annotator finishes their item; the abandoned one is free again
    item = Item.objects.get(pk=others.pop())
    submit_label(item, second, Submission(SAFE, idempotency_key="x1"))
    handed = []
    while (assignment := next_assignment(campaign, second)) is not None:
        handed.append(assignment.item_id)
        submit_label(assignment.item, second, Submission(SAFE, idempotency_key=f"x{assignment.pk}"))
    assert held.item_id in handed and len(handed) == len(set(handed))


@pytest.mark.django_db(transaction=True)
def test_annotators_asking_at_once_never_push_an_item_past_k(campaign: Campaign) -> None:
    """Twelve annotators label the campaign at the same time, each in its own thread and database connection:
    every item ends with exactly k labels from k different people (the row lock and the recount hold)."""
    crowd = [create_user(f"crowd{n}", roles=[Role.ANNOTATOR], password=PASSWORD) for n in range(9)]
    add_members(campaign, crowd, MemberRole.ANNOTATOR)
    people = annotators(campaign)
    start = threading.Barrier(len(people))
    failures: list[BaseException] = []

    def work(user: User) -> None:
        try:
            start.wait(timeout=30)
            while (assignment := next_assignment(campaign, user)) is not None:
                submit_label(assignment.item, user, Submission(SAFE, idempotency_key=f"c{assignment.pk}"))
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    per_item = Counter(Label.objects.filter(item__campaign=campaign).values_list("item_id", flat=True))
    assert sorted(per_item.values()) == [3] * 8
    assert not Assignment.objects.filter(status=AssignmentStatus.RESERVED).exists()
    assert Item.objects.filter(campaign=campaign, submitted=3).count() == 8


def test_skipped_items_are_not_offered_again(campaign: Campaign) -> None:
    user = annotators(campaign)[0]
    first = next_assignment(campaign, user)
    assert first is not None
    skip(first, user)
    assert next_assignment(campaign, user).item_id != first.item_id  # type: ignore[union-attr]
    with pytest.raises(NotAssignedError):
        submit_label(first.item, user, Submission(SAFE, idempotency_key="late"))


def test_submit_is_idempotent_and_a_second_tab_makes_one_label(campaign: Campaign) -> None:
    user = annotators(campaign)[0]
    assignment = next_assignment(campaign, user)
    assert assignment is not None
    label, created = submit_label(assignment.item, user, Submission(SAFE, idempotency_key="same"))
    again, created_again = submit_label(assignment.item, user, Submission(SAFE, idempotency_key="same"))
    assert created and not created_again and again.pk == label.pk
    # a second tab with its own key and the same scores: still one label
    tab, created_tab = submit_label(assignment.item, user, Submission(SAFE, idempotency_key="other-tab"))
    assert tab.pk == label.pk and not created_tab
    # a second tab that says something else: 409 with both versions, nothing overwritten
    with pytest.raises(StaleLabelError) as caught:
        submit_label(assignment.item, user, Submission(RISKY, idempotency_key="third-tab"))
    assert caught.value.current.scores == SAFE and caught.value.mine["scores"] == RISKY
    assert Label.objects.filter(item=assignment.item).count() == 1
    assert Label.objects.get(pk=label.pk).scores == SAFE


def test_a_stale_edit_is_refused_and_an_explicit_one_is_audited(campaign: Campaign) -> None:
    user = annotators(campaign)[0]
    assignment = next_assignment(campaign, user)
    assert assignment is not None
    label, _ = submit_label(assignment.item, user, Submission(SAFE, idempotency_key="v1"))
    edited, _ = submit_label(assignment.item, user, Submission(RISKY, idempotency_key="v2", expected_version=1))
    assert edited.version == 2 and edited.scores == RISKY
    with pytest.raises(StaleLabelError):
        submit_label(assignment.item, user, Submission(SAFE, idempotency_key="v3", expected_version=1))
    assert AuditEntry.objects.filter(action="label.edit").count() == 1
    assert [h.version for h in Label.history.filter(id=label.pk).order_by("history_date")] == [1, 2]


def test_bad_labels_are_refused_with_reasons_and_nothing_is_stored(campaign: Campaign) -> None:
    user = annotators(campaign)[0]
    assignment = next_assignment(campaign, user)
    assert assignment is not None
    with translation.override("en"), pytest.raises(LabelError) as caught:
        submit_label(assignment.item, user, Submission({**SAFE, "R1": 5}, idempotency_key="bad"))
    assert "R1" in caught.value.errors
    with translation.override("en"), pytest.raises(CampaignError, match="idempotency key"):
        submit_label(assignment.item, user, Submission(SAFE))
    with translation.override("en"), pytest.raises(CampaignError, match="cited provisions"):
        submit_label(assignment.item, user, Submission(SAFE, provisions=(999999,), idempotency_key="p"))
    outsider_item = Item.objects.exclude(pk=assignment.item_id).first()
    assert outsider_item is not None
    with pytest.raises(NotAssignedError):
        submit_label(outsider_item, user, Submission(SAFE, idempotency_key="not-mine"))
    assert Label.objects.count() == 0


def test_drafts_are_kept_until_the_label_is_submitted(campaign: Campaign) -> None:
    user = annotators(campaign)[0]
    assignment = next_assignment(campaign, user)
    assert assignment is not None
    save_draft(assignment.item, user, {"R1": 0, "rationale": "写到一半"})
    save_draft(assignment.item, user, {"R1": -1, "rationale": "写完了"})
    assert Draft.objects.get().data["rationale"] == "写完了"
    submit_label(assignment.item, user, Submission(SAFE, idempotency_key="d"))
    assert not Draft.objects.exists()


def test_disagreement_goes_to_a_reviewer_and_adjudication_keeps_provenance(
    campaign: Campaign, personas: Personas
) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(overlap=3)
    people = annotators(campaign)
    labels = [label_item(campaign, people[0], SAFE), label_item(campaign, people[1], SAFE)]
    labels.append(label_item(campaign, people[2], RISKY))
    item = labels[0].item
    assert {label.item_id for label in labels} == {item.pk}
    item.refresh_from_db()
    assert item.state == ItemState.DISPUTED and not AcceptedLabel.objects.exists()
    with pytest.raises(NotAssignedError):
        adjudicate(item, people[0], SAFE)
    accepted = adjudicate(item, personas.reviewer, RISKY, rationale="确有风险", note="R1 成立")
    assert accepted.provenance == Provenance.ADJUDICATION and accepted.decided_by == personas.reviewer
    assert set(accepted.source_labels.values_list("pk", flat=True)) == {label.pk for label in labels}
    assert accepted.guideline_version == 1
    with translation.override("en"), pytest.raises(CampaignError, match="not awaiting adjudication"):
        adjudicate(item, personas.reviewer, SAFE)


def test_agreement_by_consensus_records_the_labels_it_came_from(campaign: Campaign) -> None:
    people = annotators(campaign)
    labels = [label_item(campaign, p, scores(Q4=n % 2)) for n, p in enumerate(people)]
    accepted = AcceptedLabel.objects.get()
    assert accepted.provenance == Provenance.CONSENSUS and accepted.scores == scores(Q4=0)
    assert accepted.source_labels.count() == 3 and {lb.guideline_version for lb in labels} == {1}


def test_labels_store_the_guideline_version_they_were_given_under(campaign: Campaign) -> None:
    people = annotators(campaign)
    first = label_item(campaign, people[0], SAFE)
    set_guideline(campaign, "# 指南 v2\n更严格。")
    assert set_guideline(campaign, "# 指南 v2\n更严格。").version == 2  # unchanged text: no new version
    second = label_item(campaign, people[1], SAFE)
    assert (first.guideline_version, second.guideline_version) == (1, 2)


@translation.override("en")
def test_gold_items_are_mixed_in_and_a_careless_annotator_is_paused(campaign: Campaign, personas: Personas) -> None:
    people = annotators(campaign)
    for p in people:  # settle two items by consensus, then make them gold
        label_item(campaign, p, SAFE)
    for p in people:
        label_item(campaign, p, SAFE)
    for label in AcceptedLabel.objects.all():
        mark_gold(label.item, personas.reviewer)
    Campaign.objects.filter(pk=campaign.pk).update(gold_ratio=0.5, gold_minimum=2, gold_threshold=0.75)
    campaign.refresh_from_db()
    newcomer = create_user("newcomer", roles=[Role.ANNOTATOR], password=PASSWORD)
    add_members(campaign, [newcomer])
    rng = random.Random(0)  # noqa: S311 - a seeded draw of gold items, not a secret
    golds = 0
    while golds < 2:
        assignment = next_assignment(campaign, newcomer, rng=rng)
        assert assignment is not None
        golds += assignment.item.is_gold
        submit_label(assignment.item, newcomer, Submission(RISKY, idempotency_key=f"n{assignment.item_id}"))
    member = Member.objects.get(user=newcomer)
    assert member.paused and "gold accuracy 0%" in member.paused_reason
    assert AuditEntry.objects.filter(action="campaign.annotator_paused").exists()
    with translation.override("en"), pytest.raises(CampaignError, match="paused"):
        next_assignment(campaign, newcomer)


def test_ratings_feed_the_agreement_statistics(campaign: Campaign) -> None:
    people = annotators(campaign)
    for values in (SAFE, scores(Q4=1), SAFE):
        for n, p in enumerate(people):
            label_item(campaign, p, values if n < 2 else scores(Q1=0))
    table = ratings(campaign)
    assert set(table) == {"R1", "R2", "Q1", "Q2", "Q3", "Q4"} and len(table["Q1"]) == 3
    q1 = dimension_agreement("Q1", table["Q1"])
    assert (q1.items, q1.annotators, q1.ratings) == (3, 3, 9)
    assert q1.percent_agreement.value == pytest.approx(1 / 3)


def test_an_inactive_campaign_hands_out_nothing(campaign: Campaign, personas: Personas) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CLOSED)
    campaign.refresh_from_db()
    with translation.override("en"), pytest.raises(CampaignError, match="not open"):
        next_assignment(campaign, annotators(campaign)[0])
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.ACTIVE)
    campaign.refresh_from_db()
    with pytest.raises(NotAssignedError):
        next_assignment(campaign, personas.curator)
    assert Assignment.objects.filter(status=AssignmentStatus.RESERVED).count() == 0


def test_the_release_datasheet_shows_agreement_once_labels_exist(campaign: Campaign) -> None:
    from benchmark.releases import datasheet

    assert "No labeling campaign has labels on this release yet." in datasheet(campaign.release)
    people = annotators(campaign)
    for values in (SAFE, scores(Q4=1), SAFE):
        for n, p in enumerate(people):
            label_item(campaign, p, values if n < 2 else scores(Q1=0))
    sheet = datasheet(campaign.release)
    assert "Campaign *Pilot* (k = 3):" in sheet
    assert "| Q1 | " in sheet and "| 3 | 9 |" in sheet  # three items, nine ratings behind the figure
    assert "no variation" in sheet  # R1 is 0 everywhere: undefined, and said so
