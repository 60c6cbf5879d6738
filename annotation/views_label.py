"""The annotator's side of a campaign: my campaigns, my queue, the labeling screen, my labels. What an item's
screen shows is built in annotation.label_screen; the views here scope, act and answer.

Blind by construction: every object comes through a queryset scoped to the signed-in annotator (their
memberships, their assignments, their labels), and no context built here or in annotation.label_screen ever
holds another person's label, a gold answer, a guardian score or the name of the model that wrote the response
(annotators are blind to the system under test too). Other ids are 404.

Never lose work: drafts are saved as the annotator goes (htmx) and kept in the browser too (labeling.js); a
submit carries an idempotency key made when the form was shown; a stale edit is 409 with both versions; a
POST whose session expired is kept in the session and offered again after sign-in, and an htmx request in
that state gets 401 so the page keeps its text and asks for a sign-in in another tab.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation import suggestions
from annotation.assignments import (
    ANNOTATOR_VISIBLE,
    REMAINING_SHOWN,
    SCREEN_FIELDS,
    annotating_campaigns,
    items_of_annotator,
    items_remaining,
    labeling_member,
    live_reservations,
    my_queue,
    next_assignment,
    save_draft,
    skip,
)
from annotation.forms_label import HistoryFilterForm, LabelForm, ProvisionSearchForm
from annotation.label_screen import conflict_context, keep_unsent, provision_results, screen_context
from annotation.markdown import render_markdown
from annotation.models import (
    Assignment,
    Campaign,
    CampaignStatus,
    Item,
    Label,
    Member,
    MemberRole,
)
from annotation.places import labeling_place
from annotation.schema import LabelError
from annotation.services import (
    CampaignError,
    StaleLabelError,
    Submission,
    current_guideline,
    schema_of,
    submit_label,
)
from medes_site.http import AuthedRequest, Request
from medes_site.paging import paginate
from medes_site.roles import Role, has_role

LABELS_PER_PAGE = 25
VISIBLE = ANNOTATOR_VISIBLE


# --- access -----------------------------------------------------------------------------------------------


def annotator_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Annotators only (403 for everyone else). A signed-out request goes to the login page, except an htmx
    one, which gets 401 (the page keeps what was typed); a signed-out POST of a label is kept for after sign-in."""

    @functools.wraps(view)
    def wrapped(request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            item_pk = kwargs.get("pk") if view.__name__ in {"label_submit", "label_draft"} else None
            if request.method == "POST" and item_pk is not None:
                keep_unsent(request, int(item_pk))
            if request.htmx:
                return render(request, "annotation/partials/_signed_out.html", status=401)
            target = reverse("annotation:item", args=[item_pk]) if item_pk is not None else request.get_full_path()
            return redirect_to_login(target)
        if not has_role(request.user, Role.ANNOTATOR):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def campaigns_for_annotator(request: AuthedRequest) -> QuerySet[Campaign]:
    return annotating_campaigns(request.user)


def get_membership(request: AuthedRequest, pk: int) -> Member:
    """The user's annotator membership of campaign ``pk`` with the campaign (one query), or 404."""
    member = (
        Member.objects.select_related("campaign")
        .filter(campaign_id=pk, user=request.user, role=MemberRole.ANNOTATOR, campaign__status__in=VISIBLE)
        .first()
    )
    if member is None:
        raise Http404
    return member


def items_for_annotator(request: AuthedRequest) -> QuerySet[Item]:
    """Items handed to this annotator and not skipped, in campaigns they still annotate (the API uses the same)."""
    return items_of_annotator(request.user)


def get_item_for_annotator(request: AuthedRequest, pk: int, *, screen: bool = True) -> Item:
    """The item if it is this annotator's to label, with its campaign; with what the screen shows of it unless
    ``screen`` is false (a submit reads the response only when it has to show the form again)."""
    found = items_for_annotator(request).select_related("campaign")
    if screen:
        found = found.select_related("scenario", "response").only(*SCREEN_FIELDS, *_campaign_fields())
    item = found.filter(pk=pk).order_by().first()
    if item is None:
        raise Http404
    return item


@functools.cache
def _campaign_fields() -> tuple[str, ...]:
    return tuple(f"campaign__{field.attname}" for field in Campaign._meta.concrete_fields)


def _screen_item(assignment: Assignment, campaign: Campaign) -> Item:
    """The item of an assignment next_assignment just gave the user (who is a member: it checked), for the
    screen, without asking again whether it is theirs (a new reservation read it with its lock)."""
    item: Item | None = getattr(assignment, "screen_item", None)
    if item is None:
        item = Item.objects.select_related("scenario", "response").only(*SCREEN_FIELDS).get(pk=assignment.item_id)
    item.campaign = campaign  # the same row: what was read of it (its guideline) is not read again
    return item


def labels_for_annotator(request: AuthedRequest) -> QuerySet[Label]:
    return Label.objects.filter(annotator=request.user, item__campaign__status__in=VISIBLE)


def _render_screen(
    request: AuthedRequest, context: dict[str, Any], status: int = 200, *, held: int | None = None
) -> HttpResponse:
    """The labeling screen (its panel for htmx). ``held``: the user's live reservations in the campaign, when
    the caller read them already (the header's count of items left)."""
    template = "annotation/label_item.html#panel" if request.htmx else "annotation/label_item.html"
    if "remaining" not in context:
        context["remaining"] = items_remaining(context["campaign"], request.user, held=held)
    context["remaining_shown"] = REMAINING_SHOWN
    response = render(request, template, context, status=status)
    if request.htmx and status == 200:
        response["HX-Push-Url"] = reverse("annotation:item", args=[context["item"].pk])
    return response


@require_GET
@annotator_view
def label_item(request: AuthedRequest, pk: int) -> HttpResponse:
    item = get_item_for_annotator(request, pk)
    return _render_screen(request, screen_context(request, item))


def _next(request: AuthedRequest, campaign: Campaign, message: str = "", member: Member | None = None) -> HttpResponse:
    """The next item: its panel for htmx (no page load), a redirect to it otherwise; the queue when done."""
    try:
        assignment = next_assignment(campaign, request.user, member=member)
    except CampaignError as error:
        notice = str(error)
    else:
        if assignment is not None:
            if not request.htmx:
                if message:
                    messages.success(request, message)
                return redirect("annotation:item", pk=assignment.item_id)
            item = _screen_item(assignment, campaign)
            fresh = getattr(assignment, "fresh", False)
            # a held reservation has no label yet (submitting one ends the reservation); it may have a draft
            context = screen_context(request, item, message=message, fresh=fresh, reserved=True)
            held = getattr(member, "held", None)  # read with the membership, before a new reservation
            return _render_screen(request, context, held=None if held is None else held + fresh)
        notice = _("Nothing left to label in this campaign for now. Thank you!")
    if not request.htmx:
        if message:
            messages.success(request, message)
        messages.info(request, notice)
        return redirect("annotation:queue", pk=campaign.pk)
    context = {"campaign": campaign, "notice": notice, "message": message}
    response = render(request, "annotation/partials/_label_done.html", context)
    response["HX-Push-Url"] = reverse("annotation:queue", args=[campaign.pk])
    return response


@require_http_methods(["GET", "POST"])
@annotator_view
def label_next(request: AuthedRequest, pk: int) -> HttpResponse:
    """Reserve (or find again) the annotator's next item: a POST, since it writes a reservation. Safe to repeat:
    a held reservation is returned. A GET (an old link, a bookmark, a browser's prefetch) reserves nothing: it
    goes to the campaign's queue page, whose button posts here."""
    member = labeling_member(pk, request.user)
    if member is None:
        raise Http404
    if request.method != "POST":
        if request.htmx:  # a page from before reserving was a POST: the whole page goes to the queue
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("annotation:queue", args=[member.campaign_id])
            return response
        return redirect("annotation:queue", pk=member.campaign_id)
    message = _("Label submitted.") if request.GET.get("after") == "submit" else ""
    return _next(request, member.campaign, message, member=member)


@require_GET
@annotator_view
def label_provisions(request: AuthedRequest, pk: int) -> HttpResponse:
    """Search the provisions of the scenario's grounding sources (all sources when it cites none)."""
    item = get_item_for_annotator(request, pk)
    form = ProvisionSearchForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "annotation/partials/_provision_results.html",
            {"results": [], "error": _("Search for at most 100 characters.")},
            status=400,
        )
    query = form.cleaned_data["q"]
    results = provision_results(item, query)
    if not request.htmx:
        return _render_screen(request, screen_context(request, item, results=results, query=query))
    return render(request, "annotation/partials/_provision_results.html", {"results": results, "query": query})


