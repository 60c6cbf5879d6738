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
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import CharField, Count, Exists, Func, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation import guidelines
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
from benchmark.models import Response, Scenario
from medes_site.compiled import SAMPLE_TIME, CompiledQuery, concrete_names, instance

# what the labeling screen shows of an item: no more columns are read (nor compiled into SQL) than it uses
SCREEN_FIELDS = (
    "id",
    "campaign_id",
    "scenario_id",
    "response_id",
    "position",
    "state",
    "submitted",
    "is_gold",
    "scenario__id",
    "scenario__kind",
    "scenario__stem",
    "scenario__norm",
    "scenario__options",
    "scenario__key",
    "scenario__reference_answer",
    "response__id",
    "response__text",
)

# the sample values the compiled queries below are built with (medes_site.compiled)
_SAMPLES = {"campaign": -91001, "user": -91002, "now": SAMPLE_TIME}

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


def live_reservations(user: Any, campaign: Any, now: Any) -> QuerySet[Assignment]:
    """The reservations ``user`` holds in ``campaign`` that have not expired at ``now``."""
    return Assignment.objects.filter(
        user=user, item__campaign=campaign, status=AssignmentStatus.RESERVED, expires_at__gt=now
    ).order_by()


_MEMBER_FIELDS = concrete_names(Member)
_CAMPAIGN_FIELDS = concrete_names(Campaign, "campaign__")


def _member_query(campaign: int, user: int, now: Any) -> QuerySet[Any, Any]:
    mine = live_reservations(user, OuterRef("campaign_id"), now)
    return (
        Member.objects.filter(campaign_id=campaign, user=user, role=MemberRole.ANNOTATOR)
        .filter(campaign__status__in=ANNOTATOR_VISIBLE)
        .annotate(
            held_item=Subquery(mine.order_by("reserved_at").values("item_id")[:1]),
            held=Coalesce(Subquery(mine.values("user").annotate(n=Count("pk")).values("n")), 0),
            guideline_pk=guidelines.latest_pk(),
        )
        .values_list(*_MEMBER_FIELDS, *_CAMPAIGN_FIELDS, "held_item", "held", "guideline_pk")[:1]
    )


_MEMBER = CompiledQuery(_member_query, campaign=-91001, user=-91002, now=SAMPLE_TIME)


def labeling_member(campaign_pk: int, user: User) -> Member | None:
    """The user's annotator membership of a campaign they may see, with the campaign, in one query that also
    reads what handing out the next item needs: the item they hold a live reservation on (``held_item``, the
    oldest), how many they hold (``held``) and the campaign's current guideline (remembered on the campaign, see
    annotation.guidelines). None when the user is not an annotator there. Compiled once (medes_site.compiled):
    it runs on every item an annotator is shown."""
    row = _MEMBER.first(campaign=campaign_pk, user=user.pk, now=timezone.now())
    if row is None:
        return None
    split = len(_MEMBER_FIELDS)
    member: Member = instance(Member, row[:split])
    member.campaign = instance(Campaign, row[split : split + len(_CAMPAIGN_FIELDS)])
    member.held_item, member.held, guideline_pk = row[-3:]  # type: ignore[attr-defined]
    guidelines.remember_current(member.campaign, guideline_pk)
    return member


def annotator_member(campaign: Campaign, user: User) -> Member:
    member = Member.objects.filter(campaign=campaign, user=user, role=MemberRole.ANNOTATOR).first()
    if member is None:
        raise NotAssignedError(_("You are not an annotator in this campaign."))
    return member


def next_assignment(
    campaign: Campaign, user: User, *, rng: random.Random | None = None, member: Member | None = None
) -> Assignment | None:
    """The user's current reservation, or a new one on an item that still needs labels. None when done.

    A new reservation is marked ``fresh`` (nobody has a label or a draft on it yet) and carries its item as the
    labeling screen shows it (``screen_item``), read with the lock, so the screen built on it needs not look for
    them. A held reservation read with the membership (``labeling_member``) comes as an unsaved Assignment
    naming its item: only ``item_id`` is meant to be read."""
    if member is None or member.campaign_id != campaign.pk or member.user_id != user.pk:
        member = annotator_member(campaign, user)  # first: nothing about the campaign is told to outsiders
    if campaign.status != CampaignStatus.ACTIVE:
        raise CampaignError(_("This campaign is not open for labeling."))
    if member.paused:
        raise CampaignError(_("Your labeling in this campaign is paused: %(why)s") % {"why": member.paused_reason})
    now = timezone.now()
    if hasattr(member, "held_item"):  # read with the membership (labeling_member)
        if member.held_item is not None:
            return Assignment(item_id=member.held_item, user=user, status=AssignmentStatus.RESERVED)
    else:
        held = live_reservations(user, campaign, now).select_related("item").order_by("reserved_at").first()
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
    for size in _WINDOWS:
        window = _WINDOW[size].rows(campaign=campaign.pk, user=user.pk, now=now)
        free = [(pk, done + held) for pk, done, held in window if done + held < campaign.overlap]
        if free or len(window) < size:
            free.sort(key=lambda entry: -entry[1])  # stable: position order within the same count
            best = [pk for pk, count in free[:16] if count == free[0][1]] if free else []
            return (_spread(best, user) + [pk for pk, _ in free[len(best) :]])[:8]
    return []


