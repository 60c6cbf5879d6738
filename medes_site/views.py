"""The project-wide pages: health check, lock-out, the home page and each role's home, and the jobs pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from medes_site import files, jobs
from medes_site.context_processors import JOB_ROLES
from medes_site.forms import JobFilterForm, SelfCheckForm
from medes_site.home import panels_for
from medes_site.http import AuthedRequest, Request
from medes_site.jobkinds import SELFCHECK_JOBS
from medes_site.models import Job
from medes_site.paging import paginate
from medes_site.roles import Role, role_required, user_roles

JOBS_PER_PAGE = 25


@require_GET
def healthz(request: Request) -> JsonResponse:
    """For load balancers: the process is up and the database answers (200), or it does not (503, JSON)."""
    from medes_site.dbhealth import database_answers
    from medes_site.middleware import DB_UNAVAILABLE_RETRY_AFTER, mark_database_unavailable

    if database_answers(connection.alias):
        return JsonResponse({"status": "ok"})
    mark_database_unavailable(request)
    response = JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    response["Retry-After"] = str(DB_UNAVAILABLE_RETRY_AFTER)
    return response


def locked_out(request: Request, original_response: HttpResponse | None, credentials: object) -> HttpResponse:
    """django-axes calls this when sign-in for a username and address is paused after repeated failures."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


@require_GET
@login_required
def home(request: AuthedRequest) -> HttpResponse:
    """Send the user to the home page of their first role; a user with no role is told whom to ask."""
    roles = user_roles(request.user)
    first = next((role for role in Role if role in roles), None)
    if first is None:
        return render(request, "home/no_role.html", status=403)
    return redirect("role_home", role=first.value)


@require_GET
@role_required(*Role)
def role_home(request: AuthedRequest, role: str) -> HttpResponse:
    try:
        chosen = Role(role)
    except ValueError:
        raise Http404 from None
    if chosen not in user_roles(request.user):
        raise PermissionDenied
    recent = jobs.jobs_for_user(request.user).select_related("triggered_by")[:5] if chosen in JOB_ROLES else []
    context = {"role": chosen, "recent_jobs": recent, "panels": panels_for(request, chosen)}
    return render(request, f"home/{chosen.value}.html", context)


# --- jobs -----------------------------------------------------------------------------------------


def get_job_for_user(request: AuthedRequest, pk: int) -> Job:
    job = jobs.jobs_for_user(request.user).select_related("triggered_by").filter(pk=pk).first()
    if job is None:
        raise Http404
    return job


@require_GET
@role_required(*JOB_ROLES)
def job_list(request: AuthedRequest) -> HttpResponse:
    form = JobFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "jobs/list.html", {"form": form, "page": None}, status=400)
    queryset = jobs.jobs_for_user(request.user).select_related("triggered_by")
    if form.cleaned_data["kind"]:
        queryset = queryset.filter(kind=form.cleaned_data["kind"])
    if form.cleaned_data["status"]:
        queryset = queryset.filter(status=form.cleaned_data["status"])
    startable = [kind for kind in jobs.REGISTRY.values() if jobs.may_start(request.user, kind)]
    context = {
        "form": form,
        "selfcheck_form": SelfCheckForm(),
        "startable": startable,
        **paginate(request, queryset, form.cleaned_data["page"], JOBS_PER_PAGE),
    }
    template = "jobs/list.html#job-table" if request.htmx else "jobs/list.html"
    return render(request, template, context)


@require_POST
@role_required(*JOB_ROLES)
def job_start_selfcheck(request: AuthedRequest) -> HttpResponse:
    """A worker self-check on the queue asked for (``default`` when none is given)."""
    if not jobs.may_start(request.user, jobs.get_kind(SELFCHECK_JOBS["default"])):
        raise PermissionDenied
    form = SelfCheckForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text())
    kind = jobs.get_kind(SELFCHECK_JOBS[form.cleaned_data["queue"] or "default"])
    config = {k: v for k, v in form.cleaned_data.items() if k not in ("request_key", "queue")}
    try:
        job = jobs.enqueue_job(
            kind.name, config, user=request.user, request=request, request_key=form.cleaned_data["request_key"] or None
        )
    except jobs.JobError as error:
        return HttpResponseBadRequest(str(error))
    return _to_job(request, job)


@require_GET
@role_required(*JOB_ROLES)
def job_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request, pk)
    template = "jobs/detail.html#job-status" if request.htmx else "jobs/detail.html"
    return render(request, template, _job_context(request, job))


@require_GET
@role_required(*JOB_ROLES)
def job_artifact(request: AuthedRequest, pk: int, index: int) -> HttpResponse | FileResponse:
    """A file a job wrote, always as an attachment, only from under ARTIFACTS_ROOT."""
    job = get_job_for_user(request, pk)
    if not jobs.may_see_outputs(request.user, job) or not 0 <= index < len(job.artifacts):
        raise Http404
    try:
        path = files.stored_path(str(job.artifacts[index].get("path", "")))
    except files.UnsafePathError:
        raise Http404 from None
    return files.attachment(path, path.name)


@require_POST
@role_required(*JOB_ROLES)
def job_cancel(request: AuthedRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request, pk)
    if not _may_manage(request, job):
        raise PermissionDenied
    job = jobs.cancel_job(job, user=request.user, request=request)
    return _to_job(request, job)


@require_POST
@role_required(*JOB_ROLES)
def job_resume(request: AuthedRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request, pk)
    if not _may_manage(request, job):
        raise PermissionDenied
    try:
        if not jobs.may_start(request.user, jobs.get_kind(job.kind)):
            raise PermissionDenied  # resuming starts the work again: the role to start it is needed now
        job = jobs.resume_job(job, user=request.user, request=request)
    except jobs.JobError as error:
        return HttpResponse(str(error), status=409)
    return _to_job(request, job)


def _job_context(request: AuthedRequest, job: Job) -> dict[str, object]:
    return {
        "job": job,
        "may_manage": _may_manage(request, job),
        "outputs_visible": jobs.may_see_outputs(request.user, job),
    }


def _may_manage(request: AuthedRequest, job: Job) -> bool:
    return Role.ML_ENGINEER in user_roles(request.user) or job.triggered_by_id == request.user.pk


def _to_job(request: AuthedRequest, job: Job) -> HttpResponse:
    """htmx gets the refreshed status fragment; a plain form post is redirected to the job page."""
    if request.htmx:
        response = render(request, "jobs/detail.html#job-status", _job_context(request, job))
        response["HX-Trigger"] = "job-changed"
        return response
    return redirect(reverse("jobs:detail", args=[job.pk]))


def favicon(request: HttpRequest) -> HttpResponse:
    """Pages without our <link rel=icon> (the admin's, a downloaded file's) make the browser ask for
    /favicon.ico: a temporary redirect to the icon, resolved per request (its hashed name changes)."""
    from django.templatetags.static import static

    return redirect(static("favicon.svg"))
