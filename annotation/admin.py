from __future__ import annotations

from typing import ClassVar

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from annotation.models import AcceptedLabel, Campaign, Guideline, Item, Label, Member


class MemberInline(admin.TabularInline[Member, Campaign]):
    model = Member
    extra = 0
    raw_id_fields = ("user",)


class GuidelineInline(admin.StackedInline[Guideline, Campaign]):
    model = Guideline
    extra = 0
    readonly_fields = ("version", "created_by", "created_at")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin[Campaign]):
    list_display = ("name", "status", "overlap", "consensus_rule", "release", "deadline", "created_at")
    list_filter = ("status",)
    search_fields = ("name",)
    inlines: ClassVar = [MemberInline, GuidelineInline]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin[Item]):
    list_display = ("campaign", "position", "state", "submitted", "is_gold")
    list_filter = ("campaign", "state", "is_gold")
    raw_id_fields = ("response",)


@admin.register(Label)
class LabelAdmin(SimpleHistoryAdmin[Label]):
    list_display = ("item", "annotator", "version", "guideline_version", "submitted_at")
    list_filter = ("item__campaign",)
    raw_id_fields = ("item", "annotator", "provisions")


@admin.register(AcceptedLabel)
class AcceptedLabelAdmin(admin.ModelAdmin[AcceptedLabel]):
    list_display = ("item", "provenance", "decided_by", "created_at")
    list_filter = ("provenance", "item__campaign")
    raw_id_fields = ("item", "decided_by", "source_labels")
