"""Views for drafting scenarios from provisions and for the near-duplicate pass."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from benchmark.forms_generation import DraftScenariosForm
from benchmark.views import get_source_for_user
from medes_site import jobs
from medes_site.http import AuthedRequest
from medes_site.roles import Role, role_required


@require_POST
@role_required(Role.CURATOR)
def source_draft(request: AuthedRequest, pk: int) -> HttpResponse:
    """Start a job drafting scenarios from the ticked provisions of this source; follow it on its page.
    A repeated submit of the same form follows the job the first one started."""
    source = get_source_for_user(request, pk)
    form = DraftScenariosForm(source, request.POST)
    if form.is_valid():
        try:
            job = jobs.enqueue_job(
                "benchmark.generate_scenarios",
                form.job_config(),
                user=request.user,
                request=request,
                request_key=form.cleaned_data["request_key"] or None,
            )
        except jobs.JobError as error:
            form.add_error(None, str(error))
        else:
            messages.info(
                request,
                _("Drafting started as job %(pk)s; the drafts appear in the scenario bank as they are written.")
                % {"pk": job.pk},
            )
            return redirect("jobs:detail", pk=job.pk)
    context = {"source": source, "form": form, "provisions": source.provisions.all()}
    return render(request, "benchmark/draft_scenarios.html", context, status=400)


@require_POST
@role_required(Role.CURATOR)
def near_duplicates_refresh(request: AuthedRequest) -> HttpResponse:
    job = jobs.enqueue_job("benchmark.find_near_duplicates", {}, user=request.user, request=request)
    messages.info(request, _("Checking the whole bank for near-duplicates as job %(pk)s.") % {"pk": job.pk})
    return redirect("jobs:detail", pk=job.pk)
