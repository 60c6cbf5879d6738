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

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="scene_links")
    scene = models.ForeignKey(Scene, on_delete=models.PROTECT, related_name="scenario_links")

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


# --- model registry and responses (issue 3, item 10) ----------------------------------------------


class ModelKind(models.TextChoices):
    HF_DIRECTORY = "hf_directory", _("Local Hugging Face directory")
    OPENAI_ENDPOINT = "openai_endpoint", _("OpenAI-compatible endpoint")
    IMPORTED = "imported", _("Imported responses only")


class RegisteredModel(models.Model):
    """A language model the workbench knows: one it can load from a directory, one it can call over HTTP,
    or one known only through responses imported from runs made elsewhere."""

    name = models.CharField(_("name"), max_length=128, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=ModelKind.choices)
    path = models.CharField(
        _("directory"), max_length=500, blank=True, help_text=_("Absolute path of the model directory on the workers.")
    )
    base_url = models.CharField(_("base URL"), max_length=500, blank=True, help_text=_("e.g. http://vllm:8000/v1"))
    model_id = models.CharField(_("model id at the endpoint"), max_length=200, blank=True)
    api_key_env = models.CharField(
        _("API key variable"),
        max_length=100,
        blank=True,
        help_text=_("Name of the environment variable that holds the key; the key itself is never stored."),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]
        verbose_name = _("model")
        verbose_name_plural = _("models")

    def __str__(self) -> str:
        return self.name


class ResponseOrigin(models.TextChoices):
    IMPORTED = "imported", _("Imported")
    GENERATED = "generated", _("Generated by a job")


class Response(models.Model):
    """One model's answer to one version of a scenario. The version is the scenario's content as the model
    saw it (``scenario_hash``; ``scenario_version`` is the row version at that time); objective items keep
    the key of that version and the option set read from the text."""

    model = models.ForeignKey(
        RegisteredModel, verbose_name=_("model"), on_delete=models.PROTECT, related_name="responses"
    )
    scenario = models.ForeignKey(
        Scenario, verbose_name=_("scenario"), on_delete=models.PROTECT, related_name="responses"
    )
    scenario_version = models.PositiveIntegerField(_("scenario version"))
    scenario_hash = models.CharField(_("scenario content hash"), max_length=64)
    answer_key = models.CharField(
        _("answer key"), max_length=8, blank=True, help_text=_("The key of the scenario version answered.")
    )
    text = models.TextField(_("response"), blank=True)
    origin = models.CharField(_("origin"), max_length=16, choices=ResponseOrigin.choices)
    origin_detail = models.CharField(
        _("origin detail"), max_length=255, blank=True, help_text=_("File and line, or the job that generated it.")
    )
    job = models.ForeignKey(
        "medes_site.Job", verbose_name=_("job"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reported_choice = models.CharField(
        _("answer given in the file"),
        max_length=16,
        blank=True,
        help_text=_("The option set the file's publishers read from the response (MedES answer_model)."),
    )
    choice = models.CharField(_("answer read"), max_length=8, blank=True)
    extractable = models.BooleanField(_("answer readable"), null=True, help_text=_("Empty for open cases."))
    correct = models.BooleanField(_("correct"), null=True, help_text=_("Empty for open cases."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["model", "scenario", "pk"]
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["model", "scenario", "scenario_hash"], name="response_once_per_version"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["model", "extractable", "correct"]),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.scenario_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """The answer is read on every save that touches the text or the key (bulk imports read it first)."""
        fields = kwargs.get("update_fields")
        if fields is None or {"text", "answer_key"} & set(fields):
            self.read_answer(self.scenario.kind)
            if fields is not None:
                kwargs["update_fields"] = {*fields, "choice", "extractable", "correct"}
        super().save(*args, **kwargs)

    def read_answer(self, kind: str) -> None:
        """Set ``choice``, ``extractable`` and ``correct`` from the text (objective items only)."""
        from benchmark.scoring import extraction

        self.choice, self.extractable, self.correct = extraction(kind, self.answer_key, self.text)


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


# --- amendments: a new version of a source compared with the one it supersedes ---------------------------


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

    amendment = models.ForeignKey(Amendment, on_delete=models.CASCADE, related_name="changes")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=ChangeKind.choices, db_index=True)
    renumbered = models.BooleanField(default=False)
    similarity = models.FloatField(default=0.0)
    old_provision = models.ForeignKey(
        Provision, null=True, blank=True, on_delete=models.SET_NULL, related_name="amendment_changes_old"
    )
    new_provision = models.ForeignKey(
        Provision, null=True, blank=True, on_delete=models.SET_NULL, related_name="amendment_changes_new"
    )
    old_label = models.CharField(max_length=32, blank=True)
    new_label = models.CharField(max_length=32, blank=True)
    old_text = models.TextField(blank=True)
    new_text = models.TextField(blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["amendment", "position"]

    def __str__(self) -> str:
        return f"{self.kind} {self.old_label or '-'} → {self.new_label or '-'}"


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
