"""The guardian page: versions with their metrics beside the active version's, training, promotion and
rollback, and judging runs. ML engineers act; reviewers and curators read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alignment import charts, services
from alignment.forms import FEEDBACK_FIELDS, JudgeForm, PromoteForm, ReviewForm, TrainForm
from alignment.kinds import JUDGE_JOB, PROMPT_JUDGE_JOB, TRAIN_JOB
from alignment.models import EvaluationRun, GuardianVersion, Judgement
from alignment.promotion import check as check_promotion
from alignment.visibility import READERS as LEADERBOARD_READERS
from alignment.visibility import evaluation_runs_for_user, may_see_run_errors, shown
from annotation.forms_label import score_field
from annotation.schema import MEDES_RUBRIC, LabelError
from medes_site.http import AuthedRequest
from medes_site.jobs import JobError, enqueue_job
from medes_site.models import Job
from medes_site.roles import Role, has_role, role_required
from rubric import SCORE_KEYS

READERS = (Role.ML_ENGINEER, Role.REVIEWER, Role.CURATOR)
FIGURES = ("accuracy", "precision", "recall", "f1", "ece")


def start_job(
    request: AuthedRequest, form: forms.Form, job: Callable[[], tuple[str, dict[str, Any]]], started: str
) -> HttpResponse | None:
    """Start the job a submitted form asks for (``job()``: its kind and config, asked once the form is valid) and
    go to its page, saying ``started`` (a message with ``%(job)d``). A repeated submit of the same form (its
    ``request_key``) goes to the job the first one started. None when the form is invalid or the job cannot
    start: the errors are on the form, for the caller's page to show again with status 400."""
    if not form.is_valid():
        return None
    try:
        kind, config = job()
        created = enqueue_job(
            kind, config, user=request.user, request=request, request_key=form.cleaned_data["request_key"] or None
        )
    except JobError as error:
        form.add_error(None, str(error))
        return None
    messages.success(request, started % {"job": created.pk})
    return redirect("jobs:detail", pk=created.pk)


def get_version(number: int) -> GuardianVersion:
    version = GuardianVersion.objects.filter(number=number).first()
    if version is None:
        raise Http404
    return version


def _page(
    request: AuthedRequest, *, train: TrainForm | None = None, judge: JudgeForm | None = None, status: int = 200
) -> HttpResponse:
    versions = list(GuardianVersion.objects.all()[:50])
    context = {
        "versions": versions,
        "versions_chart": charts.versions_chart(versions),
        "active": services.active_version(),
        "may_act": has_role(request.user, Role.ML_ENGINEER),
        "may_review": has_role(request.user, Role.REVIEWER),
        "train_form": train or TrainForm(initial={"base_model": _last_base()}),
        "judge_form": judge or JudgeForm(),
        "jobs": Job.objects.filter(kind__in=(TRAIN_JOB, JUDGE_JOB, PROMPT_JUDGE_JOB)).order_by("-pk")[:10],
    }
    return render(request, "alignment/guardian.html", context, status=status)


def _last_base() -> str:
    last = GuardianVersion.objects.first()
    return last.base_model if last else ""


@require_GET
@role_required(*READERS)
def guardian(request: AuthedRequest) -> HttpResponse:
    return _page(request)


def _rows(version: GuardianVersion) -> list[dict[str, Any]]:
    """Per score and for the risk flag: this version's figures beside the active version's on the same split."""
    mine, theirs = version.metrics or {}, (version.baseline or {}).get("metrics") or {}
    rows = []
    for key in (*SCORE_KEYS, "risk"):
        a = mine.get("risk") if key == "risk" else (mine.get("per_score") or {}).get(key)
        b = theirs.get("risk") if key == "risk" else (theirs.get("per_score") or {}).get(key)
        rows.append(
            {
                "key": key,
                "figures": [(name, (a or {}).get(name), (b or {}).get(name)) for name in FIGURES],
                "confusion": (a or {}).get("confusion"),
            }
        )
    return rows


