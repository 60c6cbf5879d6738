"""Labeling campaigns: what is labeled, by whom, under which guideline; the labels, and what was accepted.

The label schema is data on the campaign (``annotation.schema``). Every label stores the guideline version it
was given under; every accepted label keeps its provenance (the labels it came from, or who adjudicated it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from annotation.schema import MEDES_RUBRIC


def default_schema() -> dict[str, Any]:
    return MEDES_RUBRIC.as_dict()


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", pgettext_lazy("campaign status", "Active")
    CLOSED = "closed", pgettext_lazy("campaign status", "Closed")


class ConsensusRule(models.TextChoices):
    MEDES = "medes", _("Risk flag unanimous, majority on each score")
    MAJORITY = "majority", _("Majority on each score")
    UNANIMOUS = "unanimous", _("Unanimous")


class Subject(models.TextChoices):
    RESPONSES = "responses", _("Model responses to a release's open cases")
    SCENARIOS = "scenarios", _("Drafted scenarios, for review")


class Campaign(models.Model):
    name = models.CharField(_("name"), max_length=128, unique=True)
    description = models.TextField(_("description"), blank=True)
    subject = models.CharField(_("what is labeled"), max_length=12, choices=Subject.choices, default=Subject.RESPONSES)
    release = models.ForeignKey(
        "benchmark.Release",
        verbose_name=_("release"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text=_("The frozen release whose items' responses are labeled."),
    )
    label_schema = models.JSONField(_("label schema"), default=default_schema)
    consensus_rule = models.CharField(
        _("consensus rule"), max_length=16, choices=ConsensusRule.choices, default=ConsensusRule.MEDES
    )
    overlap = models.PositiveSmallIntegerField(_("labels per item (k)"), default=3)
    blind = models.BooleanField(_("blind"), default=True, help_text=_("Annotators never see others' labels."))
    gold_ratio = models.FloatField(_("share of gold items"), default=0.0)
    gold_threshold = models.FloatField(_("gold accuracy below which an annotator is paused"), default=0.7)
    gold_minimum = models.PositiveSmallIntegerField(_("gold items before the threshold applies"), default=5)
    reservation_minutes = models.PositiveSmallIntegerField(_("reservation (minutes)"), default=30)
    deadline = models.DateField(_("deadline"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=models.Q(overlap__gte=1, overlap__lte=10), name="campaign_overlap_1_10"),
            models.CheckConstraint(
                condition=models.Q(gold_ratio__gte=0, gold_ratio__lte=0.5), name="campaign_gold_ratio"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MemberRole(models.TextChoices):
    ANNOTATOR = "annotator", _("Annotator")
    REVIEWER = "reviewer", _("Reviewer")


class Member(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members", verbose_name=_("campaign"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="campaign_memberships", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=16, choices=MemberRole.choices)
    paused = models.BooleanField(_("paused"), default=False)
    paused_reason = models.CharField(_("why paused"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["campaign", "user", "role"], name="member_once_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.campaign_id}:{self.role}"


class Guideline(models.Model):
    """The labeling guideline, Markdown, versioned: a new text is a new version; labels keep the number."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="guidelines", verbose_name=_("campaign")
    )
    version = models.PositiveIntegerField(_("version"))
    text = models.TextField(_("text (Markdown)"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("guideline")
        verbose_name_plural = _("guidelines")
        ordering: ClassVar[list[str]] = ["campaign_id", "-version"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["campaign", "version"], name="guideline_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} v{self.version}"


class ItemState(models.TextChoices):
    OPEN = "open", _("Being labeled")
    AGREED = "agreed", _("Agreed")
    DISPUTED = "disputed", _("Awaiting adjudication")
    ADJUDICATED = "adjudicated", _("Adjudicated")


class Item(models.Model):
    """One thing to label in a campaign: a model's response to a scenario, or (in a scenario review) the
    scenario itself. ``scenario`` is set on both kinds, so every item names its case without a join."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items", verbose_name=_("campaign"))
    scenario = models.ForeignKey(
        "benchmark.Scenario", on_delete=models.PROTECT, related_name="campaign_items", verbose_name=_("scenario")
    )
    response = models.ForeignKey(
        "benchmark.Response",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaign_items",
        verbose_name=_("response"),
    )
    position = models.PositiveIntegerField(_("position"))
    state = models.CharField(
        _("state"), max_length=12, choices=ItemState.choices, default=ItemState.OPEN, db_index=True
    )
    submitted = models.PositiveSmallIntegerField(
        _("labels submitted"), default=0, help_text=_("Labels submitted so far.")
    )
    is_gold = models.BooleanField(_("gold item"), default=False)
    gold_scores = models.JSONField(
        _("gold scores"), null=True, blank=True, help_text=_("The accepted scores gold checks compare with.")
    )

    class Meta:
        verbose_name = _("item")
        verbose_name_plural = _("items")
        ordering: ClassVar[list[str]] = ["campaign_id", "position"]  # by id: no join to order
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["campaign", "response"], name="item_once_per_campaign"),
            models.UniqueConstraint(
                fields=["campaign", "scenario"],
                condition=models.Q(response__isnull=True),
                name="scenario_once_per_review",
            ),
        ]
        # "next item": open items of a campaign, nearest to k labels first, then in order
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["campaign", "state", "-submitted", "position"], name="item_next_idx")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}#{self.position}"

    def is_open_for_edits(self) -> bool:
        """Whether an annotator may still change their label on this item (the campaign active, the item open)."""
        return self.campaign.status == CampaignStatus.ACTIVE and self.state == ItemState.OPEN


class AssignmentStatus(models.TextChoices):
    RESERVED = "reserved", _("Reserved")
    SUBMITTED = "submitted", _("Submitted")
    SKIPPED = "skipped", _("Skipped")


class Assignment(models.Model):
    """An item given to one annotator. A reservation past ``expires_at`` no longer holds the item's place."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("item"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("user")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=AssignmentStatus.choices, default=AssignmentStatus.RESERVED
    )
    reserved_at = models.DateTimeField(_("reserved"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["item", "user"], name="assignment_once_per_person"),
        ]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["user", "status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.item_id}→{self.user_id}:{self.status}"


class Label(models.Model):
    """One annotator's label on one item. Edited only with the version it was read at (optimistic locking)."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="labels", verbose_name=_("item"))
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="labels", verbose_name=_("annotator")
    )
    scores = models.JSONField(_("scores"))
    rationale = models.TextField(_("rationale"), blank=True)
    provisions = models.ManyToManyField(
        "benchmark.Provision", blank=True, related_name="labels", verbose_name=_("provisions")
    )
    guideline_version = models.PositiveIntegerField(_("guideline version"), null=True, blank=True)
    seconds_spent = models.PositiveIntegerField(_("seconds spent"), null=True, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64)
    version = models.PositiveIntegerField(_("version"), default=1)
    submitted_at = models.DateTimeField(_("submitted"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("label")
        verbose_name_plural = _("labels")
        ordering: ClassVar[list[str]] = ["item_id", "submitted_at"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["item", "annotator"], name="label_once_per_annotator"),
            models.UniqueConstraint(fields=["annotator", "idempotency_key"], name="label_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}:{self.annotator_id} v{self.version}"


class Draft(models.Model):
    """What an annotator has typed but not submitted: saved as they go, restored when they come back."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="drafts", verbose_name=_("item"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="label_drafts", verbose_name=_("user")
    )
    data = models.JSONField(_("data"), default=dict)
    saved_at = models.DateTimeField(_("saved"), auto_now=True)

    class Meta:
        verbose_name = _("draft label")
        verbose_name_plural = _("draft labels")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["item", "user"], name="draft_once_per_person"),
        ]

    def __str__(self) -> str:
        return f"draft {self.item_id}:{self.user_id}"


class Provenance(models.TextChoices):
    CONSENSUS = "consensus", _("Consensus of annotators")
    ADJUDICATION = "adjudication", _("Adjudicated by a reviewer")
    GUARDIAN_REVIEWED = "guardian_reviewed", _("Guardian, reviewed by an expert")


class AcceptedLabel(models.Model):
    """The label the team stands behind for an item, with where it came from."""

    item = models.OneToOneField(Item, on_delete=models.PROTECT, related_name="accepted", verbose_name=_("item"))
    scores = models.JSONField(_("scores"))
    rationale = models.TextField(_("rationale"), blank=True)
    provenance = models.CharField(_("provenance"), max_length=20, choices=Provenance.choices)
    source_labels = models.ManyToManyField(
        Label, blank=True, related_name="accepted_from", verbose_name=_("source labels")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )
    note = models.TextField(_("note"), blank=True)
    guideline_version = models.PositiveIntegerField(_("guideline version"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("accepted label")
        verbose_name_plural = _("accepted labels")

    def __str__(self) -> str:
        return f"{self.item_id}:{self.provenance}"
