"""Campaign work: building campaigns and their items, taking labels without losing any, settling them into
accepted labels (by consensus, by adjudication, or from a reviewed guardian judgement). Handing items out to
annotators is ``annotation.assignments``.

This module writes the accepted labels: another app that needs one calls it (``accept_guardian_review``) and
never creates annotation's rows itself. A submit is idempotent on (annotator, idempotency key); a second label
on the same item from another tab is the same label if it says the same thing, and a 409 with both versions if
it does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation import guidelines
from annotation.models import (
    AcceptedLabel,
    Assignment,
    AssignmentStatus,
    Campaign,
    CampaignStatus,
    Draft,
    Guideline,
    Item,
    ItemState,
    Label,
    Member,
    MemberRole,
    Provenance,
    Subject,
)
from annotation.places import Place, labeling_place
from annotation.schema import MEDES_RUBRIC, SCENARIO_REVIEW, LabelSchema, consensus, schema_from_dict
from benchmark.models import Provision, RegisteredModel, Release, Response, Scenario, ScenarioKind, ScenarioStatus
from medes_site import audit
from medes_site.history import save_with_history


class CampaignError(ValueError):
    pass


class NotAssignedError(CampaignError):
    pass


class StaleLabelError(CampaignError):
    """The label changed since it was read (or another tab submitted something else): both versions travel."""

    def __init__(self, current: Label, mine: Mapping[str, Any]) -> None:
        super().__init__(_("This label was changed since you opened it."))
        self.current = current
        self.mine = dict(mine)


def schema_of(campaign: Campaign) -> LabelSchema:
    """The campaign's schema as stored (it may predate the rules new schemas follow)."""
    return schema_from_dict(campaign.label_schema, stored=True)


# --- setting up -----------------------------------------------------------------------------------------


def _new_campaign(name: str, *, user: User | None, guideline: str, **options: Any) -> Campaign:
    name = name.strip()
    if not name:
        raise CampaignError(_("A campaign needs a name."))
    if Campaign.objects.filter(name=name).exists():
        raise CampaignError(_("There is already a campaign named %(name)s.") % {"name": name})
    overlap = int(options.get("overlap", 3))
    if not 1 <= overlap <= 10:
        raise CampaignError(_("Labels per item must be between 1 and 10."))
    if not 0 <= float(options.get("gold_ratio", 0.0)) <= 0.5:
        raise CampaignError(_("The share of gold items must be between 0 and 0.5."))
    if "label_schema" in options:
        schema_from_dict(options["label_schema"])  # a bad new schema stops here, before anything is written
    campaign = Campaign.objects.create(name=name, created_by=user, **options)
    Guideline.objects.create(campaign=campaign, version=1, text=guideline or _("(No guideline yet.)"), created_by=user)
    return campaign


@transaction.atomic
def create_campaign(
    name: str,
    *,
    release: Release,
    models: Iterable[RegisteredModel],
    user: User | None = None,
    guideline: str = "",
    **options: Any,
) -> Campaign:
    """A campaign over the responses of ``models`` to the open (subjective) items of ``release``."""
    campaign = _new_campaign(name, user=user, guideline=guideline, release=release, **options)
    responses = (
        Response.objects.filter(
            model__in=list(models), scenario__release_items__release=release, scenario__kind=ScenarioKind.SUBJECTIVE
        )
        .order_by("scenario_id", "model_id")
        .values_list("pk", "scenario_id")
    )
    items = [
        Item(campaign=campaign, response_id=pk, scenario_id=scenario, position=n)
        for n, (pk, scenario) in enumerate(responses, start=1)
    ]
    if not items:
        raise CampaignError(_("These models have no responses to the open cases of this release."))
    Item.objects.bulk_create(items, batch_size=2000)
    details = {"items": len(items), "overlap": campaign.overlap}
    audit.record("campaign.create", actor=user, obj=campaign, details=details)
    return campaign


