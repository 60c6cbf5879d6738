"""Re-citing on screen: for a new version of a source, each scenario still citing the version it supersedes, with
the new version's matching article shown as a diff and re-cited in one click (singly, several, or every one with
a match), and the provision picker (benchmark.picker) where no article matches (benchmark.recite)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from benchmark import picker
from benchmark.models import Amendment, Provision, Scenario
from benchmark.picker import ProvisionPickerField
from benchmark.recite import Proposal, citing, matches, proposals, recite, recite_many
from benchmark.scenarios import ScenarioError, StaleEdit
from benchmark.views import SOURCE_ROLES, get_source_for_user
from medes_site.http import AuthedRequest
from medes_site.paging import paginate
from medes_site.roles import Role, has_role, role_required

PICKS_LIMIT = 2000  # one bulk request re-cites at most this many citations
PER_PAGE = 100  # scenarios a page, each with its citations and their diffs


class ReciteForm(forms.Form):
    """One citation to re-cite: the scenario at the version the curator saw, its old article, the new one."""

    scenario = forms.IntegerField(min_value=1)
    old = forms.IntegerField(min_value=1, label=gettext_lazy("Cited article"))
    new = forms.IntegerField(
        min_value=1,
        label=gettext_lazy("New article"),
        error_messages={"required": gettext_lazy("Choose the new version's article to cite.")},
    )
    version = forms.IntegerField(min_value=1)


def _pick(value: str) -> tuple[int, int, int, int]:
    parts = value.split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise forms.ValidationError(_("The selection could not be read; reload the page."))
    scenario, old, new, version = (int(p) for p in parts)
    return scenario, old, new, version


class BulkReciteForm(forms.Form):
    """Several citations, each ``scenario:old:new:version`` as the page showed it."""

    pick = forms.MultipleChoiceField(
        required=False, error_messages={"invalid_choice": gettext_lazy("The selection could not be read.")}
    )
    everything = forms.BooleanField(required=False)
    matched = forms.MultipleChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("pick", "matched"):  # values are checked by clean, not against a list of choices
            self.fields[name].valid_value = lambda value: True  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = data.get("matched") if data.get("everything") else data.get("pick")
        if not chosen:
            raise forms.ValidationError(_("Select at least one scenario to re-cite."))
        if len(chosen) > PICKS_LIMIT:
            raise forms.ValidationError(_("Re-cite at most %(n)d citations at a time.") % {"n": PICKS_LIMIT})
        data["picks"] = [_pick(value) for value in chosen]
        return data


def get_amendment_for_user(request: AuthedRequest, pk: int) -> Amendment:
    """The comparison of source ``pk`` (the new version) with the source it supersedes; 404 without one."""
    source = get_source_for_user(request, pk)
    amendment = Amendment.objects.filter(new_source=source).select_related("old_source", "new_source").first()
    if amendment is None:
        raise Http404
    return amendment


class PageForm(forms.Form):
    page = forms.IntegerField(min_value=1, required=False)


def _context(request: AuthedRequest, amendment: Amendment, **extra: Any) -> dict[str, Any]:
    form = PageForm(request.GET)
    number = form.cleaned_data["page"] if form.is_valid() else None
    paged = paginate(request, citing(amendment), number, PER_PAGE)
    found = proposals(amendment, paged["page"].object_list)
    return {
        "amendment": amendment,
        "source": amendment.new_source,
        "proposals": found,
        "matched": [
            f"{p.scenario.pk}:{c.old.pk}:{c.new.pk}:{p.scenario.version}"
            for p in found
            for c in p.matched
            if c.new is not None
        ],
        "unmatched": sum(1 for p in found for c in p.citations if c.new is None),
        "may_recite": has_role(request.user, Role.CURATOR),
        **paged,
        **extra,
    }


@require_GET
@role_required(*SOURCE_ROLES)
def recite_page(request: AuthedRequest, pk: int) -> HttpResponse:
    """The scenarios still citing the superseded version, each citation with its proposed new article."""
    amendment = get_amendment_for_user(request, pk)
    if not PageForm(request.GET).is_valid():
        error = _("The page number must be a whole number from 1.")
        return render(request, "benchmark/recite.html", _context(request, amendment, error=error), status=400)
    return render(request, "benchmark/recite.html", _context(request, amendment))


def _scenario_proposal(amendment: Amendment, scenario_id: int) -> Proposal | None:
    found = proposals(amendment, Scenario.objects.filter(pk=scenario_id).select_related("scene"))
    return found[0] if found else None


def _row_response(
    request: AuthedRequest, amendment: Amendment, scenario: Scenario, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The scenario's row as it is now (re-cited: it no longer cites the old version, and says so)."""
    proposal = _scenario_proposal(amendment, scenario.pk) or Proposal(scenario, False, [])
    context = {"amendment": amendment, "source": amendment.new_source, "may_recite": True, "p": proposal, **extra}
    return render(request, "benchmark/recite.html#recite-row", context, status=status)


