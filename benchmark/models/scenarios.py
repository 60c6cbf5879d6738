"""The scenario bank: the MedES scene taxonomy and ethical principles, scenarios (objective items and open
cases, grounded in provisions) with the scenes they are filed under, and the releases that publish them."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from benchmark.models.corpus import Provision


class Scene(models.Model):
    """A clinical scene of the MedES taxonomy (医患关系, 器官移植, …), with the other spellings files use."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    aliases = models.JSONField(_("other spellings"), default=list, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["position", "name"]
        verbose_name = _("scene")
        verbose_name_plural = _("scenes")

    def __str__(self) -> str:
        return self.name


class Principle(models.Model):
    key = models.SlugField(_("key"), max_length=64, unique=True)
    name_zh = models.CharField(_("Chinese name"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=64)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["pk"]
        verbose_name = _("ethical principle")
        verbose_name_plural = _("ethical principles")

    def __str__(self) -> str:
        return self.name_zh


class ScenarioKind(models.TextChoices):
    OBJECTIVE = "objective", _("Objective (multiple choice)")
    SUBJECTIVE = "subjective", _("Subjective (open case)")


class ScenarioStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    ACCEPTED = "accepted", _("Accepted")
    RETIRED = "retired", _("Retired")
    NEEDS_REREVIEW = "needs_rereview", _("Needs re-review")


class ScenarioOrigin(models.TextChoices):
    EXPERT = "expert", _("Written by an expert")
    GENERATED = "generated", _("Generated")
    IMPORTED = "imported", _("Imported")


class Scenario(models.Model):
    """One benchmark item. Objective: a 不定项 stem with options A–H and the exact key set. Subjective: a
    first-person case with the norm it tests (考点). Edited with optimistic locking (``version``)."""

    kind = models.CharField(_("kind"), max_length=16, choices=ScenarioKind.choices)
    stem = models.TextField(_("question or case"))
    options = models.JSONField(_("options"), default=dict, blank=True, help_text=_("Letter → option text."))
    key = models.CharField(_("answer key"), max_length=8, blank=True, help_text=_("Correct letters, e.g. ABD."))
    norm = models.TextField(_("norm tested (考点)"), blank=True)
    reference_answer = models.TextField(_("reference answer"), blank=True)
    rubric_notes = models.TextField(_("rubric notes"), blank=True)
    scene = models.ForeignKey(Scene, verbose_name=_("scene"), on_delete=models.PROTECT, related_name="scenarios")
    # Every scene the item is filed under, the primary ``scene`` always among them (``save`` and the importers
    # keep it so): a MedES file lists some questions under two scenes, and each scene counts them.
    scenes = models.ManyToManyField(
        Scene, verbose_name=_("scenes"), through="ScenarioScene", related_name="listed_scenarios", blank=True
    )
    review_note = models.TextField(
        _("review note"),
        blank=True,
        help_text=_("Why the item needs a curator's look, e.g. a file that gives it two different keys."),
    )
    principles = models.ManyToManyField(Principle, verbose_name=_("principles"), blank=True, related_name="scenarios")
    provisions = models.ManyToManyField(
        Provision, verbose_name=_("grounding provisions"), blank=True, related_name="scenarios"
    )
    difficulty = models.PositiveSmallIntegerField(_("difficulty"), null=True, blank=True, help_text=_("1 (easy) to 5."))
    origin = models.CharField(_("origin"), max_length=16, choices=ScenarioOrigin.choices)
    origin_detail = models.CharField(
        _("origin detail"),
        max_length=255,
        blank=True,
        help_text=_("File and row, or generator model and prompt version."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ScenarioStatus.choices, default=ScenarioStatus.DRAFT, db_index=True
    )
    content_hash = models.CharField(
        _("content hash"), max_length=64, unique=True, help_text=_("Of kind, stem, options and key: stored once.")
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering: ClassVar[list[str]] = ["-pk"]
        verbose_name = _("scenario")
        verbose_name_plural = _("scenarios")
        # and on PostgreSQL the text search's GIN index over stem and norm (benchmark.search, migration 0010)
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["scene", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.stem[:30]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saving keeps the primary scene among ``scenes`` (bulk imports write the links themselves)."""
        super().save(*args, **kwargs)
        fields = kwargs.get("update_fields")
        if fields is None or "scene" in fields:
            ScenarioScene.objects.get_or_create(scenario_id=self.pk, scene_id=self.scene_id)

    def scene_names(self) -> list[str]:
        """All its scenes, the primary first, then in the taxonomy's order (uses a prefetch of ``scenes``)."""
        others = sorted((s for s in self.scenes.all() if s.pk != self.scene_id), key=lambda s: (s.position, s.name))
        return [self.scene.name, *(s.name for s in others)]


class ScenarioScene(models.Model):
    """A scene an item is filed under: its primary scene, and each other scene a file listed it under."""

    scenario = models.ForeignKey(
        Scenario, on_delete=models.CASCADE, related_name="scene_links", verbose_name=_("scenario")
    )
    scene = models.ForeignKey(Scene, on_delete=models.PROTECT, related_name="scenario_links", verbose_name=_("scene"))

    class Meta:
        verbose_name = _("scene of a scenario")
        verbose_name_plural = _("scenes of scenarios")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["scenario", "scene"], name="scenario_scene_once"),
        ]

    def __str__(self) -> str:
        return f"{self.scenario_id}:{self.scene_id}"


class Release(models.Model):
    """A frozen, content-hashed snapshot of accepted scenarios with a dev/test split. Never changes."""

    name = models.CharField(_("name"), max_length=64, unique=True, help_text=_("e.g. MedES-2026.11"))
    previous = models.ForeignKey(
        "self", verbose_name=_("previous release"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checksum = models.CharField(_("SHA-256 of the canonical JSONL"), max_length=64)
    item_count = models.PositiveIntegerField(_("items"))
    test_fraction = models.FloatField(_("test share"), default=0.5)
    notes = models.TextField(_("notes"), blank=True)
    changes = models.JSONField(_("changes since the previous release"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("published"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        verbose_name = _("release")
        verbose_name_plural = _("releases")

    def __str__(self) -> str:
        return self.name


class ReleaseItem(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="items", verbose_name=_("release"))
    scenario = models.ForeignKey(
        Scenario, on_delete=models.PROTECT, related_name="release_items", verbose_name=_("scenario")
    )
    position = models.PositiveIntegerField(_("position"))
    split = models.CharField(_("split"), max_length=8, choices=[("dev", "dev"), ("test", "test")])
    payload = models.JSONField(_("payload"), help_text=_("The item exactly as released."))

    class Meta:
        verbose_name = _("release item")
        verbose_name_plural = _("release items")
        ordering: ClassVar[list[str]] = ["release", "position"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["release", "scenario"], name="release_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.release_id}:{self.position}"