REVIEWABLE = (ScenarioStatus.DRAFT, ScenarioStatus.IN_REVIEW, ScenarioStatus.NEEDS_REREVIEW)


@transaction.atomic
def create_scenario_review(
    name: str, *, scenarios: Iterable[int], user: User | None = None, guideline: str = "", **options: Any
) -> Campaign:
    """A campaign in which experts review drafted scenarios (generated or written, or accepted ones whose
    provision changed) before a curator accepts them; the schema defaults to SCENARIO_REVIEW."""
    options.setdefault("label_schema", SCENARIO_REVIEW.as_dict())
    campaign = _new_campaign(name, user=user, guideline=guideline, subject=Subject.SCENARIOS, **options)
    wanted = Scenario.objects.filter(pk__in=list(scenarios), status__in=REVIEWABLE).order_by("pk")
    items = [
        Item(campaign=campaign, scenario_id=pk, position=n)
        for n, pk in enumerate(wanted.values_list("pk", flat=True), start=1)
    ]
    if not items:
        raise CampaignError(_("None of these scenarios is a draft, in review or waiting for a re-review."))
    Item.objects.bulk_create(items, batch_size=2000)
    audit.record("campaign.create", actor=user, obj=campaign, details={"items": len(items), "subject": "scenarios"})
    return campaign


def add_members(campaign: Campaign, users: Iterable[User], role: str = MemberRole.ANNOTATOR) -> None:
    for user in users:
        Member.objects.get_or_create(campaign=campaign, user=user, role=role)


def set_guideline(campaign: Campaign, text: str, user: User | None = None) -> Guideline:
    with transaction.atomic():
        latest = Guideline.objects.select_for_update().filter(campaign=campaign).order_by("-version").first()
        if latest is not None and latest.text == text:
            return latest
        version = (latest.version if latest else 0) + 1
        guideline = Guideline.objects.create(campaign=campaign, version=version, text=text, created_by=user)
    campaign.__dict__.pop("_current_guideline", None)
    audit.record("campaign.guideline", actor=user, obj=campaign, details={"version": version})
    return guideline


def current_guideline(campaign: Campaign) -> Guideline | None:
    """The campaign's latest guideline, read once per campaign object (a request's work shares the object;
    guideline rows never change, a new version is a new row)."""
    cached: list[Guideline | None] | None = getattr(campaign, "_current_guideline", None)
    if cached is None:
        cached = [campaign.guidelines.order_by("-version").first()]
        campaign._current_guideline = cached  # type: ignore[attr-defined]
    return cached[0]


# --- labels ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    scores: Mapping[str, Any]
    rationale: str = ""
    provisions: tuple[int, ...] = ()
    idempotency_key: str = ""
    expected_version: int | None = None  # the label version an edit was made on; None for a first submit
    seconds_spent: int | None = None


def submit_label(item: Item, user: User, submission: Submission, *, place: Place | None = None) -> tuple[Label, bool]:
    """Store the user's label on ``item``; returns (label, created). Idempotent on the idempotency key.
    ``place``: what ``labeling_place`` read for this submit (read here when not given).

    What is checked, in order: that the item is the user's (``NotAssignedError``, a 404, before anything about
    the item's campaign is looked at), the key, the campaign's status, the label against the schema. A first
    label on a reservation that expired is taken only while the item still has a place for it; otherwise it is
    refused (``NoPlaceError``) and its text kept as the user's draft of the item, so nothing is lost."""
    if not submission.idempotency_key or len(submission.idempotency_key) > 64:
        raise CampaignError(_("A submit needs an idempotency key of at most 64 characters."))
    try:
        return _store_label(item, user, submission, place)
    except NoPlaceError as error:
        _keep_as_draft(item, user, error.scores, submission)
        raise
    except IntegrityError:
        # The same key sent at once for another item (two requests racing past the check below): the other
        # request's label is committed now, and this one is the repeat it would have been a moment later.
        repeated = _repeated(item, user, submission.idempotency_key)
        if repeated is None:
            raise
        return repeated, False


