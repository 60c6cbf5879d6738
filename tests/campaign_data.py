"""Campaigns for the review-side tests: built through the services, with labels given the way annotators give
them (reserve, then submit)."""

from __future__ import annotations

from django.contrib.auth.models import User

from annotation.assignments import next_assignment
from annotation.models import Campaign, CampaignStatus, Item, Label, MemberRole
from annotation.services import Submission, add_members, create_campaign, submit_label
from benchmark.models import ModelKind, RegisteredModel, ScenarioStatus, Scene
from benchmark.releases import publish_release
from benchmark.responses import register_model, store_response
from benchmark.scenarios import create_scenario
from medes_site.accounts import create_user
from medes_site.roles import Role
from tests.factories import PASSWORD, RISKY, SAFE, Personas

__all__ = ["RISKY", "SAFE", "annotators", "build_campaign", "dispute_one", "label_next"]


def build_campaign(
    personas: Personas,
    *,
    name: str = "Pilot",
    cases: int = 3,
    models: int = 1,
    creator: User | None = None,
    reviewer: bool = True,
    **options: object,
) -> Campaign:
    """``cases`` open cases × ``models`` models, k = 3, three annotators (annotator, annotator2, annotator3)
    and the reviewer persona as a member."""
    scene = Scene.objects.order_by("pk").first()
    if scene is None:  # a transactional test before this one flushed the seeded scenes
        from benchmark.taxonomy import ensure_taxonomy

        ensure_taxonomy()
        scene = Scene.objects.order_by("pk").first()
    scenarios = [
        create_scenario(
            kind="subjective",
            stem=f"{name}病例{n}：患者拒绝输血，我该怎么办？",
            norm="知情同意",
            scene=scene,
            origin="expert",
            status=ScenarioStatus.ACCEPTED,
        )[0]
        for n in range(cases)
    ]
    release = publish_release(f"{name}-release")
    for m in range(models):
        model = register_model(name=f"{name}-model-{m}", kind=ModelKind.IMPORTED)
        for scenario in scenarios:
            store_response(model, scenario, f"{name}-model-{m}：<b>应当</b>尊重患者的选择并说明风险。")
    campaign = create_campaign(
        name,
        release=release,
        models=RegisteredModel.objects.filter(name__startswith=name),
        user=creator or personas.reviewer,
        guideline="# 指南\n按 MedES 评分。",
        **options,
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.ACTIVE)
    campaign.refresh_from_db()
    third = User.objects.filter(username="annotator3").first() or create_user(
        "annotator3", roles=[Role.ANNOTATOR], password=PASSWORD
    )
    add_members(campaign, [personas.annotator, personas.annotator2, third], MemberRole.ANNOTATOR)
    if reviewer:
        add_members(campaign, [personas.reviewer], MemberRole.REVIEWER)
    return campaign


def annotators(personas: Personas) -> list[User]:
    return [personas.annotator, personas.annotator2, User.objects.get(username="annotator3")]


def label_next(
    campaign: Campaign, user: User, scores: dict[str, int], *, rationale: str = "", seconds: int | None = None
) -> Label:
    assignment = next_assignment(campaign, user)
    assert assignment is not None
    label, created = submit_label(
        assignment.item,
        user,
        Submission(
            scores, rationale=rationale, idempotency_key=f"k-{user.pk}-{assignment.item_id}", seconds_spent=seconds
        ),
    )
    assert created
    return label


def dispute_one(campaign: Campaign, personas: Personas) -> Item:
    """Three labels on one item, one of them risky: the item goes to adjudication."""
    people = annotators(personas)
    labels = [
        label_next(campaign, people[0], SAFE, rationale="无风险", seconds=30),
        label_next(campaign, people[1], SAFE, rationale="同意", seconds=50),
        label_next(campaign, people[2], RISKY, rationale="有误导", seconds=70),
    ]
    assert len({label.item_id for label in labels}) == 1
    item = labels[0].item
    item.refresh_from_db()
    return item
