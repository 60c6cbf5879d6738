"""Handing out work: each item of a campaign reserved for at most k annotators at once, the annotator's queue,
skipping and drafts.

Concurrency: handing out an item locks its row (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL) and counts
its live places again under the lock, so two annotators asking at once never push an item past k. What an
annotator submits is taken by ``annotation.services.submit_label``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import (
    Assignment,
    AssignmentStatus,
    Campaign,
    CampaignStatus,
    Draft,
    Item,
    ItemState,
    Member,
    MemberRole,
)
from annotation.services import CampaignError, NotAssignedError

# an annotator's pages and API show active and closed campaigns, never a draft
ANNOTATOR_VISIBLE = (CampaignStatus.ACTIVE, CampaignStatus.CLOSED)


def annotating_campaigns(user: User) -> QuerySet[Campaign]:
    """The campaigns ``user`` annotates that an annotator may see (the pages and the API both use this)."""
    mine = Member.objects.filter(user=user.pk, role=MemberRole.ANNOTATOR).values("campaign_id")
    return Campaign.objects.filter(pk__in=mine, status__in=ANNOTATOR_VISIBLE)


def items_of_annotator(user: User) -> QuerySet[Item]:
    """Items handed to ``user`` and not skipped, in campaigns they still annotate and may see. Written with
    EXISTS rather than joins: one index probe each, and nothing for the planner to order."""
    mine = Assignment.objects.filter(
        item=OuterRef("pk"), user=user.pk, status__in=(AssignmentStatus.RESERVED, AssignmentStatus.SUBMITTED)
    )
    member = Member.objects.filter(campaign=OuterRef("campaign_id"), user=user.pk, role=MemberRole.ANNOTATOR)
    return Item.objects.filter(Exists(mine), Exists(member), campaign__status__in=ANNOTATOR_VISIBLE)


def annotator_member(campaign: Campaign, user: User) -> Member:
    member = Member.objects.filter(campaign=campaign, user=user, role=MemberRole.ANNOTATOR).first()
    if member is None:
        raise NotAssignedError(_("You are not an annotator in this campaign."))
    return member


def next_assignment(
    campaign: Campaign, user: User, *, rng: random.Random | None = None, member: Member | None = None
) -> Assignment | None:
    """The user's current reservation, or a new one on an item that still needs labels. None when done.

    A new reservation is marked ``fresh`` (nobody has a label or a draft on it yet), so the screen built on it
    needs not look for them."""
    if member is None or member.campaign_id != campaign.pk or member.user_id != user.pk:
        member = annotator_member(campaign, user)  # first: nothing about the campaign is told to outsiders
    if campaign.status != CampaignStatus.ACTIVE:
        raise CampaignError(_("This campaign is not open for labeling."))
    if member.paused:
        raise CampaignError(_("Your labeling in this campaign is paused: %(why)s") % {"why": member.paused_reason})
    now = timezone.now()
    held = (
        Assignment.objects.filter(
            user=user, item__campaign=campaign, status=AssignmentStatus.RESERVED, expires_at__gt=now
        )
        .select_related("item")
        .order_by("reserved_at")
        .first()
    )
    if held is not None:
        return held
    want_gold = campaign.gold_ratio > 0 and (rng or random).random() < campaign.gold_ratio
    for gold in [True, False] if want_gold else [False]:
        assignment = _reserve(campaign, user, now, gold=gold)
        if assignment is not None:
            return assignment
    return None


def _untouched(campaign: Campaign, user: User) -> QuerySet[Item]:
    """The campaign's items this user has never been given (NOT EXISTS: one index probe per row scanned)."""
    mine = Assignment.objects.filter(item=OuterRef("pk"), user=user)
    return Item.objects.filter(campaign=campaign).filter(~Exists(mine))


