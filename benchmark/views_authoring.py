"""The curator's desk: writing a scenario by hand (from the scenario list, or from a provision that it then
cites), moving one scenario along its workflow from its page, and the provision search every picker uses."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from benchmark import picker
from benchmark.authoring import DuplicateScenario, write_scenario
from benchmark.forms_authoring import ScenarioForm, ScenarioStatusForm
from benchmark.models import Provision, ScenarioStatus
from benchmark.scenarios import ScenarioError, StaleEdit, change_status
from benchmark.views import SOURCE_ROLES, get_scenario_for_user, scenario_context
from benchmark.views_provisions import get_provision_for_user
from medes_site.http import AuthedRequest
from medes_site.roles import Role, role_required

NEW_TEMPLATE = "benchmark/scenario_new.html"


class ProvisionQueryForm(forms.Form):
    q = forms.CharField(required=False, max_length=picker.MAX_QUERY)
    format = forms.ChoiceField(required=False, choices=[("", "html"), ("json", "json")])


@require_GET
@role_required(*picker.PICKER_ROLES)
def provision_search(request: AuthedRequest) -> HttpResponse:
    """The picker's matches for ``q``: an HTML fragment (the list the widget shows), or JSON with
    ``format=json``. Only provisions the user may see; current versions first."""
    form = ProvisionQueryForm(request.GET)
    wants_json = request.GET.get("format") == "json"
    if not form.is_valid():
        error = _("Search for at most %(n)d characters of plain text.") % {"n": picker.MAX_QUERY}
        if wants_json:
            return JsonResponse({"error": error}, status=400)
        return render(request, "benchmark/partials/_provision_options.html", {"error": error}, status=400)
    query = form.cleaned_data["q"]
    results = [picker.describe(p) for p in picker.search(query, picker.visible_provisions(request.user))]
    if wants_json:
        return JsonResponse({"query": query, "results": results})
    return render(request, "benchmark/partials/_provision_options.html", {"results": results, "query": query})


def _new_context(form: ScenarioForm, provision: Provision | None, **extra: Any) -> dict[str, Any]:
    action = (
        reverse("benchmark:provision_scenario_new", args=[provision.pk])
        if provision is not None
        else reverse("benchmark:scenario_new")
    )
    return {"form": form, "provision": provision, "action": action, **extra}


@require_http_methods(["GET", "POST"])
@role_required(Role.CURATOR)
def scenario_new(request: AuthedRequest, pk: int | None = None) -> HttpResponse:
    """Write a scenario. From a provision (``pk``) the form starts citing it. A rejected form comes back
    (400) with the reasons and everything typed; a search without JavaScript shows the form again (200)."""
    provision = get_provision_for_user(request, pk) if pk is not None else None
    template = f"{NEW_TEMPLATE}#scenario-form" if request.htmx else NEW_TEMPLATE
    if request.method == "GET":
        initial: dict[str, Any] = {"provisions": [provision.pk] if provision is not None else []}
        return render(request, template, _new_context(ScenarioForm(initial=initial), provision))
    form = ScenarioForm(request.POST)
    if picker.searching(form):
        return render(request, template, _new_context(form, provision))
    if not form.is_valid():
        return render(request, template, _new_context(form, provision), status=400)
    values = form.values()
    try:
        scenario = write_scenario(user=request.user, **values)
    except DuplicateScenario as duplicate:
        form.add_error(None, str(duplicate))
        return render(request, template, _new_context(form, provision, duplicate=duplicate.existing), status=400)
    except ScenarioError as error:
        form.add_error(None, str(error))
        return render(request, template, _new_context(form, provision), status=400)
    messages.success(request, _("Scenario %(pk)d written: a draft, until it is sent to review.") % {"pk": scenario.pk})
    url = reverse("benchmark:scenario", args=[scenario.pk])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@require_POST
@role_required(*SOURCE_ROLES)
def scenario_status(request: AuthedRequest, pk: int) -> HttpResponse:
    """One scenario's workflow move from its page, through the same service (and checks) as the bulk action:
    a scenario edited since the page was loaded is refused with 409, a move the workflow forbids with 400."""
    scenario = get_scenario_for_user(request, pk)
    form = ScenarioStatusForm(request.POST)
    template = "benchmark/scenario_detail.html#scenario-workflow" if request.htmx else "benchmark/scenario_detail.html"
    if not form.is_valid():
        error = _("Choose one of the moves offered on the page.")
        return render(request, template, scenario_context(request, scenario, status_error=error), status=400)
    data = form.cleaned_data
    try:
        moved = change_status(
            scenario.pk,
            data["status"],
            user=request.user,
            expected_version=data["version"],
            confirm_near_duplicates=data["confirm_near_duplicates"],
        )
    except StaleEdit as stale:
        current = get_scenario_for_user(request, stale.current.pk)
        context = scenario_context(request, current, status_error=str(stale))
        return render(request, template, context, status=409)
    except ScenarioError as error:
        return render(request, template, scenario_context(request, scenario, status_error=str(error)), status=400)
    label = ScenarioStatus(moved.status).label
    if request.htmx:
        fresh = get_scenario_for_user(request, moved.pk)
        context = scenario_context(request, fresh, status_message=_("Now: %(status)s.") % {"status": label})
        return render(request, template, context)
    messages.success(request, _("Scenario %(pk)d is now: %(status)s.") % {"pk": moved.pk, "status": label})
    return redirect("benchmark:scenario", pk=moved.pk)
