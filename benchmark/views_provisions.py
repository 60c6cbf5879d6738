"""A provision's page: its text, its history, and the curator's fixes (edit, split, merge with the next).
Reviewers read; curators (and admins) fix. A stale fix gets 409 with the provision as it is now."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from benchmark.forms_curation import ProvisionEditForm, ProvisionMergeForm, ProvisionSplitForm
from benchmark.models import Provision
from benchmark.provisions import (
    EDITABLE,
    ProvisionError,
    StaleProvision,
    edit_provision,
    merge_with_next,
    next_provision,
    split_provision,
)
from benchmark.views import SOURCE_ROLES
from medes_site.http import AuthedRequest
from medes_site.roles import Role, has_role, role_required

HISTORY_ROWS = 50


def provisions_for_user(request: AuthedRequest) -> QuerySet[Provision]:
    """Like the sources, provisions are shared by the whole team of curators and reviewers."""
    return Provision.objects.select_related("source")


def get_provision_for_user(request: AuthedRequest, pk: int) -> Provision:
    provision = provisions_for_user(request).filter(pk=pk).first()
    if provision is None:
        raise Http404
    return provision


def _context(request: AuthedRequest, provision: Provision, **extra: object) -> dict[str, object]:
    following = next_provision(provision)
    initial = {name: getattr(provision, name) for name in EDITABLE}
    context: dict[str, object] = {
        "provision": provision,
        "source": provision.source,
        "next": following,
        "scenarios": provision.scenarios.select_related("scene").order_by("pk"),
        "history": provision.history.select_related("history_user").order_by("-history_date", "-history_id")[
            :HISTORY_ROWS
        ],
        "may_edit": has_role(request.user, Role.CURATOR),
        "edit_form": ProvisionEditForm(initial={**initial, "version": provision.version}),
        "split_form": ProvisionSplitForm(
            initial={"new_number": provision.number, "new_suffix": provision.suffix + 1, "version": provision.version}
        ),
    }
    context.update(extra)
    return context


@require_GET
@role_required(*SOURCE_ROLES)
def provision_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    provision = get_provision_for_user(request, pk)
    template = (
        "benchmark/provision_detail.html#provision-history" if request.htmx else "benchmark/provision_detail.html"
    )
    return render(request, template, _context(request, provision))


def _refused(request: AuthedRequest, provision: Provision, error: ProvisionError, **forms: object) -> HttpResponse:
    """409 with the provision as it is now when the fix was stale, 400 with the reason otherwise; the
    curator's input stays in the form either way."""
    if isinstance(error, StaleProvision):
        current = get_provision_for_user(request, error.current.pk)
        return render(
            request,
            "benchmark/provision_detail.html",
            _context(request, current, conflict=current, **forms),
            status=409,
        )
    return render(
        request, "benchmark/provision_detail.html", _context(request, provision, error=str(error), **forms), status=400
    )


@require_POST
@role_required(Role.CURATOR)
def provision_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    provision = get_provision_for_user(request, pk)
    form = ProvisionEditForm(request.POST)
    if not form.is_valid():
        return render(
            request, "benchmark/provision_detail.html", _context(request, provision, edit_form=form), status=400
        )
    changes = {name: form.cleaned_data[name] for name in EDITABLE}
    try:
        edit_provision(provision.pk, expected_version=form.cleaned_data["version"], changes=changes, user=request.user)
    except ProvisionError as error:
        return _refused(request, provision, error, edit_form=form)
    messages.success(request, _("Saved."))
    return redirect("benchmark:provision", pk=provision.pk)


@require_POST
@role_required(Role.CURATOR)
def provision_split(request: AuthedRequest, pk: int) -> HttpResponse:
    provision = get_provision_for_user(request, pk)
    form = ProvisionSplitForm(request.POST)
    if not form.is_valid():
        return render(
            request, "benchmark/provision_detail.html", _context(request, provision, split_form=form), status=400
        )
    data = form.cleaned_data
    try:
        first, second = split_provision(
            provision.pk,
            expected_version=data["version"],
            new_number=data["new_number"],
            new_suffix=data["new_suffix"],
            at_paragraph=data["at_paragraph"],
            at_offset=data["at_offset"],
            user=request.user,
        )
    except ProvisionError as error:
        return _refused(request, provision, error, split_form=form)
    messages.success(request, _("Split: the second part is now %(label)s.") % {"label": second.label})
    return redirect("benchmark:provision", pk=first.pk)


@require_POST
@role_required(Role.CURATOR)
def provision_merge(request: AuthedRequest, pk: int) -> HttpResponse:
    provision = get_provision_for_user(request, pk)
    form = ProvisionMergeForm(request.POST)
    if not form.is_valid():
        return _refused(request, provision, ProvisionError(_("The merge form was incomplete; reload the page.")))
    data = form.cleaned_data
    try:
        merge_with_next(
            provision.pk,
            expected_version=data["version"],
            next_pk=data["next_id"],
            next_version=data["next_version"],
            user=request.user,
        )
    except ProvisionError as error:
        return _refused(request, provision, error)
    messages.success(request, _("Merged with the next provision."))
    return redirect("benchmark:provision", pk=provision.pk)
