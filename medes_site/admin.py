"""The admin of the project-wide tables: jobs (with their log and artifacts) and the audit trail (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from medes_site import jobs
from medes_site.models import AuditEntry, Job

OUTPUT_FIELDS = ("metrics", "artifacts", "log_tail")
HIDDEN_FIELDS = tuple(field.name for field in Job._meta.fields if field.name not in OUTPUT_FIELDS)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = ("id", "kind", "status", "progress_percent", "attempt", "triggered_by", "created_at", "finished_at")
    list_filter = ("status", "kind", "queue")
    search_fields = ("kind", "error", "triggered_by__username")
    readonly_fields = tuple(field.name for field in Job._meta.fields)
    actions = ("cancel_jobs", "resume_jobs")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are started by the screens and services that own them

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is None or jobs.may_see_outputs(request.user, obj) else HIDDEN_FIELDS

    def get_fields(self, request: HttpRequest, obj: Job | None = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if obj is not None and not jobs.may_see_outputs(request.user, obj):  # blind labeling: a campaign's labels
            fields = [name for name in fields if name not in OUTPUT_FIELDS]
        return fields

    @admin.action(description=_("Cancel the selected jobs"), permissions=["change"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            jobs.cancel_job(job, user=request.user, request=request)
        self.message_user(request, _("Cancel requested for %(count)d jobs.") % {"count": queryset.count()})

    @admin.action(description=_("Resume the selected lost or failed jobs"), permissions=["change"])
    def resume_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        resumed = 0
        for job in queryset:
            try:
                jobs.resume_job(job, user=request.user, request=request)
                resumed += 1
            except jobs.JobError as error:
                self.message_user(request, f"#{job.pk}: {error}", level=messages.WARNING)
        self.message_user(request, _("Resumed %(count)d jobs.") % {"count": resumed})


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """Browsable, never editable: the audit trail is append-only."""

    list_display = ("at", "actor_name", "action", "object_type", "object_repr", "ip_address")
    list_filter = ("action", "object_type", ("at", admin.DateFieldListFilter))
    search_fields = ("actor_name", "action", "object_repr", "object_id")
    date_hierarchy = "at"
    readonly_fields = tuple(field.name for field in AuditEntry._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)
