"""The reviewer's and curator's side of a campaign: who sees which campaign (and the blind-labeling rule),
managing it, progress and ETA, the adjudication queue and annotator statistics. Its agreement figures live in
annotation.campaign_agreement, its label exports in annotation.exports.

Scope (DESIGN.md §9): every page reaches a campaign through ``campaigns_for_user``; curators and ML engineers
see every campaign, reviewers the campaigns they created or review. Annotators reach none of these pages.
Other people's labels are shown only where the user is not an annotator of the campaign (blind labeling).
"""

from __future__ import annotations

import difflib
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import (
    AcceptedLabel,
    Assignment,
    Campaign,
    CampaignStatus,
    Guideline,
    Item,
    ItemState,
    Label,
    Member,
    MemberRole,
)
from annotation.schema import consensus
from annotation.services import CampaignError, schema_of
from medes_site import audit
from medes_site.roles import Role, has_role

AnyUser = AbstractBaseUser | AnonymousUser
INLINE_MAX_ITEMS = 2000  # above this, agreement and exports run as jobs (is_large)
ETA_WINDOW_DAYS = 7

# --- scope -----------------------------------------------------------------------------------------------


def campaigns_for_user(user: AnyUser) -> QuerySet[Campaign]:
    if has_role(user, Role.CURATOR, Role.ML_ENGINEER):
        return Campaign.objects.all()
    if has_role(user, Role.REVIEWER):
        reviews = Member.objects.filter(user=user.pk, role=MemberRole.REVIEWER).values("campaign_id")
        return Campaign.objects.filter(Q(pk__in=reviews) | Q(created_by=user.pk)).distinct()
    return Campaign.objects.none()


# --- blind labeling: the one rule ------------------------------------------------------------------------
# "May see others' labels in campaign X" = X is on the user's review side (campaigns_for_user: curators, ML
# engineers and administrators see every campaign, reviewers the ones they created or review) and the user is
# not an annotator of X. It covers labels, rationales, accepted labels, agreement and annotator figures, exports
# and their job artifacts, and the models that wrote X's responses; pages, fragments, jobs and the API all ask it
# here (DESIGN.md §9: blind means blind for a user holding several roles too).


def annotating(user: AnyUser) -> QuerySet[Campaign, Any]:
    """The ids (``pk``) of the campaigns ``user`` annotates in: a member as annotator, or one who was ever handed
    an item there. Leaving the campaign (an editor may remove their own membership) does not lift the rule: what
    they labeled, and what they may label again once added back, stays blind to them."""
    member = Member.objects.filter(campaign=OuterRef("pk"), user=user.pk, role=MemberRole.ANNOTATOR)
    handed = Assignment.objects.filter(item__campaign=OuterRef("pk"), user=user.pk)
    return Campaign.objects.filter(Exists(member) | Exists(handed)).values("pk")


def label_campaigns_for_user(user: AnyUser) -> QuerySet[Campaign]:
    """The campaigns in which ``user`` may see other people's labels (the rule above)."""
    return campaigns_for_user(user).exclude(pk__in=annotating(user))


def may_see_labels(user: AnyUser, campaign: Campaign | int) -> bool:
    """The rule for one campaign. The ids are read once per user object (a page, or a list of jobs, asks it for
    many campaigns): like the roles, they are cached on it for the request."""
    pk = campaign if isinstance(campaign, int) else campaign.pk
    cached: frozenset[int] | None = getattr(user, "_medes_label_campaigns", None)
    if cached is None:
        cached = frozenset(label_campaigns_for_user(user).values_list("pk", flat=True))
        if user.is_authenticated:
            user.__dict__["_medes_label_campaigns"] = cached
    return pk in cached


def blind_response_ids(user: AnyUser) -> QuerySet[Item, Any]:
    """The responses being labeled in a campaign ``user`` annotates in (``response_id``): the review side hides
    their judgements, expert labels and models from this user."""
    return Item.objects.filter(campaign__in=annotating(user), response__isnull=False).values("response_id")


def hide_blind_responses(user: AnyUser, responses: QuerySet[Any]) -> QuerySet[Any]:
    """benchmark's responses less those ``user`` labels in a campaign (registered in benchmark.RESPONSE_FILTERS)."""
    return responses.exclude(pk__in=blind_response_ids(user)) if user.is_authenticated else responses


def annotates_in_release(user: AnyUser, release_id: int) -> bool:
    """Whether ``user`` labels answers to this release's items in some campaign (blind to their verdicts)."""
    if not user.is_authenticated:
        return False
    items = Item.objects.filter(campaign__in=annotating(user), response__isnull=False)
    return items.filter(scenario__release_items__release=release_id).exists()


def release_being_labeled(release_id: int) -> bool:
    """Whether answers to this release's items are being labeled in an active campaign: until it is closed, the
    public, annotators and curators see no results of the release (a draft campaign labels nothing yet)."""
    open_items = Item.objects.filter(response__isnull=False, campaign__status=CampaignStatus.ACTIVE)
    return open_items.filter(scenario__release_items__release=release_id).exists()


