"""The reviewer's and curator's side of a campaign: who sees which campaign, progress and ETA, the
adjudication queue, annotator statistics, campaign agreement (inline or by job) and label exports.

Scope (DESIGN.md §9): every page reaches a campaign through ``campaigns_for_user``; curators and ML engineers
see every campaign, reviewers the campaigns they created or review. Annotators reach none of these pages.
Other people's labels are shown only where the user is not an annotator of the campaign (blind labeling).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.agreement import (
    Ratings,
    against_reference,
    dimension_agreement,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
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
from annotation.services import CampaignError, ratings, schema_of
from medes_site import audit
from medes_site.models import Job, JobStatus
from medes_site.roles import Role, has_role
from medes_site.spreadsheet import safe_row

AnyUser = AbstractBaseUser | AnonymousUser
INLINE_MAX_ITEMS = 2000  # above this, agreement and exports run as jobs
ETA_WINDOW_DAYS = 7
AGREEMENT_JOB = "annotation.agreement"
EXPORT_JOB = "annotation.export"


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


# --- agreement -------------------------------------------------------------------------------------------


def compute_agreement(campaign: Campaign) -> dict[str, Any]:
    """Every figure of the agreement page, as JSON: per dimension and overall, each with its counts, and each
    annotator against the accepted labels. Annotators are named by id here; pages add the names."""
    schema = schema_of(campaign)
    table = ratings(campaign)
    accepted = AcceptedLabel.objects.filter(item__campaign=campaign).values_list("item_id", "scores")
    reference: dict[str, dict[int, int]] = {key: {} for key in schema.keys}
    for item_id, scores in accepted.iterator(chunk_size=5000):
        for key in schema.keys:
            if key in scores:
                reference[key][item_id] = scores[key]
    dimensions = []
    pooled: dict[tuple[int, str], dict[int, int]] = {}
    for key in schema.keys:
        summary = dimension_agreement(key, cast(Ratings, table[key])).as_dict()
        summary["against_consensus"] = {
            a: f.as_dict()
            for a, f in against_reference(
                cast(Ratings, table[key]), cast(Mapping[Hashable, int], reference[key])
            ).items()
        }
        dimensions.append(summary)
        for item_id, row in table[key].items():
            pooled[(item_id, key)] = row
    # all dimensions as one pool of (item, dimension) units; no ordinal figure (the scales differ) and no pairs
    table_all = cast(Ratings, pooled)
    overall = {
        "dimension": "overall",
        "items": len(pooled),
        "ratings": sum(len(row) for row in pooled.values()),
        "annotators": len({a for row in pooled.values() for a in row}),
        "fleiss_kappa": fleiss_kappa(table_all).as_dict(),
        "alpha_nominal": krippendorff_alpha(table_all).as_dict(),
        "percent_agreement": percent_agreement(table_all).as_dict(),
        "cohen_pairwise": [],
    }
    annotator_ids = {int(a) for d in dimensions for pair in d["cohen_pairwise"] for a in pair["annotators"]}
    annotator_ids |= {int(a) for d in dimensions for a in d["against_consensus"]}
    return {
        "campaign": campaign.pk,
        "computed_at": timezone.now().isoformat(),
        "dimensions": dimensions,
        "overall": overall,
        "accepted": sum(len(r) for r in reference.values()) // max(len(schema.keys), 1),
        "annotators": {
            str(pk): name for pk, name in User.objects.filter(pk__in=annotator_ids).values_list("pk", "username")
        },
    }


def latest_agreement_job(campaign: Campaign) -> Job | None:
    return (
        Job.objects.filter(kind=AGREEMENT_JOB, config__campaign=campaign.pk)
        .exclude(status__in=[JobStatus.CANCELLED])
        .order_by("-created_at", "-pk")
        .first()
    )


def is_large(campaign: Campaign) -> bool:
    return Item.objects.filter(campaign=campaign).count() > INLINE_MAX_ITEMS


# --- exports ---------------------------------------------------------------------------------------------

EXPORT_KINDS = ("labels", "accepted")
EXPORT_FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def export_rows(campaign: Campaign, what: str) -> Iterator[dict[str, Any]]:
    """Labels or accepted labels with their provenance and guideline versions, one dict per row."""
    if what == "labels":
        labels = (
            Label.objects.filter(item__campaign=campaign)
            .select_related("item__response__model")
            .prefetch_related("provisions")
            .order_by("item__position", "pk")
        )
        for label in labels.iterator(chunk_size=2000):
            item = label.item
            yield {
                "campaign": campaign.name,
                "item": item.pk,
                "position": item.position,
                "is_gold": item.is_gold,
                "response": item.response_id,
                "scenario": item.scenario_id,
                "model": item.response.model.name if item.response is not None else None,
                "label": label.pk,
                "annotator": label.annotator_id,
                "scores": dict(label.scores),
                "rationale": label.rationale,
                "provisions": sorted(p.pk for p in label.provisions.all()),
                "guideline_version": label.guideline_version,
                "seconds_spent": label.seconds_spent,
                "version": label.version,
                "submitted_at": label.submitted_at.isoformat(),
            }
        return
    if what != "accepted":
        raise CampaignError(_("Export labels or accepted labels."))
    accepted = (
        AcceptedLabel.objects.filter(item__campaign=campaign)
        .select_related("item__response__model")
        .prefetch_related("source_labels")
        .order_by("item__position")
    )
    for row in accepted.iterator(chunk_size=2000):
        item = row.item
        sources = sorted(row.source_labels.all(), key=lambda label: label.pk)
        yield {
            "campaign": campaign.name,
            "item": item.pk,
            "position": item.position,
            "is_gold": item.is_gold,
            "response": item.response_id,
            "scenario": item.scenario_id,
            "model": item.response.model.name if item.response is not None else None,
            "scores": dict(row.scores),
            "rationale": row.rationale,
            "provenance": row.provenance,
            "decided_by": row.decided_by_id,
            "note": row.note,
            "source_labels": [label.pk for label in sources],
            "annotators": [label.annotator_id for label in sources],
            "source_guideline_versions": [label.guideline_version for label in sources],
            "guideline_version": row.guideline_version,
            "created_at": row.created_at.isoformat(),
        }


SCORE_PREFIX = "score_"


def _flat(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Scores as one column per dimension, named ``score_<key>`` so that no dimension can take the place of
    another column (a campaign made before keys like ``model`` or ``rationale`` were refused has them)."""
    flat = {k: v for k, v in row.items() if k != "scores"}
    for key in keys:
        flat[SCORE_PREFIX + key] = row["scores"].get(key)
    return flat


