from __future__ import annotations

from django.contrib import admin

from benchmark.models import Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin[Source]):
    list_display = ("title", "kind", "issuer", "promulgated_on", "effective_on", "version", "size", "created_at")
    list_filter = ("kind", "jurisdiction")
    search_fields = ("title", "issuer", "sha256", "original_name")
    readonly_fields = ("file", "original_name", "sha256", "size", "created_by", "created_at")
    autocomplete_fields = ("supersedes",)