class NoPlaceError(CampaignError):
    """A first label on an expired reservation when the item no longer has a place for it (k labels are in, or
    the places are held by others' reservations). The text is kept as a draft."""

    def __init__(self, message: str, scores: Mapping[str, int]) -> None:
        super().__init__(message)
        self.scores = dict(scores)


def _repeated(item: Item, user: User, key: str) -> Label | None:
    """The label this key already stored: for this item, the same submit again; for another, an error."""
    repeated = Label.objects.filter(annotator=user, idempotency_key=key).first()
    if repeated is not None and repeated.item_id != item.pk:
        raise CampaignError(_("This idempotency key was used for another item."))
    return repeated


def _store_label(item: Item, user: User, submission: Submission, place: Place | None) -> tuple[Label, bool]:
    """The common case, a first label on a live reservation, in five statements: the place (read before, with the
    access check), the reservation claimed by one UPDATE that only a reserved assignment matches (the row stays
    locked to the end of the transaction, so a second submit of the item waits and then finds it submitted),
    the label, its history row, the item's count. Anything else (an edit, a repeat from a second tab, a paused
    annotator, a claim that lost a race) takes ``_store_locked``."""
    campaign = item.campaign
    with transaction.atomic():
        if place is None:
            found = labeling_place(item.pk, user, submission.idempotency_key)
            place = found[1] if found is not None else None
        if place is None:
            raise NotAssignedError(_("This item is not assigned to you."))
        if place.repeated_item is not None:
            repeated = _repeated(item, user, submission.idempotency_key)
            if repeated is not None:
                return repeated, False
        if campaign.status != CampaignStatus.ACTIVE:
            raise CampaignError(_("This campaign is not open for labeling."))
        scores = schema_of(campaign).validate(submission.scores, submission.rationale)
        provisions = _provisions_for(item, submission.provisions)
        claimed = (
            place.status == AssignmentStatus.RESERVED
            and not place.paused
            and Assignment.objects.filter(pk=place.assignment_id, status=AssignmentStatus.RESERVED).update(
                status=AssignmentStatus.SUBMITTED, finished_at=timezone.now()
            )
            == 1
        )
        if not claimed:
            return _store_locked(item, user, submission, scores, provisions)
        guideline = guidelines.cached(place.guideline_pk) if place.guideline_pk is not None else None
        label = _first_label(item, user, submission, scores, provisions, place.expires_at, guideline)
        if place.has_draft:
            Draft.objects.filter(item=item, user=user).delete()
    return label, True


def _store_locked(
    item: Item, user: User, submission: Submission, scores: dict[str, int], provisions: list[Provision]
) -> tuple[Label, bool]:
    """A label when the reservation could not simply be claimed: under the assignment's lock, read afresh."""
    campaign = item.campaign
    paused = Member.objects.filter(
        campaign_id=OuterRef("item__campaign_id"), user=user, role=MemberRole.ANNOTATOR, paused=True
    )
    assignment = (
        Assignment.objects.select_for_update()
        .filter(item=item, user=user)
        .annotate(paused=Exists(paused))
        .order_by()
        .first()
    )
    if assignment is None or assignment.status == AssignmentStatus.SKIPPED:
        raise NotAssignedError(_("This item is not assigned to you."))
    repeated = _repeated(item, user, submission.idempotency_key)
    if repeated is not None:
        return repeated, False
    # a label is written with its assignment's status in one transaction: a reserved one has none yet
    if assignment.status == AssignmentStatus.SUBMITTED:
        current = Label.objects.select_for_update().filter(item=item, annotator=user).order_by().first()
        if current is not None:
            edited = _edit(current, scores, submission, provisions, user)
            # the draft the edit was typed in is spent: left behind, it would be offered again over the label
            Draft.objects.filter(item=item, user=user).delete()
            return edited, False
    if assignment.paused:
        raise CampaignError(_("Your labeling in this campaign is paused."))
    Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.SUBMITTED, finished_at=timezone.now())
    label = _first_label(item, user, submission, scores, provisions, assignment.expires_at, current_guideline(campaign))
    Draft.objects.filter(item=item, user=user).delete()
    return label, True


