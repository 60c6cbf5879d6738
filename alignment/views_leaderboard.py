"""The leaderboard (issue 6, item 5): models × metrics on one frozen release, sortable, with a per-scene
breakdown; ML engineers start evaluations from it; a read-only public copy needs no account.

Below it, the external judges' leaderboard (issue 14, item 4): the MedES publishers' columns per model for the
judged responses imported under an external judge's name (alignment.medes_judged), with a selector when
several judges were imported, and the upload page for those files (curators and ML engineers). The public
copy does not show it (it belongs to no release); a user who labels some of the judged answers does not see
it, nor, while some are labeled in an active campaign, anyone but reviewers and ML engineers.

Who sees what is decided in alignment.visibility, which the evaluation page (alignment.views) asks too."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alignment import charts
from alignment.evaluation import WEIGHTS
from alignment.evaluation_metrics import paired_differences
from alignment.forms import EvaluateForm
from alignment.forms_external import ExternalJudgeForm, JudgedUploadForm
from alignment.kinds import EVALUATE_JOB
from alignment.medes_judged import external_judges, import_judged
from alignment.medes_judged import leaderboard as external_leaderboard
from alignment.models import EvaluationRun, EvaluationStatus
from alignment.views import start_job
from alignment.visibility import READERS, external_visible, shown
from benchmark.importers import ImportFileError
from benchmark.models import Release, Scenario
from medes_site import files
from medes_site.http import AuthedRequest
from medes_site.roles import Role, has_role, role_required
from rubric import SCORE_KEYS

EXTERNAL_IMPORTERS = (Role.CURATOR, Role.ML_ENGINEER)
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
        rows.append(
            {
                "run": run,
                "figures": {c: _figure(run, c) for c in COLUMNS},
                "per_scene": per_scene,
                "weights": run.options.get("weights", "plain"),
            }
        )
    if sort in COLUMNS:
        lower = COLUMNS[sort][1]
        # runs without the figure go last whichever the direction
        rows.sort(
            key=lambda r: (
                r["figures"][sort]["value"] is None,
                (r["figures"][sort]["value"] or 0) * (1 if lower else -1),
            )
        )
    else:
        rows.sort(key=lambda r: r["run"].model.name)
    ordered = sorted(scenes)
    for row in rows:
        values = [(row["per_scene"].get(s) or {}).get("comprehensive") for s in ordered]
        row["scene_values"] = values
    return rows, ordered


def _comparison(request: HttpRequest, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Base against another run on the same open cases: the largest regressions and gains."""
    runs = {str(row["run"].pk): row["run"] for row in rows}
    base, other = runs.get(request.GET.get("base", "")), runs.get(request.GET.get("other", ""))
    if base is None or other is None or base == other:
        return None
    weights = WEIGHTS.get(base.options.get("weights", "plain"))
    pairs, unmatched = paired_differences(
        base.results.get("items", []), other.results.get("items", []), weights=weights
    )
    stems = dict(Scenario.objects.filter(pk__in=[p["item"] for p in pairs]).values_list("pk", "stem"))
    for pair in pairs:
        pair["stem"] = stems.get(pair["item"], "")
    return {
        "base": base,
        "other": other,
        "n": len(pairs),
        "unmatched": unmatched,
        "regressions": [p for p in pairs if p["delta"] < 0][:10],
        "gains": [p for p in reversed(pairs) if p["delta"] > 0][:10],
    }


def _context(request: HttpRequest, release: Release, *, public: bool) -> dict[str, Any]:
    sort = request.GET.get("sort", "comprehensive")
    level = shown(request.user, release, public=public)
    rows, scenes = _rows(release, sort) if level != "none" else ([], [])
    comparison = _comparison(request, rows) if level == "items" else None
    return {
        "release": release,
        "rows": rows,
        "scenes": scenes,
        "sort": sort,
        "columns": list(COLUMNS),
        "public": public,
        "scatter": charts.scatter(rows),
        "heatmap": charts.scene_heatmap(rows, scenes),
        "comparison": comparison,
        "shown": level,
    }


