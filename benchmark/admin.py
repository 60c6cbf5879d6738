"""The admin of the corpus and the bank: sources, scenes, principles, scenarios (with their history), releases
and registered models (whose endpoint secrets are never shown back)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.admin import SimpleHistoryAdmin

from benchmark import picker
from benchmark.generation import save_new_version, template_problems
from benchmark.models import (
    ImportUpload,
    NearDuplicate,
    Principle,
    PromptTemplate,
    Provision,
    RegisteredModel,
    Release,
    Response,
    Scenario,
    Scene,
    Source,
)
from benchmark.responses import (
    CONFIG_FIELDS,
    RUNNABLE_KINDS,
    ModelError,
    check_may_register,
    check_model_fields,
    kinds_for_user,
    may_register_runnable,
    reread_answers,
    visible_responses,
)
from benchmark.scenarios import follow_primary_scene


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin[Source]):
    list_display = ("title", "kind", "issuer", "promulgated_on", "effective_on", "version", "size", "created_at")
    list_filter = ("kind", "jurisdiction")
    search_fields = ("title", "issuer", "sha256", "original_name")
    readonly_fields = ("file", "original_name", "sha256", "size", "created_by", "created_at")
    autocomplete_fields = ("supersedes",)


@admin.register(Provision)
class ProvisionAdmin(admin.ModelAdmin[Provision]):
    """Read-only here: a provision is fixed on its page (edit, split, merge: locking, history, re-parse safety).
    Its search is the provision picker's, which every autocomplete of a provision field uses."""

    list_display = ("label", "source", "chapter", "version", "edited_by_hand")
    list_select_related = ("source",)
    search_fields = ("label", "text", "source__title")  # the admin requires some; the picker's search is used

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Provision], search_term: str
    ) -> tuple[QuerySet[Provision], bool]:
        if not search_term.strip():
            return queryset, False
        return picker.ranked(search_term, queryset), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    list_filter = ("kind", "status", "origin", "scenes")
    search_fields = ("stem", "norm", "origin_detail")
    readonly_fields = ("content_hash", "version", "created_by", "created_at", "updated_at", "status")
    filter_horizontal = ("principles",)
    # cited provisions are found by law, article number (第十二条 or 12) or text (ProvisionAdmin), never typed ids
    autocomplete_fields = ("provisions",)

    def save_model(self, request: Any, obj: Scenario, form: Any, change: bool) -> None:
        """Moving the item to another scene here (a change, or a revert to an earlier version from "History") moves
        its primary scene link too, as an edit on its page does. The scene it leaves is the stored one: a revert's
        form starts from the old version, not from the row."""
        stored = Scenario.objects.filter(pk=obj.pk).values_list("scene_id", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        follow_primary_scene(obj, stored)


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


class RegisteredModelAdminForm(forms.ModelForm[RegisteredModel]):
    """The admin's model form, held to the registry's rules (benchmark.responses): the kinds the user may register,
    and the same checks of the directory, the URL and the key variable as the registry's own form."""

    user: Any = None  # who saves; set per request by RegisteredModelAdmin.get_form

    class Meta:
        model = RegisteredModel
        fields = ("name", "kind", "path", "base_url", "model_id", "api_key_env", "notes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            cast(forms.ChoiceField, self.fields["kind"]).choices = kinds_for_user(self.user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind"):
            try:
                check_may_register(self.user, data["kind"])
                data.update(check_model_fields(data["kind"], **{name: data.get(name, "") for name in CONFIG_FIELDS}))
            except ModelError as error:
                self.add_error(None, str(error))
        return data


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin[RegisteredModel]):
    """Only ML engineers and administrators see or change where a model runs (its directory, URL and key
    variable); other staff see and register models known from imported responses."""

    form = RegisteredModelAdminForm
    list_display = ("name", "kind", "model_id", "created_by", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "model_id", "path", "base_url", "notes")
    readonly_fields = ("created_by", "created_at")

    def get_form(self, request: Any, obj: RegisteredModel | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def get_fields(self, request: Any, obj: RegisteredModel | None = None) -> Any:
        fields = super().get_fields(request, obj)
        return fields if may_register_runnable(request.user) else [f for f in fields if f not in CONFIG_FIELDS]

    def get_list_display(self, request: Any) -> Any:
        shown = super().get_list_display(request)
        return shown if may_register_runnable(request.user) else [f for f in shown if f not in CONFIG_FIELDS]

    def get_search_fields(self, request: Any) -> Any:
        fields = super().get_search_fields(request)
        return fields if may_register_runnable(request.user) else [f for f in fields if f not in CONFIG_FIELDS]

    def has_change_permission(self, request: Any, obj: RegisteredModel | None = None) -> bool:
        if obj is not None and obj.kind in RUNNABLE_KINDS and not may_register_runnable(request.user):
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request: Any, obj: RegisteredModel, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin[Response]):
    list_display = ("id", "model", "scenario", "choice", "answer_key", "extractable", "correct", "origin_detail")
    list_filter = ("model", "extractable", "correct", "origin")
    search_fields = ("text", "origin_detail")
    raw_id_fields = ("scenario", "job")
    readonly_fields = ("choice", "extractable", "correct", "scenario_hash", "created_by", "created_at")

    def get_queryset(self, request: Any) -> QuerySet[Response]:
        return visible_responses(request.user, super().get_queryset(request))  # blind labeling

    actions = ("read_answers_again",)

    @admin.action(description=gettext_lazy("Read the answers again (after the extractor changed)"))
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