def _first_label(
    item: Item,
    user: User,
    submission: Submission,
    scores: dict[str, int],
    provisions: list[Provision],
    expires_at: datetime,
    guideline: Guideline | None,
) -> Label:
    """The user's first label on the item, their assignment marked submitted already (in this transaction); the
    item's count goes up and it settles once k labels are in."""
    if not item.is_gold and expires_at <= timezone.now():
        _check_place(item, user, item.campaign, scores)
    label = Label(
        item=item,
        annotator=user,
        scores=scores,
        rationale=submission.rationale.strip(),
        guideline_version=guideline.version if guideline else None,
        seconds_spent=submission.seconds_spent,
        idempotency_key=submission.idempotency_key,
    )
    save_with_history(label, user)
    if provisions:
        label.provisions.set(provisions)
    if item.is_gold:
        _check_gold(item, user, scores)
    else:
        _count_submission(item)
        if item.state != ItemState.OPEN:  # settled before this label came: it has no place (rolled back)
            raise NoPlaceError(_settled_message(), scores)
        settle(item)
    return label


def _settled_message() -> str:
    return _(
        "Your reservation of this item had expired, and meanwhile it received all the labels it needs, so your "
        "label was not stored. What you wrote is kept as your draft of this item."
    )


def _check_place(item: Item, user: User, campaign: Campaign, scores: Mapping[str, int]) -> None:
    """A first label on an expired reservation takes a place only if one is free: the item is still open and
    fewer than k others have labeled it or hold a live reservation (counted under the item's lock, as
    ``annotation.assignments`` counts them when it hands an item out)."""
    locked = Item.objects.filter(pk=item.pk)
    if connection.features.has_select_for_update:
        locked = locked.select_for_update()
    state = locked.order_by().values_list("state", flat=True).first()
    if state != ItemState.OPEN:
        raise NoPlaceError(_settled_message(), scores)
    now = timezone.now()
    taken = (
        Assignment.objects.filter(item=item)
        .exclude(user=user)
        .filter(Q(status=AssignmentStatus.SUBMITTED) | Q(status=AssignmentStatus.RESERVED, expires_at__gt=now))
        .count()
    )
    if taken >= campaign.overlap:
        raise NoPlaceError(
            _(
                "Your reservation of this item had expired and its places went to other annotators, so your label "
                "was not stored. What you wrote is kept as your draft of this item; submit it again if a place "
                "frees up."
            ),
            scores,
        )


def _keep_as_draft(item: Item, user: User, scores: Mapping[str, int], submission: Submission) -> None:
    data = {"scores": dict(scores), "rationale": submission.rationale, "provisions": list(submission.provisions)}
    Draft.objects.update_or_create(item=item, user=user, defaults={"data": data})


def _count_submission(item: Item) -> None:
    """``submitted += 1`` and read back the count and state in one statement (the row stays locked until the
    transaction ends, so a concurrent last label settles the item once)."""
    table = connection.ops.quote_name(Item._meta.db_table)  # the model's own table name, not input
    sql = f"UPDATE {table} SET submitted = submitted + 1 WHERE id = %s RETURNING submitted, state"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [item.pk])
        item.submitted, item.state = cursor.fetchone()