@require_POST
@role_required(Role.CURATOR)
def recite_one(request: AuthedRequest, pk: int) -> HttpResponse:
    """Re-cite one citation of one scenario: htmx gets the scenario's row back, a plain form a redirect; a
    scenario saved since the page was loaded is 409 with its current state."""
    amendment = get_amendment_for_user(request, pk)
    form = ReciteForm(request.POST)
    if not form.is_valid():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
        if request.htmx and form.cleaned_data.get("scenario"):
            scenario = Scenario.objects.filter(pk=form.cleaned_data["scenario"]).first()
            if scenario is not None:
                return _row_response(request, amendment, scenario, status=400, error=message)
        return render(request, "benchmark/recite.html", _context(request, amendment, error=message), status=400)
    data = form.cleaned_data
    scenario = Scenario.objects.filter(pk=data["scenario"]).first()
    if scenario is None or not amendment.old_source.provisions.filter(pk=data["old"]).exists():
        raise Http404
    try:
        done = recite(scenario.pk, {data["old"]: data["new"]}, expected_version=data["version"], user=request.user)
    except StaleEdit as stale:
        message = _("Someone else saved this scenario meanwhile (now version %(v)d); check it and re-cite again.") % {
            "v": stale.current.version
        }
        if request.htmx:
            return _row_response(request, amendment, stale.current, status=409, error=message)
        return render(request, "benchmark/recite.html", _context(request, amendment, error=message), status=409)
    except ScenarioError as error:
        if request.htmx:
            return _row_response(request, amendment, scenario, status=400, error=str(error))
        return render(request, "benchmark/recite.html", _context(request, amendment, error=str(error)), status=400)
    new = Provision.objects.select_related("source").get(pk=data["new"])
    message = _("Scenario %(pk)d now cites %(new)s.") % {"pk": done.pk, "new": new}
    if request.htmx:
        return _row_response(request, amendment, done, done_message=message)
    messages.success(request, message)
    return redirect("benchmark:source_recite", pk=amendment.new_source_id)


@require_POST
@role_required(Role.CURATOR)
def recite_bulk(request: AuthedRequest, pk: int) -> HttpResponse:
    """Re-cite the selected citations, or every one with a match; scenarios saved meanwhile are left alone."""
    amendment = get_amendment_for_user(request, pk)
    form = BulkReciteForm(request.POST)
    if not form.is_valid():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return render(request, "benchmark/recite.html", _context(request, amendment, error=message), status=400)
    scope = set(amendment.old_source.provisions.values_list("pk", flat=True))
    picks = [pick for pick in form.cleaned_data["picks"] if pick[1] in scope]
    result = recite_many(picks, user=request.user)
    n = len(result.done)
    messages.success(request, ngettext("%(n)d scenario re-cited.", "%(n)d scenarios re-cited.", n) % {"n": n})
    if result.stale:
        messages.warning(
            request,
            _("Saved by someone else meanwhile, so left alone: %(ids)s. Check them and re-cite again.")
            % {"ids": ", ".join(f"#{pk}" for pk in result.stale)},
        )
    for line in result.refused[:20]:
        messages.warning(request, line)
    return redirect("benchmark:source_recite", pk=amendment.new_source_id)


