"""The admin of the project-wide tables: jobs (with their log and artifacts) and the audit trail (read-only)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from knox.admin import AuthTokenAdmin
from knox.models import AuthToken

from medes_site import jobs
from medes_site.labels import label
from medes_site.models import AuditEntry, Job, JobStatus

OUTPUT_FIELDS = ("metrics", "artifacts", "log_tail")
JOB_REPR = re.compile(r"#(?P<pk>\d+) (?P<kind>\S+) \((?P<status>\w+)\)")  # Job.__str__
HIDDEN_FIELDS = tuple(field.name for field in Job._meta.fields if field.name not in OUTPUT_FIELDS)


def labelled_filter(field: str, vocabulary: str, title: Any) -> type[admin.SimpleListFilter]:
    """A list filter on a field that stores codes, offering their labels (medes_site.labels), never the codes."""

    class Filter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            codes = model_admin.get_queryset(request).order_by().values_list(field, flat=True).distinct()
            return sorted(((code, label(vocabulary, code)) for code in codes if code), key=lambda pair: pair[1])

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    Filter.title = title
    return Filter


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = (
        "id",
        "kind_label",
        "status",
        "progress_percent",
        "attempt",
        "triggered_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", labelled_filter("kind", "job", _("kind")), "queue")
    search_fields = ("kind", "error", "triggered_by__username")
    readonly_fields = tuple(field.name for field in Job._meta.fields)
    actions = ("cancel_jobs", "resume_jobs")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are started by the screens and services that own them

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, obj: Job) -> str:
        return label("job", obj.kind)

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

    list_display = ("at", "actor_name", "action_label", "object_type_label", "object_label", "ip_address")
    list_filter = (
        labelled_filter("action", "audit", _("action")),
        labelled_filter("object_type", "model", _("object type")),
        ("at", admin.DateFieldListFilter),
    )
    search_fields = ("actor_name", "action", "object_repr", "object_id")
    date_hierarchy = "at"
    readonly_fields = tuple(field.name for field in AuditEntry._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("action"), ordering="action")
    def action_label(self, obj: AuditEntry) -> str:
        return label("audit", obj.action)

    @admin.display(description=_("object type"), ordering="object_type")
    def object_type_label(self, obj: AuditEntry) -> str:
        return label("model", obj.object_type)

    @admin.display(description=_("object"), ordering="object_repr")
    def object_label(self, obj: AuditEntry) -> str:
        """A job's stored repr (``#3 annotation.export (succeeded)``) with its kind's and status's labels."""
        match = JOB_REPR.fullmatch(obj.object_repr) if obj.object_type == "medes_site.job" else None
        if match is None:
            return obj.object_repr
        status = JobStatus(match["status"]).label if match["status"] in JobStatus.values else match["status"]
        return f"#{match['pk']} {label('job', match['kind'])} ({status})"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)


class WorkbenchUserAdmin(UserAdmin[User]):
    """Django's user admin; its role filter offers the roles by name, not by their groups' codes."""

    list_filter = ("is_staff", "is_superuser", "is_active", labelled_filter("groups__name", "role", _("role")))


admin.site.unregister(User)
admin.site.register(User, WorkbenchUserAdmin)


class WorkbenchTokenAdmin(AuthTokenAdmin):  # type: ignore[misc]  # knox ships no type hints
    """django-rest-knox's token admin, its columns named in the user's language (knox names them by field)."""

    list_display = ("token_digest", "token_user", "token_created", "token_expiry")

    @admin.display(description=_("token digest"), ordering="digest")
    def token_digest(self, obj: AuthToken) -> str:
        return str(obj.digest)

    @admin.display(description=_("user"), ordering="user")
    def token_user(self, obj: AuthToken) -> str:
        return str(obj.user)

    @admin.display(description=_("created"), ordering="created")
    def token_created(self, obj: AuthToken) -> Any:
        return obj.created

    @admin.display(description=_("expires"), ordering="expiry")
    def token_expiry(self, obj: AuthToken) -> Any:
        return obj.expiry


admin.site.unregister(AuthToken)
admin.site.register(AuthToken, WorkbenchTokenAdmin)
