"""The leaderboard (issue 6, item 5): models × metrics on one frozen release, sortable, with a per-scene
breakdown; ML engineers start evaluations from it; a read-only public copy needs no account."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from alignment.forms import EvaluateForm
from alignment.jobs import EVALUATE_JOB
from alignment.models import EvaluationRun, EvaluationStatus
from benchmark.models import Release
from medes_site.http import AuthedRequest
from medes_site.jobs import JobError, enqueue_job
from medes_site.roles import Role, has_role, role_required

READERS = (Role.ML_ENGINEER, Role.REVIEWER, Role.CURATOR, Role.ANNOTATOR)
# column → (where in the results, lower is better)
COLUMNS: dict[str, tuple[tuple[str, str], bool]] = {
    "accuracy": (("objective", "accuracy"), False),
    "risk": (("subjective", "risk"), True),
    "quality": (("subjective", "quality"), False),
    "comprehensive": (("subjective", "comprehensive"), False),
}


def latest_runs(release: Release) -> list[EvaluationRun]:
    """The newest succeeded run per model, judge and quality weights."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    runs = EvaluationRun.objects.filter(release=release, status=EvaluationStatus.SUCCEEDED).select_related(
        "model", "guardian"
    )
    for run in runs.order_by("-finished_at", "-pk"):
        key = (run.model_id, run.guardian_id, run.judge_model, run.options.get("weights", "plain"))
        if key not in seen:
            seen.add(key)
            kept.append(run)
    return kept


def _figure(run: EvaluationRun, column: str) -> dict[str, Any]:
    (part, name), _lower = COLUMNS[column]
    block = run.results.get(part) or {}
    return {"value": block.get(name), "ci": (block.get("ci") or {}).get(name)}


def _rows(release: Release, sort: str) -> tuple[list[dict[str, Any]], list[str]]:
    rows = []
    scenes: set[str] = set()
    for run in latest_runs(release):
        per_scene = (run.results.get("subjective") or {}).get("per_scene", {})
        scenes.update(per_scene)
        rows.append({"run": run, "figures": {c: _figure(run, c) for c in COLUMNS}, "per_scene": per_scene,
                     "weights": run.options.get("weights", "plain")})  # fmt: skip
    if sort in COLUMNS:
        lower = COLUMNS[sort][1]
        # runs without the figure go last whichever the direction
        rows.sort(key=lambda r: (r["figures"][sort]["value"] is None,
                                 (r["figures"][sort]["value"] or 0) * (1 if lower else -1)))  # fmt: skip
    else:
        rows.sort(key=lambda r: r["run"].model.name)
    ordered = sorted(scenes)
    for row in rows:
        row["scene_values"] = [(row["per_scene"].get(s) or {}).get("comprehensive") for s in ordered]
    return rows, ordered


def _context(request: HttpRequest, release: Release, *, public: bool) -> dict[str, Any]:
    sort = request.GET.get("sort", "comprehensive")
    rows, scenes = _rows(release, sort)
    return {"release": release, "rows": rows, "scenes": scenes, "sort": sort, "columns": list(COLUMNS),
            "public": public}  # fmt: skip


@require_GET
@role_required(*READERS)
def leaderboard_home(request: AuthedRequest) -> HttpResponse:
    release = Release.objects.filter(evaluations__status=EvaluationStatus.SUCCEEDED).first() or Release.objects.first()
    if release is None:
        return render(request, "alignment/leaderboard.html", {"release": None, "releases": []})
    return redirect("leaderboard:release", pk=release.pk)


@require_GET
@role_required(*READERS)
def leaderboard(request: AuthedRequest, pk: int, form: EvaluateForm | None = None, status: int = 200) -> HttpResponse:
    release = Release.objects.filter(pk=pk).first()
    if release is None:
        raise Http404
    context = _context(request, release, public=False)
    context["releases"] = Release.objects.order_by("-pk")[:50]
    if has_role(request.user, Role.ML_ENGINEER):
        context["evaluate_form"] = form or EvaluateForm(initial={"release": release.pk})
        context["running"] = EvaluationRun.objects.filter(release=release, status=EvaluationStatus.RUNNING)
    return render(request, "alignment/leaderboard.html", context, status=status)


@require_POST
@role_required(Role.ML_ENGINEER)
def evaluate(request: AuthedRequest, pk: int) -> HttpResponse:
    form = EvaluateForm(request.POST)
    if form.is_valid():
        try:
            job = enqueue_job(EVALUATE_JOB, form.job_config(), user=request.user, request=request,
                              request_key=form.cleaned_data["request_key"] or None)  # fmt: skip
        except JobError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Evaluation started as job %(job)d.") % {"job": job.pk})
            return redirect("jobs:detail", pk=job.pk)
    request.method = "GET"  # render the page again with the form's errors
    return leaderboard(request, pk, form=form, status=400)


@require_GET
def public_leaderboard(request: HttpRequest, pk: int) -> HttpResponse:
    """Read-only, no account needed: what outside researchers see of a published release's results."""
    release = Release.objects.filter(pk=pk).first()
    if release is None:
        raise Http404
    return render(request, "alignment/leaderboard.html", _context(request, release, public=True))