class ChooseQuery(forms.Form):
    scenario = forms.IntegerField(min_value=1)
    old = forms.IntegerField(min_value=1)


class ChooseForm(forms.Form):
    """The article to cite instead of ``old``, chosen with the provision picker (one)."""

    scenario = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    old = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    new = ProvisionPickerField(label=gettext_lazy("Article to cite instead"))

    def clean_new(self) -> list[Provision]:
        chosen: list[Provision] = self.cleaned_data["new"]
        if len(chosen) != 1:
            raise forms.ValidationError(_("Choose exactly one article of the new version to cite."))
        return chosen


def _choose(request: AuthedRequest, amendment: Amendment, form: ChooseForm, status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {"amendment": amendment, "source": amendment.new_source, "form": form}
    scenario_id, old_id = str(form["scenario"].value() or ""), str(form["old"].value() or "")
    if status == 400 and not (scenario_id.isdigit() and old_id.isdigit()):
        context["error"] = _("Open this page from a scenario's citation on the re-cite page.")
        return render(request, "benchmark/recite_choose.html", context, status=400)
    scenario = Scenario.objects.filter(pk=scenario_id).select_related("scene").first()
    old = amendment.old_source.provisions.select_related("source").filter(pk=old_id).first()
    if scenario is None or old is None:
        raise Http404
    context |= {"scenario": scenario, "old": old, "proposed": matches(amendment, [old])[old.pk]}
    if not scenario.provisions.filter(pk=old.pk).exists():
        context["error"] = _("Scenario %(pk)d does not cite %(label)s.") % {"pk": scenario.pk, "label": old}
        status = 400
    return render(request, "benchmark/recite_choose.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required(Role.CURATOR)
def recite_choose(request: AuthedRequest, pk: int) -> HttpResponse:
    """Choose the article to cite by hand, with the provision picker (benchmark.picker), when no article of the
    new version matches or the proposed one is not the right one."""
    amendment = get_amendment_for_user(request, pk)
    if request.method == "GET":
        query = ChooseQuery(request.GET)
        if not query.is_valid():
            return _choose(request, amendment, ChooseForm(), status=400)
        scenario = Scenario.objects.filter(pk=query.cleaned_data["scenario"]).first()
        initial = {**query.cleaned_data, "version": scenario.version if scenario is not None else None}
        return _choose(request, amendment, ChooseForm(initial=initial))
    form = ChooseForm(request.POST)
    if picker.searching(form):
        return _choose(request, amendment, form)
    if not form.is_valid():
        return _choose(request, amendment, form, status=400)
    data = form.cleaned_data
    old = amendment.old_source.provisions.filter(pk=data["old"]).first()
    if old is None or not Scenario.objects.filter(pk=data["scenario"]).exists():
        raise Http404
    new = data["new"][0]
    try:
        done = recite(data["scenario"], {old.pk: new.pk}, expected_version=data["version"], user=request.user)
    except StaleEdit as stale:
        form.add_error(
            None,
            _("Someone else saved this scenario meanwhile (now version %(v)d); check it and re-cite again.")
            % {"v": stale.current.version},
        )
        return _choose(request, amendment, form, status=409)
    except ScenarioError as error:
        form.add_error(None, str(error))
        return _choose(request, amendment, form, status=400)
    messages.success(request, _("Scenario %(pk)d now cites %(new)s.") % {"pk": done.pk, "new": new})
    return redirect("benchmark:source_recite", pk=amendment.new_source_id)