def _window(campaign: int, user: int, now: Any, size: int) -> QuerySet[Any, Any]:
    """The first ``size`` open items this user has not been given, best first, with their live reservations."""
    mine = Assignment.objects.filter(item=OuterRef("pk"), user=user)
    reserving = (
        Assignment.objects.filter(item=OuterRef("pk"), status=AssignmentStatus.RESERVED, expires_at__gt=now)
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Item.objects.filter(campaign=campaign, state=ItemState.OPEN, is_gold=False)
        .filter(~Exists(mine))
        .order_by("-submitted", "position")
        .annotate(held=Coalesce(Subquery(reserving), 0))
        .values_list("pk", "submitted", "held")[:size]
    )


_WINDOWS = (32, 512, 8192)
_WINDOW = {
    size: CompiledQuery(lambda campaign, user, now, size=size: _window(campaign, user, now, size), **_SAMPLES)
    for size in _WINDOWS
}


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
    item = _locked_screen_item(item_id)
    if item is None:
        return None  # being reserved by someone else this instant
    if item.state != ItemState.OPEN and not gold:
        return None
    if not gold:
        places = len(_PLACES.rows(item=item.pk, now=now))  # at most k rows
        if places >= campaign.overlap:
            return None
    assignment = Assignment.objects.create(item=item, user=user, expires_at=expires)
    item.campaign = campaign  # the same row: what was read of it (its guideline) is not read again
    assignment.screen_item = item  # type: ignore[attr-defined]
    return assignment


def _lock_query(item: int) -> QuerySet[Any, Any]:
    # the lock reads what the labeling screen shows of the item (its scenario and response, not locked)
    locked = Item.objects.filter(pk=item).order_by()
    if connection.features.has_select_for_update_skip_locked:
        locked = locked.select_for_update(skip_locked=True, of=("self",))
    if connection.vendor == "postgresql":
        # The reservation this transaction writes is committed without waiting for the disk (set for this
        # transaction only, by the same statement): a reservation lost in a crash only hands its item out again,
        # and the label that ends it is committed the usual way, which writes the log up to it as well. It saves
        # the flush of the write-ahead log, 1-3 ms on the bench machine, on every item handed out.
        no_wait = Func(
            Value("synchronous_commit"), Value("off"), Value(True), function="set_config", output_field=CharField()
        )
        return locked.annotate(commit_without_flush=no_wait).values_list(*SCREEN_FIELDS, "commit_without_flush")
    return locked.values_list(*SCREEN_FIELDS)


_LOCK = CompiledQuery(_lock_query, item=-91003)


def _part(row: dict[str, Any], model: Any, prefix: str = "") -> Any:
    """The instance of ``model`` made of the screen fields behind ``prefix`` (the others deferred)."""
    names = [n.removeprefix(prefix) for n in SCREEN_FIELDS if (n.startswith(prefix) if prefix else "__" not in n)]
    return model.from_db(DEFAULT_DB_ALIAS, names, [row[prefix + name] for name in names])


def _locked_screen_item(item_id: int) -> Item | None:
    """Lock the item's row (skipping it if someone else holds it) and read what the screen shows of it, with its
    scenario and response, in one compiled query."""
    found = _LOCK.first(item=item_id)
    if found is None:
        return None
    row = dict(zip(SCREEN_FIELDS, found[: len(SCREEN_FIELDS)], strict=True))
    item: Item = _part(row, Item)
    item.scenario = _part(row, Scenario, "scenario__")
    item.response = _part(row, Response, "response__") if item.response_id is not None else None
    return item


_PLACES = CompiledQuery(
    lambda item, now: (
        Assignment.objects.filter(item=item)
        .filter(Q(status=AssignmentStatus.SUBMITTED) | Q(status=AssignmentStatus.RESERVED, expires_at__gt=now))
        .values_list("pk")
    ),
    item=-91003,
    now=SAMPLE_TIME,
)


# The labeling screen's header counts the items left exactly up to this many, then says "more than": an exact
# count of a large campaign's open items would grow with the campaign on every item shown.
REMAINING_SHOWN = 100


def items_remaining(campaign: Campaign, user: User, *, held: int | None = None) -> int:
    """How many items this annotator still has before them (the labeling screen's header): the live
    reservations they hold (``held``, when the caller read it already) and the open items they have not been
    given yet, these counted up to ``REMAINING_SHOWN`` + 1 (one query, two without ``held``)."""
    if held is None:
        held = live_reservations(user, campaign, timezone.now()).count()
    if campaign.status != CampaignStatus.ACTIVE:
        return held
    return held + len(_UNTOUCHED.rows(campaign=campaign.pk, user=user.pk))


_UNTOUCHED = CompiledQuery(
    lambda campaign, user: (
        Item.objects.filter(campaign=campaign, state=ItemState.OPEN, is_gold=False)
        .filter(~Exists(Assignment.objects.filter(item=OuterRef("pk"), user=user)))
        .order_by()
        .values_list("pk")[: REMAINING_SHOWN + 1]
    ),
    campaign=-91001,
    user=-91002,
)


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
