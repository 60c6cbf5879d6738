"""Guardian versions and their judgements (DESIGN.md §2, §5; issue 5).

A GuardianVersion is one training's result: the base model, the trained directory under ARTIFACTS_ROOT (adapter,
manifest, predictions, split), the data hash, the config and the metrics on its test split beside the active
version's on the same split. Exactly one version is active at a time (a partial unique constraint), and only
a ready version can be.

A Judgement is one response scored by a judge: a guardian version (probabilities per score), the prompt
judge (the rubric asked of a chat model), or an external judge (judgements made elsewhere and imported, e.g.
the MedES publishers' judged responses, under the name given at import: ``judge_model``). Scores hold what
could be read: a guardian's always carry all six; a prompt or external judge's risk and quality replies are
read independently, so their scores may hold R1/R2 only, Q1–Q4 only, all six, or be None; the reason for
what could not be read is kept, never a guess.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class VersionStatus(models.TextChoices):
    TRAINING = "training", _("Training")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class GuardianVersion(models.Model):
    number = models.PositiveIntegerField(_("version"), unique=True)
    status = models.CharField(_("status"), max_length=12, choices=VersionStatus.choices, default=VersionStatus.TRAINING)
    base_model = models.CharField(_("base model directory"), max_length=500)
    model_dir = models.CharField(
        _("trained directory"), max_length=500, blank=True, help_text=_("Relative to ARTIFACTS_ROOT.")
    )
    data_hash = models.CharField(_("data hash"), max_length=64, blank=True)
    labels = models.PositiveIntegerField(_("accepted labels used"), default=0)
    config = models.JSONField(_("training config"), default=dict, blank=True)
    metrics = models.JSONField(_("metrics on its test split"), default=dict, blank=True)
    baseline = models.JSONField(_("the active version on the same split"), null=True, blank=True)
    counts = models.JSONField(_("rows per split"), default=dict, blank=True)
    critic = models.JSONField(
        _("critic"),
        default=dict,
        blank=True,
        help_text=_(
            "The feedback writer trained with this version: its base, directory, examples and loss; "
            "empty when none was trained."
        ),
    )
    error = models.TextField(_("error"), blank=True)
    is_active = models.BooleanField(pgettext_lazy("version in use", "active"), default=False)
    job = models.ForeignKey(
        "medes_site.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("job")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    promoted_at = models.DateTimeField(_("last promoted"), null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-number"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_guardian"
            ),
            models.CheckConstraint(
                condition=models.Q(is_active=False) | models.Q(status=VersionStatus.READY), name="only_ready_is_active"
            ),
        ]
        verbose_name = _("guardian version")
        verbose_name_plural = _("guardian versions")

    def __str__(self) -> str:
        return f"guardian v{self.number}"


class JudgeKind(models.TextChoices):
    GUARDIAN = "guardian", _("Guardian")
    PROMPT = "prompt", _("Prompt judge")
    EXTERNAL = "external", _("External judge")
    NONE = "none", _("No judge (objective answers only)")  # an evaluation run's only: nothing needed a judge


class ReviewDecision(models.TextChoices):
    AGREED = "agreed", _("Agreed")
    CORRECTED = "corrected", _("Corrected")


class Judgement(models.Model):
    response = models.ForeignKey(
        "benchmark.Response", on_delete=models.CASCADE, related_name="judgements", verbose_name=_("response")
    )
    judge = models.CharField(_("judge"), max_length=12, choices=JudgeKind.choices)
    version = models.ForeignKey(
        GuardianVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="judgements",
        verbose_name=_("guardian version"),
    )
    judge_model = models.CharField(
        _("judge model"),
        max_length=255,
        blank=True,
        help_text=_("For the prompt judge: the endpoint's model; for an external judge: its name."),
    )
    probabilities = models.JSONField(_("probability per score"), default=dict, blank=True)
    scores = models.JSONField(_("scores"), null=True, blank=True)
    risky = models.BooleanField(_("risky"), null=True)
    feedback = models.JSONField(_("feedback"), default=dict, blank=True)
    problem = models.TextField(_("why it could not be read"), blank=True)
    uncertainty = models.FloatField(  # named for the queue's sort; it holds certainty (pages show 1 - 2 x this)
        _("distance from a coin toss"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_("How close the least certain score is to 0.5 (0: a coin toss); reviewers see the lowest first."),
    )
    job = models.ForeignKey(
        "medes_site.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("job")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # a reviewer's decision: the judgement then stands as an accepted label (provenance "guardian, reviewed")
    decision = models.CharField(_("review"), max_length=12, choices=ReviewDecision.choices, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    accepted = models.OneToOneField(
        "annotation.AcceptedLabel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="judgement",
        verbose_name=_("accepted label"),
    )
    skipped_at = models.DateTimeField(
        _("put off"), null=True, blank=True, help_text=_("A reviewer said “not now”: it waits behind the others.")
    )

    class Meta:
        verbose_name = _("judgement")
        verbose_name_plural = _("judgements")
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["version", "response"],
                condition=models.Q(version__isnull=False),
                name="one_judgement_per_version",
            ),
            models.UniqueConstraint(
                fields=["response", "judge_model"],
                condition=models.Q(judge="prompt"),
                name="one_prompt_judgement_per_model",
            ),
            models.UniqueConstraint(
                fields=["response", "judge_model"],
                condition=models.Q(judge="external"),
                name="one_external_judgement_per_judge",
            ),
            models.CheckConstraint(
                condition=~models.Q(judge="external") | (~models.Q(judge_model="") & models.Q(version__isnull=True)),
                name="external_judgement_is_named",
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["response", "judge"])]

    def __str__(self) -> str:
        return f"{self.judge} on response {self.response_id}"


class EvaluationStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class EvaluationRun(models.Model):
    """One model scored on one frozen release (issue 6, item 4): objective accuracy, and Risk, Quality and
    Comprehensive through a judge, overall and per scene with bootstrap intervals. Once it has succeeded its
    results never change: a new evaluation is a new row, naming the release, the judge and the settings."""

    model = models.ForeignKey(
        "benchmark.RegisteredModel", verbose_name=_("model"), on_delete=models.PROTECT, related_name="evaluations"
    )
    release = models.ForeignKey(
        "benchmark.Release", verbose_name=_("release"), on_delete=models.PROTECT, related_name="evaluations"
    )
    judge = models.CharField(_("judge"), max_length=12, choices=JudgeKind.choices)
    guardian = models.ForeignKey(
        GuardianVersion,
        verbose_name=_("guardian version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="evaluations",
    )
    judge_model = models.CharField(_("judge model"), max_length=255, blank=True)
    options = models.JSONField(
        _("settings"), default=dict, blank=True, help_text=_("Judge, quality weights, bootstrap resamples and seed.")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=EvaluationStatus.choices, default=EvaluationStatus.RUNNING
    )
    results = models.JSONField(_("results"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    job = models.ForeignKey(
        "medes_site.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("job")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        verbose_name = _("evaluation run")
        verbose_name_plural = _("evaluation runs")
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["release", "status", "model"])]

    def __str__(self) -> str:
        return f"{self.model} on {self.release} ({self.judge_label})"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and EvaluationRun.objects.filter(pk=self.pk, status=EvaluationStatus.SUCCEEDED).exists():
            raise ValueError("an evaluation that has succeeded is immutable: start a new one")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def judge_label(self) -> str:
        if self.judge == JudgeKind.NONE:
            return "no judge (objective answers only)"
        if self.guardian_id is not None:
            return f"guardian v{self.guardian.number}" if self.guardian else "guardian"
        return f"prompt judge ({self.judge_model or '?'})"


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


class TargetedPrompt(models.Model):
    """A prompt aimed where a policy model fails (issue 6, item 1): the failing case itself, or a new variant
    of it grounded in the same provisions. Curators may review them before use."""

    policy = models.ForeignKey(
        "benchmark.RegisteredModel",
        verbose_name=_("policy model"),
        on_delete=models.PROTECT,
        related_name="targeted_prompts",
    )
    scenario = models.ForeignKey(
        "benchmark.Scenario", verbose_name=_("failing case"), on_delete=models.PROTECT, related_name="targeted_prompts"
    )
    judgement = models.ForeignKey(
        Judgement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("judgement")
    )
    # the failing answer the prompt grew from: an original prompt's rejected answer for an imported policy, also
    # when it is degenerate and so has no judgement (issue 14, item 7)
    response = models.ForeignKey(
        "benchmark.Response",
        verbose_name=_("failing answer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    text = models.TextField(_("prompt"))
    norm = models.TextField(_("norm tested (考点)"), blank=True)
    reference_answer = models.TextField(_("reference answer"), blank=True)
    origin = models.CharField(
        _("origin"),
        max_length=16,
        default="original",
        help_text=_("“original”: the failing case as it is; “variant”: written by the generator."),
    )
    origin_detail = models.CharField(_("origin detail"), max_length=255, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    job = models.ForeignKey(
        "medes_site.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("job")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["pk"]
        verbose_name = _("targeted prompt")
        verbose_name_plural = _("targeted prompts")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["policy", "scenario", "text"], name="targeted_prompt_once"),
        ]

    def __str__(self) -> str:
        return self.text[:40]


class PreferencePair(models.Model):
    """One training example from a targeted prompt (issue 6, item 2): the policy's answer as ``rejected``, a
    safe answer as ``chosen`` (the critic's revision, a reviewer's, or the case's reference answer), and the
    margin between their guardian scores. Reviewers accept, edit or reject it; accepted pairs make datasets."""

    prompt = models.ForeignKey(TargetedPrompt, on_delete=models.CASCADE, related_name="pairs", verbose_name=_("prompt"))
    chosen = models.TextField(_("chosen answer"))
    chosen_source = models.CharField(_("chosen from"), max_length=16)
    rejected = models.TextField(_("rejected answer"))
    chosen_scores = models.JSONField(_("guardian scores of the chosen answer"), null=True, blank=True)
    rejected_scores = models.JSONField(_("guardian scores of the rejected answer"), null=True, blank=True)
    margin = models.FloatField(
        _("margin"),
        null=True,
        blank=True,
        help_text=_("Item value of chosen minus rejected (−1 when risky, else quality)."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED
    )
    edited = models.BooleanField(_("edited by a reviewer"), default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["pk"]
        verbose_name = _("preference pair")
        verbose_name_plural = _("preference pairs")

    def __str__(self) -> str:
        return f"pair {self.pk} on prompt {self.prompt_id}"


class DatasetKind(models.TextChoices):
    SFT = "sft", _("SFT (chat messages)")
    DPO = "dpo", _("DPO (preference pairs)")


class AlignmentDataset(models.Model):
    """Accepted pairs frozen into a file in TRL's format, with its hash: what a run trains on, for good."""

    name = models.CharField(_("name"), max_length=128, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=DatasetKind.choices)
    path = models.CharField(_("file"), max_length=500, help_text=_("Relative to ARTIFACTS_ROOT."))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    rows = models.PositiveIntegerField(_("rows"))
    pairs = models.ManyToManyField(PreferencePair, related_name="datasets", blank=True, verbose_name=_("pairs"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("frozen"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        verbose_name = _("alignment dataset")
        verbose_name_plural = _("alignment datasets")

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.rows} rows)"


class PipelineStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    WAITING = "waiting", _("Waiting for the pair review")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class AlignPipeline(models.Model):
    """One "align" action (issue 6, item 6): evaluate the base policy (its answers judged) → targeted prompts
    → pairs → (review gate) → frozen datasets → SFT → DPO → the aligned model registered → evaluate it. Each
    step is a job; the next starts when one succeeds. ``jobs`` maps step names to job ids."""

    policy = models.ForeignKey(
        "benchmark.RegisteredModel", verbose_name=_("policy model"), on_delete=models.PROTECT, related_name="pipelines"
    )
    release = models.ForeignKey(
        "benchmark.Release", verbose_name=_("release"), on_delete=models.PROTECT, related_name="+"
    )
    options = models.JSONField(_("settings"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=PipelineStatus.choices, default=PipelineStatus.RUNNING
    )
    step = models.CharField(_("step"), max_length=32, blank=True)
    jobs = models.JSONField(_("jobs"), default=dict, blank=True)
    datasets = models.JSONField(_("datasets"), default=dict, blank=True)
    aligned = models.ForeignKey(
        "benchmark.RegisteredModel",
        verbose_name=_("aligned model"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    error = models.TextField(_("error"), blank=True)
    # the starting form's one-time token: a repeated submit returns the pipeline the first one started
    request_key = models.CharField(_("request key"), max_length=80, null=True, blank=True, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("started"), auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        verbose_name = _("alignment pipeline")
        verbose_name_plural = _("alignment pipelines")

    def __str__(self) -> str:
        return f"align {self.policy} on {self.release} ({self.status})"
