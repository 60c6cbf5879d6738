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
from annotation.review import annotates_in_release, release_being_labeled
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
        values = [(row["per_scene"].get(s) or {}).get("comprehensive") for s in ordered]
        # Comprehensive runs from −1 to 1: a bar's width is its share of that range
        row["scene_values"] = [(v, None if v is None else round((v + 1) * 50)) for v in values]
    return rows, ordered


SCATTER = {"width": 360, "height": 240, "pad": 36, "x_end": 360 - 36, "y_end": 240 - 36}


def _scatter(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Risk (x, 0..1) against Quality (y, 0..1) per row, in the SVG's pixel coordinates."""
    w, h, pad = SCATTER["width"], SCATTER["height"], SCATTER["pad"]
    points = []
    for row in rows:
        risk, quality = row["figures"]["risk"]["value"], row["figures"]["quality"]["value"]
        if risk is None or quality is None:
            continue
        x, y = pad + risk * (w - 2 * pad), h - pad - quality * (h - 2 * pad)
        points.append({"label": row["run"].model.name, "risk": risk, "quality": quality, "x": round(x, 1),
                       "y": round(y, 1), "label_x": round(x + 6, 1), "label_y": round(y - 6, 1)})  # fmt: skip
    return points


def _comparison(request: HttpRequest, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Base against another run on the same open cases: the largest regressions and gains."""
    from alignment.evaluation import WEIGHTS
    from alignment.evaluation_metrics import paired_differences
    from benchmark.models import Scenario

    runs = {str(row["run"].pk): row["run"] for row in rows}
    base, other = runs.get(request.GET.get("base", "")), runs.get(request.GET.get("other", ""))
    if base is None or other is None or base == other:
        return None
    weights = WEIGHTS.get(base.options.get("weights", "plain"))
    pairs, unmatched = paired_differences(base.results.get("items", []), other.results.get("items", []),
                                          weights=weights)  # fmt: skip
    stems = dict(Scenario.objects.filter(pk__in=[p["item"] for p in pairs]).values_list("pk", "stem"))
    for pair in pairs:
        pair["stem"] = stems.get(pair["item"], "")
    return {"base": base, "other": other, "n": len(pairs), "unmatched": unmatched,
            "regressions": [p for p in pairs if p["delta"] < 0][:10],
            "gains": [p for p in reversed(pairs) if p["delta"] > 0][:10]}  # fmt: skip


def shown(request: HttpRequest, release: Release, *, public: bool) -> str:
    """What of a release's results this visitor sees: ``items`` (the item-by-item comparison too: reviewers and
    ML engineers who label none of its answers), else ``aggregates`` (annotators, curators, the public, and those
    who label some of its answers), or ``none`` for all of those while its answers are labeled in an active
    campaign."""
    reviews = not public and has_role(request.user, Role.REVIEWER, Role.ML_ENGINEER)
    if reviews and not annotates_in_release(request.user, release.pk):
        return "items"
    return "none" if release_being_labeled(release.pk) else "aggregates"


def _context(request: HttpRequest, release: Release, *, public: bool) -> dict[str, Any]:
    sort = request.GET.get("sort", "comprehensive")
    level = shown(request, release, public=public)
    rows, scenes = _rows(release, sort) if level != "none" else ([], [])
    comparison = _comparison(request, rows) if level == "items" else None
    return {"release": release, "rows": rows, "scenes": scenes, "sort": sort, "columns": list(COLUMNS),
            "public": public, "scatter": _scatter(rows), "chart": SCATTER, "comparison": comparison,
            "shown": level}  # fmt: skip


@require_GET
@role_required(*READERS)
def leaderboard_home(request: AuthedRequest) -> HttpResponse:
    release = Release.objects.filter(evaluations__status=EvaluationStatus.SUCCEEDED).first() or Release.objects.first()
    if release is None:
        return render(request, "alignment/leaderboard.html", {"release": None, "releases": []})
    return redirect("leaderboard:release", pk=release.pk)


@require_GET
@role_required(*READERS)
def leaderboard(request: AuthedRequest, pk: int) -> HttpResponse:
    return _leaderboard_page(request, pk)


def _leaderboard_page(
    request: AuthedRequest, pk: int, form: EvaluateForm | None = None, status: int = 200
) -> HttpResponse:
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
    return _leaderboard_page(request, pk, form=form, status=400)  # the page again, with the form's errors


@require_GET
def public_leaderboard(request: HttpRequest, pk: int) -> HttpResponse:
    """Read-only, no account needed: what outside researchers see of a published release's results."""
    release = Release.objects.filter(pk=pk).first()
    if release is None:
        raise Http404
    return render(request, "alignment/leaderboard.html", _context(request, release, public=True))
