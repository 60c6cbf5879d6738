"""Training data for alignment (issue 6, items 1 and 2): start the jobs that find where a policy fails and pair
answers, review targeted prompts (curators) and pairs (reviewers), freeze datasets and download them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from alignment import alignment_data, services
from alignment.forms import FreezeForm, PairReviewForm, PairsForm, PolicyRunForm, TargetForm
from alignment.kinds import PAIRS_JOB, POLICY_JOB, TARGET_JOB
from alignment.models import AlignmentDataset, PreferencePair, ProposalStatus, TargetedPrompt
from alignment.views import start_job
from annotation.review import blind_response_ids
from medes_site import files
from medes_site.http import AuthedRequest
from medes_site.models import Job
from medes_site.roles import Role, has_role, role_required

READERS = (Role.ML_ENGINEER, Role.REVIEWER, Role.CURATOR)
SHOWN = 200  # rows per list; the proposed ones first


def prompts_for_user(request: AuthedRequest) -> QuerySet[TargetedPrompt]:
    """Targeted prompts, less those grown from an answer the user labels in a campaign (through its judgement, or
    directly for a degenerate answer no judge read): the prompt, the policy's answer in its pairs and the
    guardian's verdict would name the model (blind labeling)."""
    blind = blind_response_ids(request.user)
    return TargetedPrompt.objects.exclude(judgement__response_id__in=blind).exclude(response_id__in=blind)


def pairs_for_user(request: AuthedRequest) -> QuerySet[PreferencePair]:
    """Preference pairs, less those of the prompts the user may not see (``prompts_for_user``)."""
    blind = blind_response_ids(request.user)
    return PreferencePair.objects.exclude(prompt__judgement__response_id__in=blind).exclude(
        prompt__response_id__in=blind
    )


def _page(request: AuthedRequest, *, status: int = 200, **forms: Any) -> HttpResponse:
    prompts = prompts_for_user(request).select_related("policy", "scenario__scene").order_by("-status", "pk")
    pairs = pairs_for_user(request).select_related("prompt__policy").order_by("-status", "pk")
    context = {
        "prompts": prompts[:SHOWN],
        "pairs": pairs[:SHOWN],
        "counts": {
            "prompts": prompts.count(),
            "pairs": pairs.count(),
            "accepted_pairs": pairs.filter(status=ProposalStatus.ACCEPTED).count(),
        },
        "datasets": AlignmentDataset.objects.all()[:50],
        "jobs": Job.objects.filter(kind__in=(TARGET_JOB, PAIRS_JOB, POLICY_JOB)).order_by("-pk")[:10],
        "may_run": has_role(request.user, Role.ML_ENGINEER),
        "may_review_prompts": has_role(request.user, Role.CURATOR, Role.ML_ENGINEER),
        "may_review_pairs": has_role(request.user, Role.REVIEWER, Role.ML_ENGINEER),
        "target_form": forms.get("target") or TargetForm(),
        "pairs_form": forms.get("pairs") or PairsForm(),
        "freeze_form": forms.get("freeze") or FreezeForm(),
        "run_form": forms.get("run") or PolicyRunForm(),
        "active": services.active_version(),
    }
    return render(request, "alignment/data.html", context, status=status)


@require_GET
@role_required(*READERS)
def data_home(request: AuthedRequest) -> HttpResponse:
    return _page(request)


def _start(request: AuthedRequest, form: Any, kind: str, name: str) -> HttpResponse:
    started = start_job(request, form, lambda: (kind, form.job_config()), _("Started as job %(job)d."))
    return started if started is not None else _page(request, status=400, **{name: form})


@require_POST
@role_required(Role.ML_ENGINEER)
def start_targeted(request: AuthedRequest) -> HttpResponse:
    return _start(request, TargetForm(request.POST), TARGET_JOB, "target")


@require_POST
@role_required(Role.ML_ENGINEER)
def start_pairs(request: AuthedRequest) -> HttpResponse:
    return _start(request, PairsForm(request.POST), PAIRS_JOB, "pairs")


@require_POST
@role_required(Role.ML_ENGINEER)
def start_run(request: AuthedRequest) -> HttpResponse:
    """One SFT or DPO run on a frozen dataset, with its knobs (a gpu-queue job; the align action chains two)."""
    return _start(request, PolicyRunForm(request.POST), POLICY_JOB, "run")


@require_POST
@role_required(Role.CURATOR, Role.ML_ENGINEER)
def review_prompt(request: AuthedRequest, pk: int) -> HttpResponse:
    prompt = get_object_or_404(prompts_for_user(request), pk=pk)
    decision = request.POST.get("decision", "")
    if decision not in (ProposalStatus.ACCEPTED, ProposalStatus.REJECTED):
        messages.error(request, _("Accept or reject the prompt."))
        return redirect("alignment:data")
    if prompt.pairs.exists():
        messages.error(request, _("Pairs were made from this prompt already; review those instead."))
        return redirect("alignment:data")
    TargetedPrompt.objects.filter(pk=pk).update(status=decision, reviewed_by=request.user)
    return redirect(reverse("alignment:data") + f"#prompt-{pk}")


@require_POST
@role_required(Role.REVIEWER, Role.ML_ENGINEER)
def review_pair(request: AuthedRequest, pk: int) -> HttpResponse:
    pair = get_object_or_404(pairs_for_user(request), pk=pk)
    form = PairReviewForm(request.POST)
    if not form.is_valid():  # e.g. an edited answer holding a NUL, which the database cannot store
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(reverse("alignment:data") + f"#pair-{pk}")
    try:
        alignment_data.review_pair(
            pair, request.user, form.cleaned_data["decision"], chosen=form.cleaned_data["chosen"]
        )
    except alignment_data.AlignmentDataError as error:
        messages.error(request, str(error))
    return redirect(reverse("alignment:data") + f"#pair-{pk}")


@require_POST
@role_required(Role.ML_ENGINEER)
def freeze(request: AuthedRequest) -> HttpResponse:
    form = FreezeForm(request.POST)
    if form.is_valid():
        try:
            dataset = alignment_data.freeze(form.cleaned_data["name"], form.cleaned_data["kind"], user=request.user)
        except alignment_data.AlignmentDataError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request, _("Frozen: %(name)s, %(rows)d rows.") % {"name": dataset.name, "rows": dataset.rows}
            )
            return redirect("alignment:data")
    return _page(request, status=400, freeze=form)


@require_GET
@role_required(*READERS)
def download(request: AuthedRequest, pk: int) -> HttpResponse | FileResponse:
    dataset = get_object_or_404(AlignmentDataset, pk=pk)
    if dataset.pairs.exclude(pk__in=pairs_for_user(request).values("pk")).exists():
        raise Http404  # it holds pairs grown from answers the user labels (blind labeling)
    try:
        path = files.stored_path(dataset.path)
    except files.UnsafePathError:
        raise Http404 from None
    return files.attachment(path, f"{dataset.name}.{dataset.kind}.jsonl", content_type="application/x-ndjson")