@require_POST
@annotator_view
def label_draft(request: AuthedRequest, pk: int) -> HttpResponse:
    item = get_item_for_annotator(request, pk)
    form = LabelForm(schema_of(item.campaign), request.POST)
    if not form.is_valid():
        return _draft_refused(request, item, form)
    try:
        draft = save_draft(item, request.user, form.draft_data())
    except CampaignError as error:
        return _draft_refused(request, item, form, str(error))
    if request.htmx:
        return render(request, "annotation/partials/_draft_status.html", {"saved_at": draft.saved_at, "ok": True})
    messages.success(request, _("Draft saved."))
    return redirect("annotation:item", pk=item.pk)


def _draft_refused(request: AuthedRequest, item: Item, form: LabelForm, reason: str = "") -> HttpResponse:
    errors = form.errors if form.errors else {"__all__": [reason]}
    if request.htmx:
        text = reason or "; ".join(str(e) for es in form.errors.values() for e in es)
        return render(request, "annotation/partials/_draft_status.html", {"ok": False, "error": text}, status=400)
    return _render_screen(request, screen_context(request, item, form=form, errors=errors), status=400)


@require_POST
@annotator_view
def label_submit(request: AuthedRequest, pk: int) -> HttpResponse:
    # one query: the access check (404), the item with its campaign, and what storing a label acts on
    found = labeling_place(pk, request.user, request.POST.get("idempotency_key", ""))
    if found is None:
        raise Http404
    item, place = found
    schema = schema_of(item.campaign)
    form = LabelForm(schema, request.POST)
    if request.POST.get("action") == "search":  # the provision search without JavaScript: save, then show hits
        if form.is_valid():
            save_draft(item, request.user, form.draft_data())
        search = ProvisionSearchForm(request.POST)  # the query reaches the database: through a form (no NUL)
        searchable = search.is_valid()
        query = search.cleaned_data["q"] if searchable else ""
        errors: dict[str, Any] = dict(form.errors)
        if not searchable:
            errors["__all__"] = [_("Search for at most 100 characters of plain text.")]
        return _render_screen(
            request,
            screen_context(
                request, item, form=form, results=provision_results(item, query), query=query, errors=errors
            ),
        )
    if not form.is_valid():
        return _render_screen(request, screen_context(request, item, form=form, errors=form.errors), status=400)
    if not form.cleaned_data["idempotency_key"]:
        errors = {"__all__": [_("This form is damaged; reload the page.")]}
        return _render_screen(request, screen_context(request, item, form=form, errors=errors), status=400)
    data = form.cleaned_data
    submission = Submission(
        scores=form.scores(),
        rationale=data["rationale"] or "",
        provisions=tuple(data["provisions"] or ()),
        idempotency_key=data["idempotency_key"],
        expected_version=data["expected_version"],
        seconds_spent=form.seconds_spent(),
    )
    try:
        label, _created = submit_label(item, request.user, submission, place=place)
    except StaleLabelError as error:
        conflict = conflict_context(schema, error, submission)
        return _render_screen(request, screen_context(request, item, conflict=conflict), status=409)
    except LabelError as error:
        errors = {key: [text] for key, text in error.errors.items()}
        return _render_screen(request, screen_context(request, item, form=form, errors=errors), status=400)
    except CampaignError as error:
        return _render_screen(
            request, screen_context(request, item, form=form, errors={"__all__": [str(error)]}), status=400
        )
    if submission.expected_version is not None:  # an edit of a label: back to the annotator's labels
        messages.success(request, _("Label saved (version %(version)d).") % {"version": label.version})
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("annotation:history")
            return response
        return redirect("annotation:history")
    if request.htmx:
        # The submit answers at once; the page then asks for the next item itself (the labelSubmitted event
        # fires the panel's hidden "next" request), so a submit never waits on handing out the next item
        # and a stored label is never reported as failed because the next item could not be fetched.
        response = HttpResponse(status=204)
        response["HX-Trigger"] = "labelSubmitted"
        return response
    return _next(request, item.campaign, _("Label submitted."))