def write_export(campaign: Campaign, what: str, fmt: str, out: io.BufferedIOBase | io.BytesIO) -> int:
    """Write the export to a binary stream; returns the number of rows."""
    if fmt not in EXPORT_FORMATS:
        raise CampaignError(_("Unknown format %(fmt)s: choose jsonl, csv or parquet.") % {"fmt": fmt})
    keys = schema_of(campaign).keys
    rows = export_rows(campaign, what)
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write((json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode())
            count += 1
        return count
    flat = [_flat(row, keys) for row in rows]
    if fmt == "csv":
        # for spreadsheets: a BOM so they read the Chinese text, and every text cell (header too) escaped so that
        # a rationale written as a formula stays text (medes_site.spreadsheet); numbers stay numbers
        text = io.StringIO()
        if flat:
            header = list(flat[0])
            writer = csv.writer(text)
            writer.writerow(safe_row(header))
            for row in flat:
                writer.writerow(safe_row(json.dumps(row[k]) if isinstance(row[k], list) else row[k] for k in header))
        out.write(text.getvalue().encode("utf-8-sig"))
        return len(flat)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(flat) if flat else pa.table({"item": pa.array([], pa.int64())})
    pq.write_table(table, out)
    return len(flat)


def export_path(campaign: Campaign, what: str, fmt: str, directory: Path) -> Path:
    return directory / f"campaign-{campaign.pk}-{what}.{fmt}"


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


FIGURES = (
    ("fleiss_kappa", "Fleiss κ"),
    ("alpha_nominal", "α nominal"),
    ("alpha_ordinal", "α ordinal"),
    ("percent_agreement", "% agreement"),
)
CHART_LABEL_WIDTH, CHART_HALF, CHART_ROW = 110, 100, 22


def _bars(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Bars of an SVG chart on a −1…1 scale (zero in the middle); undefined figures get no bar."""
    bars = []
    zero = CHART_LABEL_WIDTH + CHART_HALF
    for n, (key, label) in enumerate(f for f in FIGURES if f[0] in summary):
        value = summary[key]["value"]
        width = 0 if value is None else abs(value) * CHART_HALF
        x = zero if value is None or value >= 0 else zero - width
        bars.append(
            {
                "label": label,
                "value": value,
                "x": round(x, 1),
                "width": round(width, 1),
                "y": n * CHART_ROW + 4,
                "text_y": n * CHART_ROW + 17,
                "negative": value is not None and value < 0,
            }
        )
    return bars


def agreement_view(result: dict[str, Any], *, with_names: bool = True) -> dict[str, Any]:
    """The stored agreement result, with chart geometry for the template, and annotator names for reviewers
    (others see annotators by number only)."""
    names = result.get("annotators", {}) if with_names else {}

    def name(pk: str) -> str:
        return names.get(str(pk), _("annotator #%(pk)s") % {"pk": pk})

    dimensions = []
    for summary in [*result["dimensions"], result["overall"]]:
        pairs = [
            {**p, "names": (name(p["annotators"][0]), name(p["annotators"][1]))} for p in summary["cohen_pairwise"]
        ]
        versus = [{"name": name(pk), **figure} for pk, figure in summary.get("against_consensus", {}).items()]
        figures = [(label, summary[key]) for key, label in FIGURES if key in summary]
        dimensions.append(
            {
                **summary,
                "pairs": pairs,
                "versus": versus,
                "figures": figures,
                "bars": _bars(summary),
                "chart_height": len(figures) * CHART_ROW + 8,
            }
        )
    return {
        "computed_at": result.get("computed_at"),
        "dimensions": dimensions,
        "accepted": result.get("accepted"),
        "zero": CHART_LABEL_WIDTH + CHART_HALF,
        "width": CHART_LABEL_WIDTH + 2 * CHART_HALF + 50,
    }
