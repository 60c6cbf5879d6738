"""The align pipelines in the app (issue 6, item 6), for ML engineers who are not administrators: start one on a
local model with the action's settings, follow its steps' jobs, and go on after the pair review when the
review gate is on. Reviewers and curators read."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from alignment import pipelines as pipeline_service
from alignment.forms import StartPipelineForm
from alignment.models import AlignPipeline, EvaluationRun, PipelineStatus, PreferencePair, ProposalStatus
from medes_site.http import AuthedRequest
from medes_site.roles import Role, has_role, role_required

READERS = (Role.ML_ENGINEER, Role.REVIEWER, Role.CURATOR)


def _list(request: AuthedRequest, form: StartPipelineForm | None = None, *, status: int = 200) -> HttpResponse:
    shown = list(AlignPipeline.objects.select_related("policy", "release", "aligned", "created_by")[:100])
    jobs = pipeline_service.current_jobs(shown)
    rows = [(p, pipeline_service.blocked(p, jobs)) for p in shown]
    context = {"rows": rows, "form": form or StartPipelineForm(), "may_run": has_role(request.user, Role.ML_ENGINEER)}
    return render(request, "alignment/pipelines.html", context, status=status)


@require_GET
@role_required(*READERS)
def pipelines(request: AuthedRequest) -> HttpResponse:
    return _list(request)


@require_POST
@role_required(Role.ML_ENGINEER)
def start(request: AuthedRequest) -> HttpResponse:
    form = StartPipelineForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            pipeline = pipeline_service.start(
                data["policy"],
                data["release"],
                form.pipeline_options(),
                user=request.user,
                request_key=data["request_key"] or None,
            )
        except pipeline_service.PipelineError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Alignment pipeline %(pk)d started.") % {"pk": pipeline.pk})
            return redirect("alignment:pipeline_detail", pk=pipeline.pk)
    return _list(request, form, status=400)


def _evaluations(pipeline: AlignPipeline) -> dict[str, Any]:
    """The base's and the aligned model's evaluation runs (the two evaluate steps' jobs), for the comparison."""
    runs = {}
    for step in ("evaluate_base", "evaluate_aligned"):
        job_id = pipeline.jobs.get(step)
        runs[step] = EvaluationRun.objects.filter(job_id=job_id).first() if job_id else None
    return runs


@require_GET
@role_required(*READERS)
def detail(request: AuthedRequest, pk: int) -> HttpResponse:
    pipeline = get_object_or_404(AlignPipeline.objects.select_related("policy", "release", "aligned"), pk=pk)
    blocked = pipeline_service.blocked(pipeline)
    pairs = PreferencePair.objects.filter(prompt__policy=pipeline.policy)
    context = {
        "pipeline": pipeline,
        "steps": pipeline_service.steps(pipeline),
        "blocked": blocked,
        "evaluations": _evaluations(pipeline),
        "may_run": has_role(request.user, Role.ML_ENGINEER),
        "pairs": {
            "proposed": pairs.filter(status=ProposalStatus.PROPOSED).count(),
            "accepted": pairs.filter(status=ProposalStatus.ACCEPTED).count(),
        },
        "active": pipeline.status in pipeline_service.ACTIVE and not blocked,  # polling stops when nothing moves
    }
    template = "alignment/pipeline.html#pipeline-status" if request.htmx else None
    return render(request, template or "alignment/pipeline.html", context)


@require_POST
@role_required(Role.ML_ENGINEER)
def continue_after_review(request: AuthedRequest, pk: int) -> HttpResponse:
    pipeline = get_object_or_404(AlignPipeline, pk=pk)
    try:
        pipeline_service.resume_after_review(pipeline, user=request.user)
    except pipeline_service.PipelineError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The accepted pairs are frozen; SFT has started."))
    return redirect("alignment:pipeline_detail", pk=pk)


@require_POST
@role_required(Role.ML_ENGINEER)
def cancel(request: AuthedRequest, pk: int) -> HttpResponse:
    pipeline = pipeline_service.cancel(get_object_or_404(AlignPipeline, pk=pk), user=request.user)
    if pipeline.status == PipelineStatus.CANCELLED:
        messages.success(request, _("The pipeline is cancelled; its current job stops."))
    return redirect("alignment:pipeline_detail", pk=pk)