def _edit(
    current: Label, scores: dict[str, int], submission: Submission, provisions: list[Provision], user: User
) -> Label:
    same = current.scores == scores and current.rationale == submission.rationale.strip()
    if submission.expected_version is None:
        if same:  # the same label from a second tab or a retry with a new key: one label
            return current
        raise StaleLabelError(current, {"scores": scores, "rationale": submission.rationale})
    if submission.expected_version != current.version:
        raise StaleLabelError(current, {"scores": scores, "rationale": submission.rationale})
    if current.item.state != ItemState.OPEN:
        raise CampaignError(_("This item is settled; ask a reviewer to change its accepted label."))
    if same:
        return current
    # the row is locked (select_for_update in submit_label): save() keeps a history row of the edit
    current.scores, current.rationale, current.version = scores, submission.rationale.strip(), current.version + 1
    current.save()
    current.provisions.set(provisions)
    audit.record("label.edit", actor=user, obj=current, details={"version": current.version})
    return current


def _provisions_for(item: Item, ids: Iterable[int]) -> list[Provision]:
    wanted = {int(i) for i in ids}
    if not wanted:  # most labels cite nothing: not even a queryset to build
        return []
    found = list(Provision.objects.filter(pk__in=wanted))
    if len(found) != len(wanted):
        raise CampaignError(_("Some cited provisions do not exist."))
    return found


def settle(item: Item) -> AcceptedLabel | None:
    """Once k labels are in: an AcceptedLabel by consensus, or the item goes to adjudication."""
    campaign = item.campaign
    if item.state != ItemState.OPEN or item.submitted < campaign.overlap:
        return None
    labels = list(item.labels.all())
    result = consensus(schema_of(campaign), [label.scores for label in labels], campaign.consensus_rule)
    if not result.agreed:
        Item.objects.filter(pk=item.pk).update(state=ItemState.DISPUTED)
        return None
    guideline = current_guideline(campaign)
    accepted = AcceptedLabel.objects.create(
        item=item,
        scores=result.scores,
        provenance=Provenance.CONSENSUS,
        rationale="\n\n".join(label.rationale for label in labels if label.rationale),
        guideline_version=guideline.version if guideline else None,
    )
    accepted.source_labels.add(*labels)  # a new row: nothing to compare with, one INSERT
    Item.objects.filter(pk=item.pk).update(state=ItemState.AGREED)
    return accepted


def adjudicate(
    item: Item,
    reviewer: User,
    scores: Mapping[str, Any],
    *,
    rationale: str = "",
    note: str = "",
    provisions: Iterable[int] = (),
) -> AcceptedLabel:
    campaign = item.campaign
    if not Member.objects.filter(campaign=campaign, user=reviewer, role=MemberRole.REVIEWER).exists():
        raise NotAssignedError(_("You are not a reviewer in this campaign."))
    cleaned = schema_of(campaign).validate(scores, rationale)
    _provisions_for(item, provisions)  # a bad citation is refused before anything is written
    with transaction.atomic():
        locked = Item.objects.select_for_update().get(pk=item.pk)
        if locked.state != ItemState.DISPUTED:
            raise CampaignError(_("This item is not awaiting adjudication."))
        guideline = current_guideline(campaign)
        accepted = AcceptedLabel.objects.create(
            item=locked,
            scores=cleaned,
            rationale=rationale.strip(),
            provenance=Provenance.ADJUDICATION,
            decided_by=reviewer,
            note=note.strip(),
            guideline_version=guideline.version if guideline else None,
        )
        accepted.source_labels.set(locked.labels.all())
        Item.objects.filter(pk=item.pk).update(state=ItemState.ADJUDICATED)
    audit.record("label.adjudicate", actor=reviewer, obj=accepted, details={"item": item.pk, "note": note[:200]})
    return accepted


GUARDIAN_REVIEWS = "Guardian reviews"  # the campaign that holds the accepted labels reviewers make from judgements