def may_edit(user: AnyUser, campaign: Campaign) -> bool:
    """Curators edit every campaign; reviewers the ones they created or review."""
    if has_role(user, Role.CURATOR):
        return True
    if not has_role(user, Role.REVIEWER):
        return False
    return campaign.created_by_id == user.pk or is_reviewer(user, campaign)


def is_reviewer(user: AnyUser, campaign: Campaign) -> bool:
    return Member.objects.filter(campaign=campaign, user=user.pk, role=MemberRole.REVIEWER).exists()


def is_annotator(user: AnyUser, campaign: Campaign) -> bool:
    return Member.objects.filter(campaign=campaign, user=user.pk, role=MemberRole.ANNOTATOR).exists()


# --- managing --------------------------------------------------------------------------------------------

TRANSITIONS = {
    "activate": ({CampaignStatus.DRAFT, CampaignStatus.CLOSED}, CampaignStatus.ACTIVE),
    "close": ({CampaignStatus.ACTIVE, CampaignStatus.DRAFT}, CampaignStatus.CLOSED),
}


def change_status(campaign: Campaign, action: str, user: User) -> Campaign:
    """Activate or close; repeating an action that is already done changes nothing."""
    if action not in TRANSITIONS:
        raise CampaignError(_("Unknown action %(action)s.") % {"action": action})
    sources, target = TRANSITIONS[action]
    if campaign.status == target:
        return campaign
    if campaign.status not in sources:
        raise CampaignError(
            _("A %(status)s campaign cannot be changed so.") % {"status": campaign.get_status_display()}
        )
    if target == CampaignStatus.ACTIVE and not campaign.members.filter(role=MemberRole.ANNOTATOR).exists():
        raise CampaignError(_("Add at least one annotator before activating the campaign."))
    Campaign.objects.filter(pk=campaign.pk).update(status=target)
    audit.record(f"campaign.{action}", actor=user, obj=campaign, details={"from": campaign.status, "to": target})
    campaign.refresh_from_db()
    return campaign


def remove_member(member: Member, user: User) -> None:
    """Labels already given stay; an annotator with labels keeps them in the statistics."""
    audit.record(
        "campaign.member_remove", actor=user, obj=member.campaign, details={"user": member.user_id, "role": member.role}
    )
    member.delete()


def unpause(member: Member, user: User) -> bool:
    changed = Member.objects.filter(pk=member.pk, paused=True).update(paused=False, paused_reason="")
    if changed:
        audit.record("campaign.annotator_unpaused", actor=user, obj=member.campaign, details={"user": member.user_id})
    return bool(changed)


def paused_members(campaigns: QuerySet[Campaign], user: AnyUser) -> QuerySet[Member]:
    """Annotators paused for their gold accuracy, in those of ``campaigns`` (from the user's review side) where
    ``user`` annotates not (a pause reason is a figure of someone's labels)."""
    visible = campaigns.exclude(pk__in=annotating(user))
    return Member.objects.filter(campaign__in=visible, role=MemberRole.ANNOTATOR, paused=True).select_related(
        "user", "campaign"
    )


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "added", "removed"
    text: str


def guideline_diff(old: Guideline, new: Guideline) -> list[DiffLine]:
    lines: list[DiffLine] = []
    for raw in difflib.ndiff(old.text.splitlines(), new.text.splitlines()):
        tag, text = raw[:2], raw[2:]
        if tag == "? ":
            continue
        lines.append(DiffLine({"+ ": "added", "- ": "removed"}.get(tag, "same"), text))
    return lines


# --- progress --------------------------------------------------------------------------------------------


def progress(campaign: Campaign) -> dict[str, Any]:
    """Items by state, labels submitted and needed, disagreement rate and an ETA from the recent rate."""
    states = dict(Item.objects.filter(campaign=campaign).values_list("state").annotate(n=Count("pk")))
    by_state = [(label, states.get(value, 0), value) for value, label in ItemState.choices]
    # gold checks do not count: Item.submitted counts the labels toward k only
    totals = Item.objects.filter(campaign=campaign).aggregate(items=Count("pk"), submitted=Sum("submitted"))
    items, submitted = totals["items"], totals["submitted"] or 0
    needed = items * campaign.overlap
    settled = states.get(ItemState.AGREED, 0) + states.get(ItemState.DISPUTED, 0) + states.get(ItemState.ADJUDICATED, 0)
    disputed = states.get(ItemState.DISPUTED, 0) + states.get(ItemState.ADJUDICATED, 0)
    since = timezone.now() - timedelta(days=ETA_WINDOW_DAYS)
    recent = (
        Label.objects.filter(item__campaign=campaign, submitted_at__gte=since)
        .exclude(item__is_gold=True, accepted_from__isnull=True)
        .count()
    )
    remaining = max(needed - submitted, 0)
    per_day = recent / ETA_WINDOW_DAYS
    eta = None
    if remaining and per_day > 0:
        eta = timezone.now() + timedelta(days=remaining / per_day)
    return {
        "by_state": by_state,
        "items": items,
        "needed": needed,
        "submitted": submitted,
        "remaining": remaining,
        "fraction": submitted / needed if needed else 0.0,
        "settled": settled,
        "disputed": disputed,
        "disagreement_rate": disputed / settled if settled else None,
        "per_day": per_day,
        "eta": eta,
        "done": remaining == 0,
        "late": bool(eta and campaign.deadline and eta.date() > campaign.deadline),
    }