def _version_page(
    request: AuthedRequest,
    version: GuardianVersion,
    *,
    confirm: str = "",
    against: int | None = None,
    status: int = 200,
) -> HttpResponse:
    """The version's page; ``confirm``: the warning a promotion needs confirmed, for the active version
    ``against`` (posted back with the confirmation)."""
    may_act = has_role(request.user, Role.ML_ENGINEER)
    pending = None  # what promoting it would mean, shown before anyone clicks
    if may_act and not version.is_active and version.status == "ready":
        pending = check_promotion(version, services.active_version())
    rows = _rows(version)
    context = {
        "version": version,
        "rows": rows,
        # the charts (alignment.charts): a heat map beside each confusion table, and the reliability diagram
        "confusions": [
            {"key": row["key"], "confusion": row["confusion"], "chart": chart, "chart_id": f"confusion-{row['key']}"}
            for row in rows
            if (chart := charts.confusion(row["key"], {"confusion": row["confusion"]})) is not None
        ],
        "calibration": charts.calibration(version),
        "may_act": may_act,
        "baseline_error": (version.baseline or {}).get("error", ""),
        "compared_with": (version.baseline or {}).get("model_dir", ""),
        "confirm": confirm,
        "against": against,
        "pending": pending.message() if pending is not None else "",
    }
    return render(request, "alignment/guardian_version.html", context, status=status)


@require_GET
@role_required(*READERS)
def version_detail(request: AuthedRequest, number: int) -> HttpResponse:
    return _version_page(request, get_version(number))


@require_POST
@role_required(Role.ML_ENGINEER)
def train(request: AuthedRequest) -> HttpResponse:
    form = TrainForm(request.POST)
    started = start_job(request, form, lambda: (TRAIN_JOB, form.job_config()), _("Training started as job %(job)d."))
    return started if started is not None else _page(request, train=form, status=400)


@require_POST
@role_required(Role.ML_ENGINEER)
def promote(request: AuthedRequest, number: int) -> HttpResponse:
    version = get_version(number)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The confirmation was not understood: make the version active again."))
        return _version_page(request, version, status=400)
    try:
        services.promote(version, user=request.user, **form.promote_options())
    except services.PromotionNeedsConfirmationError as needed:  # the page again, with the drop named: nothing changed
        return _version_page(request, version, confirm=str(needed), against=needed.check.active_pk)
    except services.GuardianError as error:
        messages.error(request, str(error))
        return redirect("alignment:guardian_version", number=number)
    messages.success(request, _("Guardian v%(n)d is now active.") % {"n": version.number})
    return redirect("alignment:guardian_version", number=number)


@require_POST
@role_required(Role.ML_ENGINEER)
def rollback(request: AuthedRequest) -> HttpResponse:
    try:
        version = services.rollback(user=request.user)
    except services.GuardianError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Guardian v%(n)d is now active.") % {"n": version.number})
    return redirect("alignment:guardian")


@require_POST
@role_required(Role.ML_ENGINEER)
def judge(request: AuthedRequest) -> HttpResponse:
    form = JudgeForm(request.POST)
    started = start_job(request, form, form.job, _("Judging started as job %(job)d."))
    return started if started is not None else _page(request, judge=form, status=400)


# --- reviewing the guardian's judgements (reviewers) -----------------------------------------------------


@require_GET
@role_required(Role.REVIEWER)
def review_next(request: AuthedRequest) -> HttpResponse:
    """The next judgement to review: disagreements with an expert label first, then the least certain."""
    queue = services.review_queue(request.user)
    if not queue:
        return render(request, "alignment/guardian_review.html", {"judgement": None})
    return redirect("alignment:guardian_review", pk=queue[0].pk)


def _review_dimensions(
    judgement: Judgement, chosen: dict[str, Any], expert: dict[str, int] | None
) -> list[dict[str, Any]]:
    rows = []
    for d in MEDES_RUBRIC.dimensions:
        keys = list(d.shortcut_keys) + [""] * (len(d.values) - len(d.shortcut_keys))
        rows.append(
            {
                "key": d.key,
                "label": d.label,
                "field": score_field(d.key),
                "probability": (judgement.probabilities or {}).get(d.key),
                "guardian": (judgement.scores or {}).get(d.key),
                "expert": (expert or {}).get(d.key),
                "options": [
                    {"value": v, "key": k, "checked": str(v) == str(chosen.get(d.key, ""))}
                    for v, k in zip(d.values, keys, strict=True)
                ],
            }
        )
    return rows


def shown_uncertainty(judgement: Judgement) -> float | None:
    """The judgement's uncertainty as reviewers read it, 0 (every score certain) to 1 (a score at a coin toss).
    The row stores the least certain score's distance from 0.5 (0…0.5, the queue's sort key, lowest first):
    that is certainty, so it is turned round here. None for a judge without probabilities."""
    if judgement.uncertainty is None:
        return None
    return round(max(0.0, min(1.0, 1 - 2 * judgement.uncertainty)), 3)