def accept_guardian_review(
    response: Response, reviewer: User, scores: Mapping[str, Any], *, rationale: str = "", note: str = ""
) -> AcceptedLabel:
    """A guardian judgement of ``response`` that a reviewer stands behind (as it is or corrected), as an accepted
    label with provenance "guardian, reviewed by …": a new item of the closed campaign GUARDIAN_REVIEWS (made on
    first use), settled at once. The one way an accepted label is written from outside annotation (alignment's
    judgement review calls it, inside its own transaction and under its lock on the judgement). Scores follow the
    MedES rubric (a ``LabelError`` otherwise); a response has at most one such label (a ``CampaignError``)."""
    cleaned = MEDES_RUBRIC.validate(scores)
    with transaction.atomic():
        if AcceptedLabel.objects.filter(
            item__response_id=response.pk, provenance=Provenance.GUARDIAN_REVIEWED
        ).exists():
            raise CampaignError(_("This response already has a reviewed guardian label."))
        campaign, _created = Campaign.objects.get_or_create(
            name=GUARDIAN_REVIEWS,
            defaults={
                "description": _("Accepted labels made by reviewers from the guardian's judgements."),
                "overlap": 1,
                "status": CampaignStatus.CLOSED,
            },
        )
        position = (Item.objects.filter(campaign=campaign).aggregate(n=Max("position"))["n"] or 0) + 1
        item = Item.objects.create(
            campaign=campaign,
            response=response,
            scenario_id=response.scenario_id,
            position=position,
            state=ItemState.ADJUDICATED,
            submitted=0,
        )
        return AcceptedLabel.objects.create(
            item=item,
            scores=cleaned,
            provenance=Provenance.GUARDIAN_REVIEWED,
            decided_by=reviewer,
            rationale=rationale,
            note=note,
        )


def _check_gold(item: Item, user: User, scores: Mapping[str, int]) -> None:
    """Compare a gold answer; pause the annotator when their gold accuracy falls below the threshold."""
    campaign = item.campaign
    # the labels that made an item's accepted label (given before it became gold) are not gold checks
    gold_labels = Label.objects.filter(
        annotator=user, item__campaign=campaign, item__is_gold=True, accepted_from__isnull=True
    ).select_related("item")
    results = [label.scores == label.item.gold_scores for label in gold_labels]
    if len(results) < campaign.gold_minimum:
        return
    accuracy = sum(results) / len(results)
    if accuracy < campaign.gold_threshold:
        reason = _("gold accuracy %(accuracy).0f%% over %(n)d gold items is below %(threshold).0f%%") % {
            "accuracy": accuracy * 100,
            "n": len(results),
            "threshold": campaign.gold_threshold * 100,
        }
        paused = Member.objects.filter(campaign=campaign, user=user, role=MemberRole.ANNOTATOR, paused=False).update(
            paused=True, paused_reason=reason
        )
        if paused:
            audit.record("campaign.annotator_paused", obj=campaign, details={"user": user.pk, "reason": reason})


def mark_gold(item: Item, reviewer: User) -> None:
    accepted = AcceptedLabel.objects.filter(item=item).first()
    if accepted is None:
        raise CampaignError(_("Only items with an accepted label can be gold."))
    Item.objects.filter(pk=item.pk).update(is_gold=True, gold_scores=accepted.scores)
    audit.record("campaign.gold", actor=reviewer, obj=item.campaign, details={"item": item.pk})


# --- statistics input ------------------------------------------------------------------------------------


def ratings(campaign: Campaign) -> dict[str, dict[int, dict[int, int]]]:
    """dimension → item → annotator → value, over the campaign's labels except gold checks (an item marked gold
    keeps the labels it was accepted from; the later labels that check annotators against it are left out)."""
    schema = schema_of(campaign)
    table: dict[str, dict[int, dict[int, int]]] = {key: {} for key in schema.keys}
    labels = Label.objects.filter(item__campaign=campaign).filter(
        Q(item__is_gold=False) | Q(accepted_from__isnull=False)
    )
    rows = labels.values_list("item_id", "annotator_id", "scores")
    for item_id, annotator_id, scores in rows.iterator(chunk_size=5000):
        for key in schema.keys:
            if key in scores:
                table[key].setdefault(item_id, {})[annotator_id] = scores[key]
    return table
