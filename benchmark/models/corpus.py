"""The normative corpus: sources (laws, regulations, guidelines, stored as uploaded) and their provisions
(articles). Scenarios, releases and amendments build on these (issue 3)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class SourceKind(models.TextChoices):
    LAW = "law", _("Law")
    ADMINISTRATIVE_REGULATION = "administrative_regulation", _("Administrative regulation")
    DEPARTMENTAL_RULE = "departmental_rule", _("Departmental rule")
    JUDICIAL_INTERPRETATION = "judicial_interpretation", _("Judicial interpretation")
    STANDARD = "standard", _("Standard")
    ETHICS_GUIDELINE = "ethics_guideline", _("Ethics guideline")
    PROFESSIONAL_CODE = "professional_code", _("Professional code")
    OTHER = "other", _("Other")


class ParseStatus(models.TextChoices):
    PENDING = "pending", _("Not parsed yet")
    PARSED = "parsed", _("Parsed")
    FAILED = "failed", _("Parsing failed")


class Source(models.Model):
    """One authoritative document, stored as uploaded (under a generated name) and identified by its hash."""

    title = models.CharField(_("title"), max_length=255)
    kind = models.CharField(_("kind"), max_length=32, choices=SourceKind.choices, default=SourceKind.OTHER)
    issuer = models.CharField(_("issuer"), max_length=255, blank=True)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=32, default="CN")
    promulgated_on = models.DateField(_("promulgated"), null=True, blank=True)
    effective_on = models.DateField(_("effective"), null=True, blank=True)
    version = models.CharField(_("version"), max_length=64, blank=True)
    supersedes = models.ForeignKey(
        "self",
        verbose_name=_("supersedes"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
    )
    file = models.FileField(_("file"), upload_to="sources/", max_length=255)
    original_name = models.CharField(_("original file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)
    parse_status = models.CharField(
        _("parse status"), max_length=16, choices=ParseStatus.choices, default=ParseStatus.PENDING
    )
    parse_error = models.TextField(_("parse error"), blank=True)
    parse_warnings = models.JSONField(_("parse warnings"), default=list, blank=True)
    parsed_at = models.DateTimeField(_("parsed"), null=True, blank=True)
    article_count = models.PositiveIntegerField(_("articles"), default=0)
    chapter_count = models.PositiveIntegerField(_("chapters"), default=0)

    class Meta:
        ordering: ClassVar[list[str]] = ["title", "-promulgated_on", "pk"]
        verbose_name = _("source")
        verbose_name_plural = _("sources")

    def __str__(self) -> str:
        return f"{self.title} ({self.version or self.promulgated_on or '-'})"


class Provision(models.Model):
    """One article (条) of a source, with the divisions (编/分编/章/节) it sits in."""

    source = models.ForeignKey(Source, verbose_name=_("source"), on_delete=models.CASCADE, related_name="provisions")
    position = models.PositiveIntegerField(_("position"), help_text=_("Order within the source, from 1."))
    number = models.PositiveIntegerField(_("article number"))
    suffix = models.PositiveSmallIntegerField(_("suffix"), default=0, help_text=_("1 for 第N条之一."))
    label = models.CharField(_("label"), max_length=32)
    text = models.TextField(_("text"))
    book = models.CharField(_("book"), max_length=128, blank=True)
    part = models.CharField(_("part"), max_length=128, blank=True)
    chapter = models.CharField(_("chapter"), max_length=128, blank=True)
    section = models.CharField(_("section"), max_length=128, blank=True)
    # --- curator fixes (edit, split, merge): optimistic locking, history, and what a re-parse must keep ---
    version = models.PositiveIntegerField(_("version"), default=1)
    edited_by_hand = models.BooleanField(
        _("edited by hand"), default=False, help_text=_("A curator fixed this provision; a re-parse keeps it.")
    )
    curated_keys = models.JSONField(
        _("parsed articles it stands for"),
        default=list,
        blank=True,
        help_text=_("[number, suffix] of parsed articles this fixed provision replaces (merged in or renumbered)."),
    )
    history = HistoricalRecords(excluded_fields=["position"])

    class Meta:
        ordering: ClassVar[list[str]] = ["source", "position"]
        verbose_name = _("provision")
        verbose_name_plural = _("provisions")
        # on PostgreSQL, also the text search's GIN index over label and text (benchmark.search, migration 0010)
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["source", "number", "suffix"], name="provision_unique_number"),
            models.UniqueConstraint(fields=["source", "position"], name="provision_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.source.title} {self.label}"