@require_http_methods(["GET", "POST"])
@role_required(Role.REVIEWER)
def review(request: AuthedRequest, pk: int) -> HttpResponse:
    judgement = (
        services.judgements_for_reviewer(request.user)
        .filter(pk=pk, scores__isnull=False)
        .select_related("response__scenario__scene", "response__model", "version", "reviewed_by")
        .first()
    )
    if judgement is None:
        raise Http404
    expert = services.expert_scores([judgement.response_id], request.user).get(judgement.response_id)
    form = ReviewForm(request.POST or None)
    status, message = 200, ""
    if request.method == "POST":
        if request.POST.get("action") == "skip":
            services.skip_judgement(judgement)
            return redirect("alignment:guardian_review_next")
        if form.is_valid():
            try:
                services.accept_judgement(
                    judgement, request.user, form.scores(), feedback=form.feedback(), note=form.cleaned_data["note"]
                )
            except (services.GuardianError, LabelError) as error:
                status, message = 409 if isinstance(error, services.GuardianError) else 400, str(error)
            else:
                messages.success(request, _("Saved as an accepted label; the next training uses it."))
                return redirect("alignment:guardian_review_next")
        else:
            status = 400
    chosen = (
        {d.key: form.data[score_field(d.key)] for d in MEDES_RUBRIC.dimensions if score_field(d.key) in form.data}
        if form.is_bound
        else (judgement.scores or {})
    )
    feedback = judgement.feedback or {}
    critic = feedback.get("critic") or {}
    shown = feedback.get("reviewed") or critic.get("feedback") or {}  # what the form starts from
    if form.is_bound:
        shown = {key: form.data.get("rationale" if key == "problem" else key, "") for key in FEEDBACK_FIELDS}
    context = {
        "judgement": judgement,
        "judge": services.judge_name(judgement),
        "uncertainty": shown_uncertainty(judgement),
        "expert": expert,
        "form": form,
        "message": message,
        "dimensions": _review_dimensions(judgement, chosen, expert),
        "feedback": shown,
        "critic": critic,
        "replies": feedback.get("replies") or {},
        "reviewed": judgement.decision != "",
    }
    return render(request, "alignment/guardian_review.html", context, status=status)


# --- one evaluation's results (issue 14, item 7) -----------------------------------------------------------


def get_evaluation(request: AuthedRequest, pk: int) -> tuple[EvaluationRun, str]:
    """An evaluation run and what of it this user sees (the leaderboard's rule: ``items`` for reviewers and ML
    engineers who label none of the release's answers, ``aggregates`` for other readers, ``none`` while the
    release's answers are labeled in an active campaign); 404 when there is none to see, or when the run did not
    succeed and the user is no ML engineer (alignment.visibility.evaluation_runs_for_user)."""
    run = evaluation_runs_for_user(request.user).filter(pk=pk).first()
    if run is None:
        raise Http404
    return run, shown(request.user, run.release, public=False)


def _row_counts(subjective: dict[str, Any]) -> dict[str, int | None]:
    """The rows Risk, Quality and Comprehensive are each over (a 0 is shown as 0). Results stored before the
    publishers' counts (issue 14, item 3) carry only ``n``, the rows all three were over then."""
    n = subjective.get("n")
    risk, final = subjective.get("n_valid_risk", n), subjective.get("n_valid_final", n)
    return {"risk": risk, "quality": subjective.get("n_valid_quality"), "final": final}


@require_GET
@role_required(*LEADERBOARD_READERS)
def evaluation_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    """The results of one evaluation: the figures with their counts, and the answers that were failures before
    any judge read them (degenerate: the reason and the start of the answer) or could not be read."""

    run, level = get_evaluation(request, pk)
    results = run.results or {}
    subjective = results.get("subjective") or {}
    context = {
        "run": run,
        "judge": run.judge_label,
        "shown": level,
        "counts": results.get("counts") or {},
        "error": run.error if may_see_run_errors(request.user) else "",
        "objective": results.get("objective") if level != "none" else None,
        "subjective": results.get("subjective") if level != "none" else None,
        "rows": _row_counts(subjective),
        "degenerate": results.get("degenerate_items") or [] if level == "items" else [],
        "unextractable": results.get("unextractable_items") or [] if level == "items" else [],
    }
    return render(request, "alignment/evaluation.html", context)
