"""Screens of the review side: campaigns (create, settings, members, guideline, status), the adjudication
queue, agreement, annotator statistics and exports. Annotators reach none of them (they have their queue)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation import campaign_agreement, exports, review
from annotation.agreement_chart import agreement_chart, summary_rows
from annotation.forms_label import score_field
from annotation.forms_review import (
    AdjudicationForm,
    CampaignCreateForm,
    CampaignSettingsForm,
    DiffForm,
    ExportForm,
    GuidelineForm,
    MemberForm,
    StatusForm,
)
from annotation.markdown import render_markdown
from annotation.models import Campaign, Guideline, Item, ItemState, Member, MemberRole, Subject
from annotation.schema import LabelError, SchemaError
from annotation.services import (
    CampaignError,
    add_members,
    adjudicate,
    create_campaign,
    create_scenario_review,
    current_guideline,
    mark_gold,
    schema_of,
    set_guideline,
)
from benchmark import picker
from medes_site import files
from medes_site.http import AuthedRequest
from medes_site.jobs import JobError, enqueue_job
from medes_site.roles import Role, role_required

READ_ROLES = (Role.REVIEWER, Role.CURATOR, Role.ML_ENGINEER)
EDIT_ROLES = (Role.REVIEWER, Role.CURATOR)


def get_campaign_for_user(request: AuthedRequest, pk: int) -> Campaign:
    campaign = review.campaigns_for_user(request.user).filter(pk=pk).first()
    if campaign is None:
        raise Http404
    return campaign


def get_editable_campaign(request: AuthedRequest, pk: int) -> Campaign:
    campaign = get_campaign_for_user(request, pk)
    if not review.may_edit(request.user, campaign):
        raise PermissionDenied
    return campaign


def get_label_campaign(request: AuthedRequest, pk: int) -> Campaign:
    """A campaign whose labels the user may see (not one they annotate in: blind labeling); others are 404."""
    campaign = review.label_campaigns_for_user(request.user).filter(pk=pk).first()
    if campaign is None:
        raise Http404
    return campaign


def get_review_item(request: AuthedRequest, campaign_pk: int, item_pk: int) -> Item:
    """An item of a campaign the user reviews (as a member); others' ids are 404. A reviewer who also
    annotates in the campaign never reaches labels through here (blind labeling)."""
    campaign = get_label_campaign(request, campaign_pk)
    if not review.is_reviewer(request.user, campaign):
        raise Http404
    item = (
        Item.objects.select_related("campaign", "scenario", "response__model")
        .filter(campaign=campaign, pk=item_pk)
        .first()
    )
    if item is None:
        raise Http404
    return item


# --- campaigns -------------------------------------------------------------------------------------------


@require_GET
@role_required(*READ_ROLES)
def campaign_list(request: AuthedRequest) -> HttpResponse:
    campaigns = review.campaigns_for_user(request.user).select_related("release")
    paused = review.paused_members(campaigns, request.user)
    context = {"campaigns": campaigns, "paused": paused, "may_create": review.may_create(request.user)}
    return render(request, "annotation/review_list.html", context)


@require_http_methods(["GET", "POST"])
@role_required(*EDIT_ROLES)
def campaign_create(request: AuthedRequest) -> HttpResponse:
    form = CampaignCreateForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            name, release, models, guideline = (data.pop(k) for k in ("name", "release", "models", "guideline"))
            subject = data.pop("subject")
            for key in ("schema_source", "schema_campaign", "schema_json", "scenario_statuses", "scenario_scene"):
                data.pop(key, None)
            try:
                if subject == Subject.SCENARIOS:
                    campaign = create_scenario_review(
                        name, scenarios=form.scenario_ids(), user=request.user, guideline=guideline, **data
                    )
                else:
                    campaign = create_campaign(
                        name, release=release, models=models, user=request.user, guideline=guideline, **data
                    )
            except (CampaignError, SchemaError) as error:
                form.add_error(None, str(error))
            else:
                if review.has_reviewer_role(request.user):
                    add_members(campaign, [request.user], MemberRole.REVIEWER)
                messages.success(request, _("Created %(name)s.") % {"name": campaign.name})
                return redirect("annotation:campaign_detail", pk=campaign.pk)
        return render(request, "annotation/review_create.html", {"form": form}, status=400)
    return render(request, "annotation/review_create.html", {"form": form})


@require_GET
@role_required(*READ_ROLES)
def campaign_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    context = {
        "campaign": campaign,
        "progress": review.progress(campaign),
        "guideline": current_guideline(campaign),
        "schema": schema_of(campaign),
        "sees_labels": review.may_see_labels(request.user, campaign),
        "paused": review.paused_members(Campaign.objects.filter(pk=campaign.pk), request.user),
        "may_edit": review.may_edit(request.user, campaign),
        "is_reviewer": review.is_reviewer(request.user, campaign),
        "members": campaign.members.select_related("user").order_by("role", "user__username"),
        "status_form": StatusForm(),
        "export_form": ExportForm(),
        "large": review.is_large(campaign),
    }
    if context["is_reviewer"] and context["sees_labels"] and not request.htmx:
        # the accepted items (to mark gold) stay in reach while disputes wait: the queue page opens the first dispute
        context["accepted"] = review.accepted_items(campaign)[:50]
        context["waiting"] = review.disputed_items(campaign).count()
    template = "annotation/review_detail.html#progress" if request.htmx else "annotation/review_detail.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@role_required(*EDIT_ROLES)
def campaign_settings(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_editable_campaign(request, pk)
    form = CampaignSettingsForm(request.POST or None, instance=campaign)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            review.record_settings(campaign, request.user, form.changed_data)
            messages.success(request, _("Saved."))
            return redirect("annotation:campaign_detail", pk=campaign.pk)
        return render(request, "annotation/review_settings.html", {"campaign": campaign, "form": form}, status=400)
    return render(request, "annotation/review_settings.html", {"campaign": campaign, "form": form})


@require_POST
@role_required(*EDIT_ROLES)
def campaign_status(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_editable_campaign(request, pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Choose activate or close."), status=400, content_type="text/plain; charset=utf-8")
    try:
        review.change_status(campaign, form.cleaned_data["action"], request.user)
    except CampaignError as error:
        messages.error(request, str(error))
        return redirect("annotation:campaign_detail", pk=campaign.pk)
    messages.success(request, _("The campaign is now %(status)s.") % {"status": campaign.get_status_display()})
    return redirect("annotation:campaign_detail", pk=campaign.pk)


@require_http_methods(["GET", "POST"])
@role_required(*EDIT_ROLES)
def campaign_members(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_editable_campaign(request, pk)
    form = MemberForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            add_members(campaign, [form.cleaned_data["user"]], form.cleaned_data["role"])
            review.record_member(campaign, request.user, form.cleaned_data["user"], form.cleaned_data["role"])
            return redirect("annotation:campaign_members", pk=campaign.pk)
        status = 400
    members = campaign.members.select_related("user").order_by("role", "user__username")
    context = {"campaign": campaign, "form": form, "members": members}
    return render(request, "annotation/review_members.html", context, status=status)


@require_POST
@role_required(*EDIT_ROLES)
def member_remove(request: AuthedRequest, pk: int, member_pk: int) -> HttpResponse:
    campaign = get_editable_campaign(request, pk)
    member = Member.objects.filter(campaign=campaign, pk=member_pk).first()
    if member is None:
        raise Http404
    review.remove_member(member, request.user)
    return redirect("annotation:campaign_members", pk=campaign.pk)


# --- guideline -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@role_required(*READ_ROLES)
def guideline(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    may_edit = review.may_edit(request.user, campaign)
    current = current_guideline(campaign)
    form = GuidelineForm(request.POST or None, initial={"text": current.text if current else ""})
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied
        if form.is_valid():
            saved = set_guideline(campaign, form.cleaned_data["text"], request.user)
            messages.success(request, _("Saved as version %(v)d.") % {"v": saved.version})
            return redirect("annotation:campaign_guideline", pk=campaign.pk)
    versions = campaign.guidelines.select_related("created_by").order_by("-version")
    context = {
        "campaign": campaign,
        "form": form,
        "may_edit": may_edit,
        "current": current,
        "versions": versions,
        "rendered": render_markdown(current.text) if current else "",
    }
    return render(request, "annotation/review_guideline.html", context, status=400 if form.errors else 200)


@require_GET
@role_required(*READ_ROLES)
def guideline_diff(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    form = DiffForm(request.GET)
    context: dict[str, Any] = {"campaign": campaign, "form": form}
    if not form.is_valid():
        return render(request, "annotation/review_guideline_diff.html", context, status=400)
    wanted = [form.cleaned_data["old"], form.cleaned_data["new"]]
    found = {g.version: g for g in Guideline.objects.filter(campaign=campaign, version__in=wanted)}
    old, new = found.get(form.cleaned_data["old"]), found.get(form.cleaned_data["new"])
    if old is None or new is None:
        raise Http404
    context.update(old=old, new=new, lines=review.guideline_diff(old, new))
    return render(request, "annotation/review_guideline_diff.html", context)


# --- adjudication ----------------------------------------------------------------------------------------


@require_GET
@role_required(Role.REVIEWER)
def queue(request: AuthedRequest, pk: int) -> HttpResponse:
    """The disputed items of a campaign the user reviews; opens the first one."""
    campaign = get_label_campaign(request, pk)
    if not review.is_reviewer(request.user, campaign):
        raise Http404
    first = review.disputed_items(campaign).first()
    if first is not None:
        return redirect("annotation:campaign_adjudicate", pk=campaign.pk, item_pk=first.pk)
    context = {"campaign": campaign, "waiting": 0, "accepted": review.accepted_items(campaign)[:50]}
    return render(request, "annotation/review_queue.html", context)


def _adjudication_context(item: Item, form: AdjudicationForm) -> dict[str, Any]:
    return {
        "campaign": item.campaign,
        "item": item,
        "form": form,
        "review": review.item_review(item),
        "waiting": review.disputed_items(item.campaign).count(),
    }


@require_http_methods(["GET", "POST"])
@role_required(Role.REVIEWER)
def adjudicate_item(request: AuthedRequest, pk: int, item_pk: int) -> HttpResponse:
    item = get_review_item(request, pk, item_pk)
    schema = schema_of(item.campaign)
    if item.state != ItemState.DISPUTED:
        return redirect("annotation:campaign_accepted", pk=pk, item_pk=item.pk)
    details = review.item_review(item)
    form = AdjudicationForm(schema, request.POST or None, initial_scores=details["suggested"])
    template = "annotation/review_adjudicate.html#panel" if request.htmx else "annotation/review_adjudicate.html"
    if request.method == "POST" and picker.searching(form):  # the provision search without JavaScript
        return render(request, template, _adjudication_context(item, form))
    if request.method == "POST":
        if form.is_valid():
            try:
                adjudicate(
                    item,
                    request.user,
                    form.scores(),
                    rationale=form.cleaned_data["rationale"],
                    note=form.cleaned_data["note"],
                    provisions=form.cleaned_data["provisions"],
                )
            except LabelError as error:
                for key, message in error.errors.items():
                    form.add_error(score_field(key) if key in schema.keys else None, message)
            except CampaignError as error:
                form.add_error(None, str(error))
            else:
                following = review.disputed_items(item.campaign).first()
                if following is None:
                    messages.success(request, _("No more disputed items."))
                    if request.htmx:
                        response = HttpResponse(status=204)
                        response["HX-Redirect"] = reverse("annotation:campaign_queue", args=[pk])
                        return response
                    return redirect("annotation:campaign_queue", pk=pk)
                if request.htmx:  # the next item arrives in place of the panel
                    next_item = get_review_item(request, pk, following.pk)
                    next_form = AdjudicationForm(schema, initial_scores=review.item_review(next_item)["suggested"])
                    response = render(request, template, _adjudication_context(next_item, next_form))
                    response["HX-Push-Url"] = reverse("annotation:campaign_adjudicate", args=[pk, next_item.pk])
                    response["HX-Trigger"] = "adjudicated"
                    return response
                return redirect("annotation:campaign_adjudicate", pk=pk, item_pk=following.pk)
        return render(request, template, _adjudication_context(item, form), status=400)
    return render(request, template, _adjudication_context(item, form))


@require_GET
@role_required(Role.REVIEWER)
def accepted_item(request: AuthedRequest, pk: int, item_pk: int) -> HttpResponse:
    item = get_review_item(request, pk, item_pk)
    accepted = getattr(item, "accepted", None) if item.state != ItemState.OPEN else None
    if accepted is None:
        raise Http404
    context = {"campaign": item.campaign, "item": item, "accepted": accepted, "review": review.item_review(item)}
    return render(request, "annotation/review_accepted.html", context)


@require_POST
@role_required(Role.REVIEWER)
def gold(request: AuthedRequest, pk: int, item_pk: int) -> HttpResponse:
    item = get_review_item(request, pk, item_pk)
    try:
        mark_gold(item, request.user)
    except CampaignError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    messages.success(request, _("Item %(n)d is now a gold item.") % {"n": item.position})
    return redirect("annotation:campaign_accepted", pk=pk, item_pk=item.pk)


# --- agreement, annotators, exports ----------------------------------------------------------------------


@require_GET
@role_required(*READ_ROLES)
def agreement(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_label_campaign(request, pk)
    job = campaign_agreement.latest_agreement_job(campaign)
    large = review.is_large(campaign)
    result = None
    if not large:
        result = campaign_agreement.compute_agreement(campaign)
    elif job is not None and job.status == "succeeded":
        result = job.metrics.get("agreement")
    view = (
        campaign_agreement.agreement_view(result, with_names=review.has_reviewer_role(request.user)) if result else None
    )
    context = {"campaign": campaign, "large": large, "job": job, "view": view}
    if view is not None:  # the chart's data and the table beside it (annotation.agreement_chart)
        context["chart"], context["summary"] = agreement_chart(view), summary_rows(view)
    return render(request, "annotation/review_agreement.html", context)


@require_POST
@role_required(*READ_ROLES)
def agreement_compute(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_label_campaign(request, pk)
    try:
        job = enqueue_job(
            campaign_agreement.AGREEMENT_JOB,
            {"campaign": campaign.pk},
            user=request.user,
            request=request,
            request_key=request.POST.get("request_key") or None,
        )
    except JobError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    return redirect("jobs:detail", pk=job.pk)


@require_GET
@role_required(*READ_ROLES)
def annotators(request: AuthedRequest, pk: int) -> HttpResponse:
    campaign = get_label_campaign(request, pk)
    context = {
        "campaign": campaign,
        "rows": review.annotator_stats(campaign),
        "progress": review.progress(campaign),
        "may_unpause": review.is_reviewer(request.user, campaign),
    }
    return render(request, "annotation/review_annotators.html", context)


@require_POST
@role_required(Role.REVIEWER)
def unpause(request: AuthedRequest, pk: int, member_pk: int) -> HttpResponse:
    campaign = get_label_campaign(request, pk)
    if not review.is_reviewer(request.user, campaign):
        raise Http404
    member = Member.objects.filter(campaign=campaign, pk=member_pk, role=MemberRole.ANNOTATOR).first()
    if member is None:
        raise Http404
    if review.unpause(member, request.user):
        messages.success(request, _("%(name)s may label again.") % {"name": member.user.get_username()})
    return redirect("annotation:campaign_annotators", pk=campaign.pk)


@require_http_methods(["GET", "POST"])
@role_required(*READ_ROLES)
def export(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET: the file, for small campaigns. POST: an export job (any size)."""
    campaign = get_label_campaign(request, pk)
    form = ExportForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        return HttpResponse(
            _("Choose what to export (labels or accepted) and a format (jsonl, csv or parquet)."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    what, fmt = form.cleaned_data["what"], form.cleaned_data["format"]
    if request.method == "POST":
        try:
            job = enqueue_job(
                exports.EXPORT_JOB,
                {"campaign": campaign.pk, "what": what, "format": fmt},
                user=request.user,
                request=request,
            )
        except JobError as error:
            return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
        return redirect("jobs:detail", pk=job.pk)
    if review.is_large(campaign):
        messages.info(request, _("This campaign is large: its export runs as a job."))
        return redirect("annotation:campaign_detail", pk=campaign.pk)
    response = HttpResponse(content_type=exports.EXPORT_FORMATS[fmt])
    exports.write_export(campaign, what, fmt, response)  # type: ignore[arg-type]
    return files.as_attachment(response, f"campaign-{campaign.pk}-{what}.{fmt}")