@require_POST
@annotator_view
def label_skip(request: AuthedRequest, pk: int) -> HttpResponse:
    item = get_item_for_annotator(request, pk)
    assignment = Assignment.objects.filter(item=item, user=request.user).first()
    try:
        if assignment is None:
            raise Http404
        skip(assignment, request.user)
    except CampaignError as error:
        return _render_screen(request, screen_context(request, item, errors={"__all__": [str(error)]}), status=400)
    return _next(request, item.campaign, _("Skipped. It will not be offered to you again."))


# --- campaigns, queue, history ------------------------------------------------------------------------


def queue_rows(request: AuthedRequest) -> list[dict[str, Any]]:
    """Each campaign the user annotates with their counts and progress (for the list and the home panel)."""
    campaigns = list(campaigns_for_annotator(request).order_by("-status", "name"))
    paused = set(
        Member.objects.filter(user=request.user, role=MemberRole.ANNOTATOR, paused=True).values_list(
            "campaign_id", flat=True
        )
    )
    return [_queue_row(request, campaign, paused=campaign.pk in paused) for campaign in campaigns]


def _queue_row(request: AuthedRequest, campaign: Campaign, *, paused: bool) -> dict[str, Any]:
    counts = my_queue(campaign, request.user)
    total = counts["submitted"] + counts["reserved"] + counts["available"]
    return {
        "campaign": campaign,
        "counts": counts,
        "total": total,
        "percent": round(100 * counts["submitted"] / total) if total else 100,
        "paused": paused,
        "open": campaign.status == CampaignStatus.ACTIVE and not paused,
        # nothing reserved and nothing left to take: the list says "done" instead of offering to continue
        "finished": counts["reserved"] == 0 and counts["available"] == 0,
    }