# --- adjudication ----------------------------------------------------------------------------------------


def disputed_items(campaign: Campaign) -> QuerySet[Item]:
    return Item.objects.filter(campaign=campaign, state=ItemState.DISPUTED).order_by("position")


def item_review(item: Item) -> dict[str, Any]:
    """What a reviewer needs to decide: the k labels (with names), and which dimensions are disputed."""
    schema = schema_of(item.campaign)
    labels = list(item.labels.select_related("annotator").prefetch_related("provisions__source").order_by("pk"))
    result = consensus(schema, [label.scores for label in labels], item.campaign.consensus_rule)
    rows = [
        {
            "dimension": d,
            "values": [label.scores.get(d.key) for label in labels],
            "majority": result.scores.get(d.key),
            "disputed": d.key in result.disputed,
        }
        for d in schema.dimensions
    ]
    return {
        "labels": labels,
        "rows": rows,
        "disputed": result.disputed,
        "risk_disputed": "risk" in result.disputed,
        "schema": schema,
        "suggested": result.scores,
    }


# --- annotators ------------------------------------------------------------------------------------------


def annotator_stats(campaign: Campaign) -> list[dict[str, Any]]:
    """Per annotator: labels, median seconds per label, agreement with the accepted label, gold accuracy."""
    members = {m.user_id: m for m in Member.objects.filter(campaign=campaign, role=MemberRole.ANNOTATOR)}
    source = AcceptedLabel.source_labels.through.objects.filter(label_id=OuterRef("pk"))
    rows = (
        Label.objects.filter(item__campaign=campaign)
        .annotate(is_source=Exists(source))
        .values_list(
            "annotator_id", "scores", "seconds_spent", "item__is_gold", "item__gold_scores", "item_id", "is_source"
        )
    )
    accepted = dict(AcceptedLabel.objects.filter(item__campaign=campaign).values_list("item_id", "scores"))
    stats: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"labels": 0, "seconds": [], "agree": 0, "compared": 0, "gold_right": 0, "gold": 0}
    )
    for annotator, scores, seconds, is_gold, gold_scores, item_id, is_source in rows.iterator(chunk_size=5000):
        entry = stats[annotator]
        if is_gold and not is_source:  # a gold check, not one of the labels the item was accepted from
            entry["gold"] += 1
            entry["gold_right"] += scores == gold_scores
            continue
        entry["labels"] += 1
        if seconds is not None:
            entry["seconds"].append(seconds)
        if item_id in accepted:
            entry["compared"] += 1
            entry["agree"] += scores == accepted[item_id]
    users = {u.pk: u for u in User.objects.filter(pk__in=set(members) | set(stats))}
    result = []
    for pk in sorted(users, key=lambda pk: users[pk].username):
        entry = stats[pk]
        member = members.get(pk)
        result.append(
            {
                "user": users[pk],
                "member": member,
                "labels": entry["labels"],
                "median_seconds": statistics.median(entry["seconds"]) if entry["seconds"] else None,
                "agreement": entry["agree"] / entry["compared"] if entry["compared"] else None,
                "compared": entry["compared"],
                "gold": entry["gold"],
                "gold_accuracy": entry["gold_right"] / entry["gold"] if entry["gold"] else None,
                "paused": bool(member and member.paused),
                "paused_reason": member.paused_reason if member else "",
            }
        )
    return result


# --- helpers for the pages -------------------------------------------------------------------------------


def has_reviewer_role(user: AnyUser) -> bool:
    return has_role(user, Role.REVIEWER)


def may_create(user: AnyUser) -> bool:
    return has_role(user, Role.REVIEWER, Role.CURATOR)


def record_settings(campaign: Campaign, user: User, changed: list[str]) -> None:
    if changed:
        audit.record("campaign.settings", actor=user, obj=campaign, details={"changed": changed})


def record_member(campaign: Campaign, user: User, member: User, role: str) -> None:
    audit.record("campaign.member_add", actor=user, obj=campaign, details={"user": member.pk, "role": role})


def accepted_items(campaign: Campaign) -> QuerySet[Item]:
    return (
        Item.objects.filter(campaign=campaign, state__in=[ItemState.AGREED, ItemState.ADJUDICATED])
        .select_related("accepted")
        .order_by("-accepted__created_at")
    )


def is_large(campaign: Campaign) -> bool:
    """Whether the campaign's agreement and exports run as jobs rather than inline on the page."""
    return Item.objects.filter(campaign=campaign).count() > INLINE_MAX_ITEMS
