from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from benchmark.models import ImportUpload, Principle, RegisteredModel, Release, Response, Scenario, Scene, Source
from benchmark.responses import reread_answers


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin[Source]):
    list_display = ("title", "kind", "issuer", "promulgated_on", "effective_on", "version", "size", "created_at")
    list_filter = ("kind", "jurisdiction")
    search_fields = ("title", "issuer", "sha256", "original_name")
    readonly_fields = ("file", "original_name", "sha256", "size", "created_by", "created_at")
    autocomplete_fields = ("supersedes",)


@admin.register(Scene)
class SceneAdmin(admin.ModelAdmin[Scene]):
    list_display = ("name", "aliases", "position")
    list_editable = ("position",)
    search_fields = ("name",)


@admin.register(Principle)
class PrincipleAdmin(admin.ModelAdmin[Principle]):
    list_display = ("key", "name_zh", "name_en")
    search_fields = ("key", "name_zh", "name_en")


@admin.register(Scenario)
class ScenarioAdmin(SimpleHistoryAdmin):  # the "History" button shows every saved version
    list_display = ("id", "kind", "scene", "status", "origin", "key", "version", "updated_at")
    list_filter = ("kind", "status", "origin", "scene")
    search_fields = ("stem", "norm", "origin_detail")
    readonly_fields = ("content_hash", "version", "created_by", "created_at", "updated_at", "status")
    filter_horizontal = ("principles",)
    raw_id_fields = ("provisions",)


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin[Release]):
    """Read-only: a published release never changes (publish with the service or a later screen)."""

    list_display = ("name", "item_count", "checksum", "created_by", "created_at")
    readonly_fields = tuple(field.name for field in Release._meta.fields)

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


# --- model registry and responses (issue 3, item 10) ----------------------------------------------


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin[RegisteredModel]):
    list_display = ("name", "kind", "model_id", "created_by", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "model_id", "path", "base_url", "notes")
    readonly_fields = ("created_by", "created_at")


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin[Response]):
    list_display = ("id", "model", "scenario", "choice", "answer_key", "extractable", "correct", "origin_detail")
    list_filter = ("model", "extractable", "correct", "origin")
    search_fields = ("text", "origin_detail")
    raw_id_fields = ("scenario", "job")
    readonly_fields = ("choice", "extractable", "correct", "scenario_hash", "created_by", "created_at")
    actions = ("read_answers_again",)

    @admin.action(description=_("Read the answers again (after the extractor changed)"))
    def read_answers_again(self, request: Any, queryset: QuerySet[Response]) -> None:
        changed = reread_answers(queryset, user=request.user)
        self.message_user(request, _("%(n)d responses changed.") % {"n": changed})


@admin.register(ImportUpload)
class ImportUploadAdmin(admin.ModelAdmin[ImportUpload]):
    list_display = ("original_name", "fmt", "created_by", "created_at", "imported_at")
    list_filter = ("fmt",)
    readonly_fields = ("file", "original_name", "sha256", "size", "created_by", "created_at", "imported_at", "report")

    def has_add_permission(self, request: Any) -> bool:
        return False  # uploads come through the import screen, which checks them
