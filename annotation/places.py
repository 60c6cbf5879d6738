"""Where a submit stands, read in one query before anything is written: ``labeling_place`` is the submit's
access check (the item is the user's to label) and reads what storing the label acts on in the common case
(annotation.services.submit_label)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Subquery

from annotation import guidelines
from annotation.models import Assignment, AssignmentStatus, CampaignStatus, Draft, Item, Label, Member, MemberRole


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


def labeling_place(item_pk: int, user: User, key: str) -> tuple[Item, Place] | None:
    """The item with its campaign, and the user's place on it, if it is theirs to label: handed to them and not
    skipped, in a campaign they annotate and may see. None otherwise (a 404: nothing about the item is told)."""
    member = Member.objects.filter(campaign=OuterRef("item__campaign_id"), user=user.pk, role=MemberRole.ANNOTATOR)
    found = (
        Assignment.objects.filter(
            item_id=item_pk,
            user=user.pk,
            status__in=(AssignmentStatus.RESERVED, AssignmentStatus.SUBMITTED),
            item__campaign__status__in=(CampaignStatus.ACTIVE, CampaignStatus.CLOSED),
        )
        .select_related("item__campaign")
        .annotate(
            paused=Subquery(member.values("paused")[:1]),
            has_draft=Exists(Draft.objects.filter(item=OuterRef("item_id"), user=user.pk)),
            guideline_pk=guidelines.latest_pk(OuterRef("item__campaign_id")),
            repeated_item=Subquery(Label.objects.filter(annotator=user.pk, idempotency_key=key).values("item_id")[:1]),
        )
        .filter(paused__isnull=False)  # a member: the subquery found their row
        .order_by()
        .first()
    )
    if found is None:
        return None
    place = Place(
        assignment_id=found.pk,
        status=found.status,
        expires_at=found.expires_at,
        paused=found.paused,
        has_draft=found.has_draft,
        guideline_pk=found.guideline_pk,
        repeated_item=found.repeated_item,
    )
    guidelines.remember_current(found.item.campaign, place.guideline_pk)
    return found.item, place
