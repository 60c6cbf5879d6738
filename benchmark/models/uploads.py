"""Files a curator uploaded to import (questions, responses, mapped CSV/JSONL), kept between the dry run and
the import."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportFormat(models.TextChoices):
    MEDES_QUESTIONS = "medes_questions", _("MedES question CSV")
    MEDES_RESPONSES = "medes_responses", _("MedES response CSV")
    MEDETHICEVAL = "medethiceval", _("MedEthicEval-style CSV")
    GENERIC_SCENARIOS = "generic_scenarios", _("Scenarios from any CSV/JSONL (map the columns)")
    GENERIC_RESPONSES = "generic_responses", _("Responses from any CSV/JSONL (map the columns)")


class ImportUpload(models.Model):
    """A file a curator uploaded to import: kept under a generated name between the dry run and the import,
    and reachable only by the person who uploaded it."""

    fmt = models.CharField(_("format"), max_length=24, choices=ImportFormat.choices)
    file = models.FileField(_("file"), upload_to="imports/", max_length=255)
    original_name = models.CharField(_("original file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    imported_at = models.DateTimeField(_("imported"), null=True, blank=True)
    report = models.JSONField(_("import report"), null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        verbose_name = _("import upload")
        verbose_name_plural = _("import uploads")

    def __str__(self) -> str:
        return self.original_name
