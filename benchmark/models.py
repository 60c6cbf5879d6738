"""The normative corpus: sources (laws, regulations, guidelines). Provisions, scenarios and releases build
on these (issue 3)."""

from __future__ import annotations

from typing import Any, ClassVar

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

    class Meta:
        ordering: ClassVar[list[str]] = ["source", "position"]
        verbose_name = _("provision")
        verbose_name_plural = _("provisions")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["source", "number", "suffix"], name="provision_unique_number"),
            models.UniqueConstraint(fields=["source", "position"], name="provision_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.source.title} {self.label}"


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
    principles = models.ManyToManyField(Principle, verbose_name=_("principles"), blank=True, related_name="scenarios")
    provisions = models.ManyToManyField(
        Provision, verbose_name=_("grounding provisions"), blank=True, related_name="scenarios"
    )
    difficulty = models.PositiveSmallIntegerField(_("difficulty"), null=True, blank=True, help_text=_("1 (easy) to 5."))
    origin = models.CharField(_("origin"), max_length=16, choices=ScenarioOrigin.choices)
    origin_detail = models.CharField(_("origin detail"), max_length=255, blank=True,
                                     help_text=_("File and row, or generator model and prompt version."))  # fmt: skip
    status = models.CharField(
        _("status"), max_length=16, choices=ScenarioStatus.choices, default=ScenarioStatus.DRAFT, db_index=True
    )
    content_hash = models.CharField(
        _("content hash"), max_length=64, unique=True, help_text=_("Of kind, stem, options and key: stored once.")
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering: ClassVar[list[str]] = ["-pk"]
        verbose_name = _("scenario")
        verbose_name_plural = _("scenarios")
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["scene", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.stem[:30]}"


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
        settings.AUTH_USER_MODEL, verbose_name=_("published by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("published"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        verbose_name = _("release")
        verbose_name_plural = _("releases")

    def __str__(self) -> str:
        return self.name


class ReleaseItem(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="items")
    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="release_items")
    position = models.PositiveIntegerField()
    split = models.CharField(max_length=8, choices=[("dev", "dev"), ("test", "test")])
    payload = models.JSONField(help_text="The item exactly as released.")

    class Meta:
        ordering: ClassVar[list[str]] = ["release", "position"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["release", "scenario"], name="release_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.release_id}:{self.position}"


# --- generation: prompt templates and near-duplicate flags (issue 3, item 6) -----------------------


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
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
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
