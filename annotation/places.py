"""Where a submit stands, read in one query before anything is written: ``labeling_place`` is the submit's
access check (the item is the user's to label) and reads what storing the label acts on in the common case
(annotation.services.submit_label)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from annotation import guidelines
from annotation.models import (
    Assignment,
    AssignmentStatus,
    Campaign,
    CampaignStatus,
    Draft,
    Item,
    Label,
    Member,
    MemberRole,
)
from medes_site.compiled import CompiledQuery, concrete_names, instance


@dataclass(frozen=True)
class Place:
    """What storing a label needs to know of the user's assignment of an item, read in one query with the item
    and its campaign (``labeling_place``): the access check and the facts the common case acts on."""

    assignment_id: int
    status: str
    expires_at: datetime
    paused: bool
    has_draft: bool
    guideline_pk: int | None
    repeated_item: int | None  # the item of a label this user already stored with the submit's key


_ITEM_FIELDS = concrete_names(Item, "item__")
_CAMPAIGN_FIELDS = concrete_names(Campaign, "item__campaign__")


def _place_query(item: int, user: int, key: str) -> QuerySet[Any, Any]:
    member = Member.objects.filter(campaign=OuterRef("item__campaign_id"), user=user, role=MemberRole.ANNOTATOR)
    return (
        Assignment.objects.filter(
            item_id=item,
            user=user,
            status__in=(AssignmentStatus.RESERVED, AssignmentStatus.SUBMITTED),
            item__campaign__status__in=(CampaignStatus.ACTIVE, CampaignStatus.CLOSED),
        )
        .annotate(
            paused=Subquery(member.values("paused")[:1]),
            has_draft=Exists(Draft.objects.filter(item=OuterRef("item_id"), user=user)),
            guideline_pk=guidelines.latest_pk(OuterRef("item__campaign_id")),
            repeated_item=Subquery(Label.objects.filter(annotator=user, idempotency_key=key).values("item_id")[:1]),
        )
        .filter(paused__isnull=False)  # a member: the subquery found their row
        .order_by()
        .values_list(
            "pk",
            "status",
            "expires_at",
            "paused",
            "has_draft",
            "guideline_pk",
            "repeated_item",
            *_ITEM_FIELDS,
            *_CAMPAIGN_FIELDS,
        )[:1]
    )


_PLACE = CompiledQuery(_place_query, item=-91003, user=-91002, key="\x01sample key\x01")


def labeling_place(item_pk: int, user: User, key: str) -> tuple[Item, Place] | None:
    """The item with its campaign, and the user's place on it, if it is theirs to label: handed to them and not
    skipped, in a campaign they annotate and may see. None otherwise (a 404: nothing about the item is told).
    Compiled once (medes_site.compiled): it runs on every label submitted."""
    row = _PLACE.first(item=item_pk, user=user.pk, key=key)
    if row is None:
        return None
    place = Place(*row[:7])
    item: Item = instance(Item, row[7 : 7 + len(_ITEM_FIELDS)])
    item.campaign = instance(Campaign, row[7 + len(_ITEM_FIELDS) :])
    guidelines.remember_current(item.campaign, place.guideline_pk)
    return item, place