# --- generation (issue 3, item 6) ------------------------------------------------------------------


class PromptTemplateForm(forms.ModelForm[PromptTemplate]):
    class Meta:
        model = PromptTemplate
        fields = ("name", "kind", "description", "system_template", "user_template", "is_active")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("system_template", "user_template"):
            for problem in template_problems(data.get(name) or ""):
                self.add_error(name, problem)
        return data


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin[PromptTemplate]):
    """A template a job has used is never changed in place: saving an edit of it creates the next version
    (the old one stays, so every draft still names the exact text it came from)."""

    form = PromptTemplateForm
    list_display = ("name", "version", "kind", "is_active", "used_at", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "description")
    readonly_fields = ("version", "used_at", "created_by", "created_at")

    def get_readonly_fields(self, request: Any, obj: PromptTemplate | None = None) -> tuple[str, ...]:
        used = obj is not None and obj.used_at is not None  # drafts name it by name@version
        return (*self.readonly_fields, "name") if used else tuple(self.readonly_fields)

    def save_model(self, request: Any, obj: PromptTemplate, form: Any, change: bool) -> None:
        stored = PromptTemplate.objects.filter(pk=obj.pk).first() if change else None
        text_changed = stored is not None and any(
            getattr(stored, f) != getattr(obj, f) for f in PromptTemplate.TEXT_FIELDS
        )
        if stored is not None and stored.used_at is not None and text_changed:
            changes = {f: getattr(obj, f) for f in ("kind", "description", "system_template", "user_template")}
            new = save_new_version(stored, **changes)
            PromptTemplate.objects.filter(pk=new.pk).update(created_by=request.user, is_active=obj.is_active)
            obj.pk, obj.version = new.pk, new.version  # the admin's "saved" message and redirect name the new one
            messages.info(
                request,
                _("That version was already used, so the edit was saved as version %(v)d.") % {"v": new.version},
            )
            return
        if not change:
            latest = PromptTemplate.objects.filter(name=obj.name).order_by("-version").first()
            obj.version = latest.version + 1 if latest else 1
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(NearDuplicate)
class NearDuplicateAdmin(admin.ModelAdmin[NearDuplicate]):
    list_display = ("scenario", "match", "release", "jaccard", "computed_at")
    list_filter = ("release",)
    raw_id_fields = ("scenario", "match")
    readonly_fields = ("scenario", "match", "release", "jaccard", "computed_at")

    def has_add_permission(self, request: Any) -> bool:
        return False