def _external_context(request: AuthedRequest) -> tuple[dict[str, Any], int]:
    """The external judges' section: the chosen judge (the first by default) and its leaderboard rows."""
    judges = external_judges()
    context: dict[str, Any] = {
        "judges": judges,
        "score_keys": SCORE_KEYS,
        "may_import": has_role(request.user, *EXTERNAL_IMPORTERS),
    }
    form = ExternalJudgeForm(judges, {"judge": request.GET.get("judge", "")})
    context["form"] = form
    if not form.is_valid():
        return context, 400
    judge = form.cleaned_data["judge"] or (judges[0] if judges else "")
    if not judge:
        return context, 200
    context["judge"] = judge
    context["shown"] = external_visible(request.user, judge)
    if context["shown"]:
        rows = external_leaderboard(judge)
        for row in rows:
            row["rate_list"] = [row["rates"][key] for key in SCORE_KEYS]
        context["rows"] = rows
    return context, 200


@require_GET
@role_required(*READERS)
def leaderboard_home(request: AuthedRequest) -> HttpResponse:
    release = Release.objects.filter(evaluations__status=EvaluationStatus.SUCCEEDED).first() or Release.objects.first()
    if release is None:
        external, status = _external_context(request)
        context: dict[str, Any] = {"release": None, "releases": [], "external": external}
        return render(request, "alignment/leaderboard.html", context, status=status)
    target = reverse("alignment:leaderboard", args=[release.pk])
    if request.GET.get("judge"):  # the external judge chosen (e.g. after an import) goes along
        target += "?" + urlencode({"judge": request.GET["judge"]})
    return redirect(target)


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
    context["external"], external_status = _external_context(request)
    if has_role(request.user, Role.ML_ENGINEER):
        context["evaluate_form"] = form or EvaluateForm(initial={"release": release.pk})
        context["running"] = EvaluationRun.objects.filter(release=release, status=EvaluationStatus.RUNNING)
    return render(request, "alignment/leaderboard.html", context, status=max(status, external_status))


@require_POST
@role_required(Role.ML_ENGINEER)
def evaluate(request: AuthedRequest, pk: int) -> HttpResponse:
    form = EvaluateForm(request.POST)
    started = start_job(
        request, form, lambda: (EVALUATE_JOB, form.job_config()), _("Evaluation started as job %(job)d.")
    )
    if started is not None:
        return started
    return _leaderboard_page(request, pk, form=form, status=400)  # the page again, with the form's errors


@require_GET
def public_leaderboard(request: HttpRequest, pk: int) -> HttpResponse:
    """Read-only, no account needed: what outside researchers see of a published release's results."""
    release = Release.objects.filter(pk=pk).first()
    if release is None:
        raise Http404
    return render(request, "alignment/leaderboard.html", _context(request, release, public=True))


@require_http_methods(["GET", "POST"])
@role_required(*EXTERNAL_IMPORTERS)
def external_import(request: AuthedRequest) -> HttpResponse:
    """Upload the publishers' judged-responses CSV: a dry run reports the counts, the errors and every row the
    workbench reads differently from score1…score6; an import stores the responses and the external judge's
    judgements and shows its leaderboard. A file with any error imports nothing."""
    form = JudgedUploadForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"form": form}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            sent = request.FILES.get("file")
            name = files.shown_file_name(getattr(sent, "name", "") or "", fallback="upload")
            judge = form.cleaned_data["judge"]
            try:
                report = import_judged(
                    form.cleaned_data["file"],
                    judge=judge,
                    origin_name=name,
                    dry_run=form.cleaned_data["dry_run"],
                    user=request.user,
                    create_questions=form.cleaned_data["create_questions"],
                )
            except ImportFileError as error:
                form.add_error("file", str(error))
            else:
                if report.written:
                    messages.success(request, report.summary())
                    return redirect(reverse("alignment:leaderboards") + "?" + urlencode({"judge": judge}))
                context["report"] = report
                status = 400 if report.errors else 200
    return render(request, "alignment/leaderboard_external_import.html", context, status=status)