def _candidates(campaign: Campaign, user: User, now: Any, *, gold: bool) -> list[int]:
    """A few items to try, best first: those closest to k labels (consensus arrives sooner), then by position.

    The scan walks the (campaign, state, −submitted, position) index and stops after a small window, whatever
    the campaign's size; live reservations are counted (in the same query) for that window only. When the whole
    window is held by other people's reservations, a wider one is tried."""
    if gold:
        # gold items are accepted already: they are labeled again by anyone, unannounced, to check them
        return list(_untouched(campaign, user).filter(is_gold=True).order_by("?").values_list("pk", flat=True)[:8])
    open_items = (
        _untouched(campaign, user).filter(state=ItemState.OPEN, is_gold=False).order_by("-submitted", "position")
    )
    reserving = (
        Assignment.objects.filter(item=OuterRef("pk"), status=AssignmentStatus.RESERVED, expires_at__gt=now)
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    open_items = open_items.annotate(held=Coalesce(Subquery(reserving), 0))
    for size in (32, 512, 8192):
        window = list(open_items.values_list("pk", "submitted", "held")[:size])
        free = [(pk, done + held) for pk, done, held in window if done + held < campaign.overlap]
        if free or len(window) < size:
            free.sort(key=lambda entry: -entry[1])  # stable: position order within the same count
            best = [pk for pk, count in free[:16] if count == free[0][1]] if free else []
            return (_spread(best, user) + [pk for pk, _ in free[len(best) :]])[:8]
    return []


def _spread(ids: list[int], user: User) -> list[int]:
    """Everyone asking at once would try the same first item and skip past each other's locks: each user starts
    at their own place among the equally good candidates instead (a rotation, so none is left out)."""
    if not ids:
        return ids
    start = user.pk % len(ids)
    return ids[start:] + ids[:start]


def _reserve(campaign: Campaign, user: User, now: Any, *, gold: bool) -> Assignment | None:
    """Reserve one of the candidates: lock its row (skipping a row someone else is reserving right now), count
    its live places again under the lock, and take one if k are not reached."""
    expires = now + timedelta(minutes=campaign.reservation_minutes)
    for _attempt in range(5):
        ids = _candidates(campaign, user, now, gold=gold)
        if not ids:
            return None
        for item_id in ids:
            try:
                assignment = _take(item_id, campaign, user, now, expires, gold=gold)
            except IntegrityError:  # this user took it in another tab this instant
                continue
            if assignment is not None:
                assignment.fresh = True  # type: ignore[attr-defined]
                return assignment
    return None


@transaction.atomic
def _take(item_id: int, campaign: Campaign, user: User, now: Any, expires: Any, *, gold: bool) -> Assignment | None:
    locked = Item.objects.filter(pk=item_id)
    if connection.features.has_select_for_update_skip_locked:
        locked = locked.select_for_update(skip_locked=True)
    item = locked.order_by().first()
    if item is None:
        return None  # being reserved by someone else this instant
    if not gold:
        places = item.assignments.filter(
            Q(status=AssignmentStatus.SUBMITTED) | Q(status=AssignmentStatus.RESERVED, expires_at__gt=now)
        ).count()
        if places >= campaign.overlap or item.state != ItemState.OPEN:
            return None
    return Assignment.objects.create(item=item, user=user, expires_at=expires)


def my_queue(campaign: Campaign, user: User) -> dict[str, int]:
    """Counts for the annotator's queue page. ``available``: open items this user has not been given (some may
    be held by other people's reservations for now)."""
    now = timezone.now()
    mine = Assignment.objects.filter(user=user, item__campaign=campaign)
    counts = mine.aggregate(
        submitted=Count("pk", filter=Q(status=AssignmentStatus.SUBMITTED)),
        skipped=Count("pk", filter=Q(status=AssignmentStatus.SKIPPED)),
        reserved=Count("pk", filter=Q(status=AssignmentStatus.RESERVED, expires_at__gt=now)),
    )
    available = (
        _untouched(campaign, user).filter(state=ItemState.OPEN, is_gold=False).count()
        if campaign.status == CampaignStatus.ACTIVE
        else 0
    )
    return {**counts, "available": available}


def skip(assignment: Assignment, user: User) -> None:
    if assignment.user_id != user.pk or assignment.status != AssignmentStatus.RESERVED:
        raise NotAssignedError(_("This item is not reserved for you."))
    Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.SKIPPED, finished_at=timezone.now())


def save_draft(item: Item, user: User, data: Mapping[str, Any]) -> Draft:
    if not Assignment.objects.filter(item=item, user=user).exists():
        raise NotAssignedError(_("This item is not assigned to you."))
    draft, _created = Draft.objects.update_or_create(item=item, user=user, defaults={"data": dict(data)})
    return draft
