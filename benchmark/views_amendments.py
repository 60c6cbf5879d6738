"""Amendments on screen: which source a new version supersedes, and the provision-by-provision diff with
the scenarios it sent back to review."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from benchmark.amendments import AmendmentError, describe, inline_diff, set_supersedes
from benchmark.forms_curation import AmendmentFilterForm, SupersedeForm
from benchmark.models import Amendment, AmendmentChange, ChangeKind, Scenario
from benchmark.views import SOURCE_ROLES, get_source_for_user
from medes_site.http import AuthedRequest
from medes_site.roles import Role, role_required


@require_GET
@role_required(*SOURCE_ROLES)
def amendment_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    """The diff of source ``pk`` (the new version) against the source it supersedes."""
    source = get_source_for_user(request, pk)
    amendment = Amendment.objects.filter(new_source=source).select_related("old_source").first()
    if amendment is None:
        raise Http404
    form = AmendmentFilterForm(request.GET)
    if not form.is_valid():
        context = {"source": source, "amendment": amendment, "form": form, "rows": []}
        return render(request, "benchmark/amendment_detail.html", context, status=400)
    choice = form.cleaned_data["kind"] or "changes"
    rows = amendment.changes.all()
    if choice == "changes":
        rows = rows.exclude(kind=ChangeKind.UNCHANGED)
    elif choice == "renumbered":
        rows = rows.filter(renumbered=True)
    elif choice != "all":
        rows = rows.filter(kind=choice)
    context = {
        "source": source,
        "amendment": amendment,
        "form": form,
        "choice": choice,
        "rows": [_display(row) for row in rows],
        "affected": _affected(amendment),
    }
    template = "benchmark/amendment_detail.html#amendment-rows" if request.htmx else "benchmark/amendment_detail.html"
    return render(request, template, context)


def _display(row: AmendmentChange) -> dict[str, Any]:
    if row.kind == ChangeKind.CHANGED:
        old, new = inline_diff(row.old_text, row.new_text)
    else:
        old, new = [(False, row.old_text)], [(False, row.new_text)]
    return {"row": row, "old": old, "new": new}


def _affected(amendment: Amendment) -> list[dict[str, Any]]:
    """The scenarios this amendment handled, each with the old provisions that changed under it."""
    changed = dict(
        amendment.changes.filter(
            kind__in=[ChangeKind.CHANGED, ChangeKind.REMOVED], old_provision__isnull=False
        ).values_list("old_provision_id", "old_label")
    )
    through = Scenario.provisions.through
    labels: dict[int, list[str]] = {}
    for scenario_id, provision_id in through.objects.filter(
        scenario__in=amendment.flagged.all(), provision_id__in=changed
    ).values_list("scenario_id", "provision_id"):
        labels.setdefault(scenario_id, []).append(changed[provision_id])
    return [
        {"scenario": scenario, "labels": sorted(labels.get(scenario.pk, []))}
        for scenario in amendment.flagged.select_related("scene").order_by("pk")
    ]


@require_http_methods(["GET", "POST"])
@role_required(Role.CURATOR)
def source_supersede(request: AuthedRequest, pk: int) -> HttpResponse:
    """Say which earlier version a source supersedes; the comparison runs at once when both are parsed."""
    source = get_source_for_user(request, pk)
    if request.method == "GET":
        form = SupersedeForm(initial={"supersedes": source.supersedes_id}, source=source)
        return render(request, "benchmark/source_supersede.html", {"source": source, "form": form})
    form = SupersedeForm(request.POST, source=source)
    if not form.is_valid():
        return render(request, "benchmark/source_supersede.html", {"source": source, "form": form}, status=400)
    try:
        amendment = set_supersedes(source, form.cleaned_data["supersedes"], user=request.user)
    except AmendmentError as error:
        form.add_error("supersedes", str(error))
        return render(request, "benchmark/source_supersede.html", {"source": source, "form": form}, status=400)
    if amendment is None:
        return redirect("benchmark:source", pk=source.pk)
    (messages.warning if amendment.error else messages.success)(request, describe(amendment))
    return redirect("benchmark:source_amendment", pk=source.pk)
