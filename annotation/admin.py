"""The admin of campaigns, items, labels and accepted labels; the blind rule holds here too (a user who labels
in a campaign sees no one else's labels of it)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from annotation.models import AcceptedLabel, Campaign, Guideline, Item, Label, Member
from annotation.review import annotating


class BlindAdminMixin:
    """An administrator who annotates in a campaign sees none of its items, labels or accepted labels here either
    (blind labeling, annotation.review): the rows of the campaigns they annotate in are left out."""

    campaign_path = "item__campaign"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]  # a mixin: ModelAdmin follows
        return queryset.exclude(**{f"{self.campaign_path}__in": annotating(request.user)})


class MemberInline(admin.TabularInline[Member, Campaign]):
    model = Member
    extra = 0
    raw_id_fields = ("user",)


class GuidelineInline(admin.StackedInline[Guideline, Campaign]):
    model = Guideline
    extra = 0
    # a guideline row never changes (the labeling screen caches it): a new text is a new version, written from
    # the campaign's page (annotation.services.set_guideline)
    readonly_fields = ("version", "text", "created_by", "created_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin[Campaign]):
    list_display = ("name", "status", "overlap", "consensus_rule", "release", "deadline", "created_at")
    list_filter = ("status",)
    search_fields = ("name",)
    inlines: ClassVar = [MemberInline, GuidelineInline]


@admin.register(Item)
class ItemAdmin(BlindAdminMixin, admin.ModelAdmin[Item]):
    campaign_path = "campaign"
    list_display = ("campaign", "position", "state", "submitted", "is_gold")
    list_filter = ("campaign", "state", "is_gold")
    raw_id_fields = ("response",)


@admin.register(Label)
class LabelAdmin(BlindAdminMixin, SimpleHistoryAdmin[Label]):
    # django-simple-history's history pages read the historical rows directly, past get_queryset: a label the
    # administrator may not see (blind labeling) has no history for them either
    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        self._check_visible(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> Any:
        self._check_visible(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)

    def _check_visible(self, request: HttpRequest, object_id: str) -> None:
        if not str(object_id).isdigit() or not self.get_queryset(request).filter(pk=int(object_id)).exists():
            raise Http404

    list_display = ("item", "annotator", "version", "guideline_version", "submitted_at")
    list_filter = ("item__campaign",)
    raw_id_fields = ("item", "annotator")
    autocomplete_fields = ("provisions",)  # searched by law, article number or text (benchmark's ProvisionAdmin)


@admin.register(AcceptedLabel)
class AcceptedLabelAdmin(BlindAdminMixin, admin.ModelAdmin[AcceptedLabel]):
    list_display = ("item", "provenance", "decided_by", "created_at")
    list_filter = ("provenance", "item__campaign")
    raw_id_fields = ("item", "decided_by", "source_labels")
