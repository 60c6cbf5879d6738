"""Scenario generation (issue 3, item 6): the versioned prompt templates drafts are written from, and the
near-duplicate flags on scenarios still to be accepted."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from benchmark.models.scenarios import Release, Scenario, ScenarioKind


class PromptTemplate(models.Model):
    """A versioned prompt for drafting scenarios. Placeholders are written ``${name}`` (``$$`` for a dollar
    sign): ${provision_text}, ${source_title}, ${article_label}, ${scene}, ${n}. Once a job has used a
    version it never changes again (``used_at`` is set): editing it saves a new version instead, so each
    draft's ``origin_detail`` names the exact text it came from."""

    name = models.SlugField(_("name"), max_length=64)
    version = models.PositiveIntegerField(_("version"), default=1)
    kind = models.CharField(_("kind of scenario"), max_length=16, choices=ScenarioKind.choices)
    description = models.TextField(_("description"), blank=True)
    system_template = models.TextField(_("system message"), blank=True)
    user_template = models.TextField(_("user message"))
    is_active = models.BooleanField(_("offered to curators"), default=True)
    used_at = models.DateTimeField(_("first used"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    TEXT_FIELDS = ("kind", "system_template", "user_template")

    class Meta:
        ordering: ClassVar[list[str]] = ["name", "-version"]
        verbose_name = _("prompt template")
        verbose_name_plural = _("prompt templates")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["name", "version"], name="prompt_template_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name}@v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = PromptTemplate.objects.filter(pk=self.pk).first()
            fields = (*self.TEXT_FIELDS, "name", "version")
            if stored is not None and stored.used_at and any(getattr(stored, f) != getattr(self, f) for f in fields):
                raise ValueError(
                    f"{stored} has been used; save the edit as a new version (generation.save_new_version)."
                )
        super().save(*args, **kwargs)


class NearDuplicate(models.Model):
    """``scenario`` reads almost like ``match`` (a scenario in the bank, or an item of the last published
    release when ``release`` is set). Written by the near-duplicate pass (benchmark.neardup) for scenarios
    still to be accepted; accepting a flagged scenario needs an explicit confirmation."""

    scenario = models.ForeignKey(
        Scenario, verbose_name=_("scenario"), on_delete=models.CASCADE, related_name="near_duplicates"
    )
    match = models.ForeignKey(Scenario, verbose_name=_("similar to"), on_delete=models.CASCADE, related_name="+")
    release = models.ForeignKey(
        Release, verbose_name=_("in release"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    jaccard = models.FloatField(_("Jaccard similarity"))
    computed_at = models.DateTimeField(_("computed"), auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["scenario", "-jaccard"]
        verbose_name = _("near-duplicate")
        verbose_name_plural = _("near-duplicates")

    def __str__(self) -> str:
        return f"#{self.scenario_id} ≈ #{self.match_id} ({self.jaccard:.2f})"
