"""Amendments: a new version of a source compared provision by provision with the one it supersedes, and the
scenarios that comparison sent back to re-review."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from benchmark.models.corpus import Provision, Source
from benchmark.models.scenarios import Scenario


class ChangeKind(models.TextChoices):
    UNCHANGED = "unchanged", _("Unchanged")
    CHANGED = "changed", _("Changed")
    ADDED = "added", _("Added")
    REMOVED = "removed", _("Removed")


class Amendment(models.Model):
    """The provision-by-provision comparison of a source with the source it supersedes, computed when the
    new version is parsed. ``flagged`` are the scenarios this comparison sent back to re-review (each once)."""

    new_source = models.OneToOneField(
        Source, verbose_name=_("new version"), on_delete=models.CASCADE, related_name="amendment"
    )
    old_source = models.ForeignKey(
        Source, verbose_name=_("superseded version"), on_delete=models.CASCADE, related_name="amendments_from"
    )
    counts = models.JSONField(_("counts by kind of change"), default=dict, blank=True)
    error = models.TextField(_("why it could not be compared"), blank=True)
    flagged = models.ManyToManyField(
        Scenario, verbose_name=_("scenarios sent to re-review"), blank=True, related_name="amendments"
    )
    computed_at = models.DateTimeField(_("compared"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("compared by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("amendment")
        verbose_name_plural = _("amendments")

    def __str__(self) -> str:
        return f"{self.old_source_id} → {self.new_source_id}"


class AmendmentChange(models.Model):
    """One row of the comparison: an old provision, a new one, or a pair. Texts are copied as compared, so
    the diff still reads the same after later edits."""

    amendment = models.ForeignKey(
        Amendment, on_delete=models.CASCADE, related_name="changes", verbose_name=_("amendment")
    )
    position = models.PositiveIntegerField(_("position"))
    kind = models.CharField(_("kind of change"), max_length=16, choices=ChangeKind.choices, db_index=True)
    renumbered = models.BooleanField(_("renumbered"), default=False)
    similarity = models.FloatField(_("similarity"), default=0.0)
    old_provision = models.ForeignKey(
        Provision,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="amendment_changes_old",
        verbose_name=_("old provision"),
    )
    new_provision = models.ForeignKey(
        Provision,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="amendment_changes_new",
        verbose_name=_("new provision"),
    )
    old_label = models.CharField(_("old article"), max_length=32, blank=True)
    new_label = models.CharField(_("new article"), max_length=32, blank=True)
    old_text = models.TextField(_("old text"), blank=True)
    new_text = models.TextField(_("new text"), blank=True)

    class Meta:
        verbose_name = _("amendment change")
        verbose_name_plural = _("amendment changes")
        ordering: ClassVar[list[str]] = ["amendment", "position"]

    def __str__(self) -> str:
        return f"{self.kind} {self.old_label or '-'} → {self.new_label or '-'}"
