"""The guardian in the admin: versions with their metrics, promote one, retrain on the current accepted labels."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alignment import services
from alignment.forms import AlignForm, PromoteForm
from alignment.kinds import TRAIN_JOB
from alignment.models import AlignPipeline, GuardianVersion, Judgement
from alignment.pipelines import PipelineError, blocked, start, step_label, steps
from annotation.review import blind_response_ids
from benchmark.models import RegisteredModel, Release
from medes_site.jobs import JobError, enqueue_job


@admin.register(GuardianVersion)
class GuardianVersionAdmin(admin.ModelAdmin[GuardianVersion]):
    list_display = ("number", "status", "is_active", "labels", "short_hash", "base_model", "created_at", "promoted_at")
    list_filter = ("status", "is_active")
    readonly_fields = (
        "number",
        "status",
        "is_active",
        "base_model",
        "model_dir",
        "data_hash",
        "labels",
        "config",
        "metrics",
        "baseline",
        "counts",
        "critic",
        "error",
        "job",
        "created_by",
        "created_at",
        "promoted_at",
    )
    actions = ("promote", "retrain")

    @admin.display(description=gettext_lazy("data hash"))
    def short_hash(self, version: GuardianVersion) -> str:
        return version.data_hash[:12]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from training jobs only

    @admin.action(description=gettext_lazy("Make the selected version the active guardian"))
    def promote(self, request: HttpRequest, queryset: QuerySet[GuardianVersion]) -> HttpResponse | None:
        """A version worse than the active one on the same split (or not comparable with it) is made active only
        after a page that names the drop is confirmed, as on the guardian page; the confirmation holds for the
        version that was active when the page was shown (``against``)."""
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one version to make active."), messages.ERROR)
            return None
        chosen = queryset.get()
        form = PromoteForm(request.POST)
        if not form.is_valid():
            self.message_user(
                request, _("The confirmation was not understood: make the version active again."), messages.ERROR
            )
            return None
        try:
            version = services.promote(chosen, user=request.user, **form.promote_options())
        except services.PromotionNeedsConfirmationError as needed:
            context = {
                **self.admin_site.each_context(request),
                "title": _("Make active"),
                "version": chosen,
                "warning": str(needed),
                "against": needed.check.active_pk,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/alignment/promote_confirm.html", context)
        except services.GuardianError as error:
            self.message_user(request, str(error), messages.ERROR)
            return None
        self.message_user(request, _("Guardian v%(n)d is now active.") % {"n": version.number})
        return None

    @admin.action(description=gettext_lazy("Retrain on the current accepted labels (same base model)"))
    def retrain(self, request: HttpRequest, queryset: QuerySet[GuardianVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, _("Choose the one version whose base model to train again."), messages.ERROR)
            return
        version = queryset.get()
        try:
            job = enqueue_job(TRAIN_JOB, services.retrain_config(version), user=request.user, request=request)
        except JobError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        started = _("Training started as job %(job)d.") % {"job": job.pk}
        # the message links to the job's page, where its progress and loss curve show (issue 16, item 7)
        self.message_user(request, format_html('<a href="{}">{}</a>', reverse("jobs:detail", args=[job.pk]), started))


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin[Judgement]):
    list_display = ("response", "judge", "version", "risky", "created_at")
    list_filter = ("judge", "risky")
    raw_id_fields = ("response", "version", "job")
    readonly_fields = (
        "response",
        "judge",
        "version",
        "judge_model",
        "probabilities",
        "scores",
        "risky",
        "feedback",
        "problem",
        "job",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Judgement]:
        # blind labeling: none on a response the administrator is labeling in a campaign
        return super().get_queryset(request).exclude(response_id__in=blind_response_ids(request.user))


@admin.register(AlignPipeline)
class AlignPipelineAdmin(admin.ModelAdmin[AlignPipeline]):
    list_display = ("pk", "policy", "release", "status", "step_name", "state", "aligned", "created_at")
    list_filter = ("status",)
    readonly_fields = (
        "policy",
        "release",
        "status",
        "state",
        "step_jobs",
        "options",
        "datasets",
        "aligned",
        "error",
        "created_by",
        "created_at",
    )

    @admin.display(description=gettext_lazy("step"), ordering="step")
    def step_name(self, pipeline: AlignPipeline) -> str:
        return step_label(pipeline.step) if pipeline.step else "—"

    @admin.display(description=gettext_lazy("what it waits for"))
    def state(self, pipeline: AlignPipeline) -> str:
        return blocked(pipeline) or "—"

    @admin.display(description=gettext_lazy("steps"))
    def step_jobs(self, pipeline: AlignPipeline) -> str:
        rows = format_html_join(
            "",
            '<tr data-step="{}"><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    row["step"],
                    row["label"],
                    format_html('<a href="{}">#{}</a>', reverse("jobs:detail", args=[row["job"].pk]), row["job"].pk)
                    if row["job"]
                    else "—",
                    row["job"].get_status_display() if row["job"] else "—",
                )
                for row in steps(pipeline)
            ),
        )
        return format_html("<table>{}</table>", rows)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started by the "Align" action on registered models, or `manage.py align`


@admin.action(description=gettext_lazy("Align: SFT then DPO guided by the guardian, evaluated on a release"))
def align(modeladmin: Any, request: HttpRequest, queryset: QuerySet[RegisteredModel]) -> HttpResponse | None:
    """The whole pipeline from the admin, one per selected local model. The action first shows its settings (the
    release, the review gate, variants and the runs' knobs, with the pipeline's defaults); "Start" starts it."""

    if not Release.objects.exists():
        modeladmin.message_user(request, _("Publish a release first: alignment is evaluated on one."), messages.ERROR)
        return None
    form = AlignForm(request.POST if "apply" in request.POST else None, policies=queryset)
    if not form.is_bound or not form.is_valid():
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": _("Align"),
            "form": form,
            "models": queryset,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/alignment/align.html", context, status=400 if form.is_bound else 200)
    for model in queryset:
        try:
            key = form.cleaned_data["request_key"]
            pipeline = start(
                model,
                form.cleaned_data["release"],
                form.pipeline_options(),
                user=request.user,
                request_key=f"{key}:{model.pk}" if key else None,
            )
        except PipelineError as error:
            modeladmin.message_user(request, f"{model.name}: {error}", messages.ERROR)
            continue
        modeladmin.message_user(
            request,
            _("%(model)s: alignment pipeline %(pk)d started (its steps appear as jobs).")
            % {"model": model.name, "pk": pipeline.pk},
        )
    return None


# the action lives on the registered models' admin page, but is defined here: benchmark knows nothing of alignment
admin.site._registry[RegisteredModel].actions = (*(admin.site._registry[RegisteredModel].actions or ()), align)