@require_GET
@annotator_view
def my_campaigns(request: AuthedRequest) -> HttpResponse:
    return render(request, "annotation/label_campaigns.html", {"rows": queue_rows(request)})


@require_GET
@annotator_view
def campaign_queue(request: AuthedRequest, pk: int) -> HttpResponse:
    member = get_membership(request, pk)
    campaign = member.campaign
    row = _queue_row(request, campaign, paused=member.paused)
    held = live_reservations(request.user, campaign, timezone.now()).order_by("reserved_at").first()
    guideline = current_guideline(campaign)
    context = {
        **row,
        "member": member,
        "held": held,
        "guideline": guideline,
        "guideline_html": render_markdown(guideline.text) if guideline else "",
    }
    return render(request, "annotation/label_queue.html", context)


@require_GET
@annotator_view
def my_labels(request: AuthedRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "annotation/label_history.html", {"form": form, "page": None}, status=400)
    labels = (
        labels_for_annotator(request)
        .select_related("item__campaign", "item__scenario")
        .prefetch_related("provisions__source")
        .order_by("-updated_at", "-pk")
    )
    chosen = form.cleaned_data["campaign"]
    if chosen:
        labels = labels.filter(item__campaign_id=chosen)
    context = {
        "form": form,
        "campaigns": campaigns_for_annotator(request).order_by("name"),
        "chosen": chosen,
        **paginate(request, labels, form.cleaned_data["page"], LABELS_PER_PAGE),
    }
    shown = list(context["page"].object_list)
    context["page"].object_list = shown
    # a judge's scores beside the annotator's own, once their label can no longer change (as on the item page)
    final = [label for label in shown if not label.item.is_open_for_edits()]
    found = suggestions.for_responses(label.item.response_id for label in final)
    for label in final:
        label.suggestion = found.get(label.item.response_id or 0)
    context["any_suggestion"] = bool(found)
    return render(request, "annotation/label_history.html", context)
