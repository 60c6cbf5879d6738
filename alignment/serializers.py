"""The REST API's alignment representations (mounted at api/alignment/): guardian versions and judgements,
evaluation runs and leaderboard rows, align pipelines, targeted prompts, preference pairs and frozen datasets,
with their list filters (allowlists), and the request bodies of the actions.

An action's body is validated by the same Django form the page posts to (alignment.forms): ``form_serializer``
only describes that form in the OpenAPI schema, field for field, so that the page and the API cannot drift.

What a reader sees of an evaluation follows alignment.visibility: the run's figures only where ``shown`` is not
``none`` (its release's answers are not being labeled in an active campaign, or the reader may see items), the
failed answers item by item only at ``items``, the error text only for ML engineers. The serializer reads the
level once per release and request (``shown``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib.auth.models import User
from django.db.models import Model
from rest_framework import serializers

from alignment import pipelines as pipeline_service
from alignment import visibility
from alignment.models import (
    AlignmentDataset,
    AlignPipeline,
    DatasetKind,
    EvaluationRun,
    EvaluationStatus,
    GuardianVersion,
    JudgeKind,
    Judgement,
    PipelineStatus,
    PreferencePair,
    ProposalStatus,
    TargetedPrompt,
    VersionStatus,
)
from alignment.views import shown_uncertainty
from benchmark.models import RegisteredModel

# --- guardian versions and judgements ------------------------------------------------------------------------


class GuardianVersionSerializer(serializers.ModelSerializer[GuardianVersion]):
    """A guardian version with its metrics on its own test split and, in ``baseline``, the active version's on
    the same split when it was trained (what the version's page compares)."""

    created_by = serializers.SlugRelatedField[User](slug_field="username", read_only=True)

    class Meta:
        model = GuardianVersion
        fields: ClassVar[list[str]] = [
            "id",
            "number",
            "status",
            "is_active",
            "base_model",
            "model_dir",
            "data_hash",
            "labels",
            "counts",
            "config",
            "metrics",
            "baseline",
            "critic",
            "error",
            "job",
            "created_by",
            "created_at",
            "promoted_at",
        ]
        read_only_fields = fields


class JudgementSerializer(serializers.ModelSerializer[Judgement]):
    model = serializers.CharField(source="response.model.name", read_only=True)
    scenario = serializers.IntegerField(source="response.scenario_id", read_only=True)
    version = serializers.SlugRelatedField[GuardianVersion](slug_field="number", read_only=True)
    reviewed_by = serializers.SlugRelatedField[User](slug_field="username", read_only=True)
    uncertainty = serializers.SerializerMethodField(
        help_text="0 (every score certain) to 1 (a score at a coin toss), as the review page shows it; null for a "
        "judge without probabilities"
    )

    class Meta:
        model = Judgement
        fields: ClassVar[list[str]] = [
            "id",
            "response",
            "model",
            "scenario",
            "judge",
            "version",
            "judge_model",
            "scores",
            "risky",
            "probabilities",
            "uncertainty",
            "feedback",
            "problem",
            "decision",
            "reviewed_by",
            "reviewed_at",
            "accepted",
            "job",
            "created_at",
        ]
        read_only_fields = fields

    def get_uncertainty(self, judgement: Judgement) -> float | None:
        return shown_uncertainty(judgement)


VERSION_ORDERING = ["number", "-number", "created_at", "-created_at"]
JUDGEMENT_ORDERING = ["id", "-id", "created_at", "-created_at", "uncertainty", "-uncertainty"]


class VersionFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The allowlist of guardian version filters and orderings."""

    status = serializers.ChoiceField(choices=VersionStatus.choices, required=False)
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    ordering = serializers.ChoiceField(choices=VERSION_ORDERING, required=False)


class JudgementFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The allowlist of judgement filters and orderings."""

    version = serializers.IntegerField(required=False, min_value=1, help_text="guardian version number")
    model = serializers.CharField(required=False, max_length=128, help_text="model name or id")
    release = serializers.IntegerField(required=False, min_value=1, help_text="release id")
    judge = serializers.ChoiceField(choices=[c for c in JudgeKind.choices if c[0] != JudgeKind.NONE], required=False)
    reviewed = serializers.BooleanField(required=False, allow_null=True, default=None)
    ordering = serializers.ChoiceField(choices=JUDGEMENT_ORDERING, required=False)


# --- evaluations and the leaderboard ------------------------------------------------------------------------


class EvaluationRunSerializer(serializers.ModelSerializer[EvaluationRun]):
    """One model scored on one release: objective accuracy, and Risk, Quality and Comprehensive overall and per
    scene with their bootstrap intervals (``subjective``), as far as the reader may see them (``shown``)."""

    model = serializers.SlugRelatedField[RegisteredModel](slug_field="name", read_only=True)
    guardian = serializers.SlugRelatedField[GuardianVersion](slug_field="number", read_only=True)
    shown = serializers.SerializerMethodField(help_text="items, aggregates or none (alignment.visibility)")
    objective = serializers.SerializerMethodField()
    subjective = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    degenerate_items = serializers.SerializerMethodField()
    unextractable_items = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = EvaluationRun
        fields: ClassVar[list[str]] = [
            "id",
            "model",
            "release",
            "judge",
            "judge_label",
            "guardian",
            "judge_model",
            "options",
            "status",
            "shown",
            "counts",
            "objective",
            "subjective",
            "degenerate_items",
            "unextractable_items",
            "error",
            "job",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_shown(self, run: EvaluationRun) -> str:
        request = self.context.get("request")
        if request is None:
            return "none"
        levels: dict[int, str] = self.root.__dict__.setdefault("_levels", {})  # once per release and response
        if run.release_id not in levels:
            levels[run.release_id] = visibility.shown(request.user, run.release, public=False)
        return levels[run.release_id]

    def _part(self, run: EvaluationRun, name: str, level: str = "aggregates") -> Any:
        shown = self.get_shown(run)
        if shown == "none" or (level == "items" and shown != "items"):
            return None
        return (run.results or {}).get(name)

    def get_objective(self, run: EvaluationRun) -> dict[str, Any] | None:
        return self._part(run, "objective")  # type: ignore[no-any-return]

    def get_subjective(self, run: EvaluationRun) -> dict[str, Any] | None:
        return self._part(run, "subjective")  # type: ignore[no-any-return]

    def get_counts(self, run: EvaluationRun) -> dict[str, Any]:
        return dict((run.results or {}).get("counts") or {})

    def get_degenerate_items(self, run: EvaluationRun) -> list[dict[str, Any]] | None:
        return self._part(run, "degenerate_items", "items")  # type: ignore[no-any-return]

    def get_unextractable_items(self, run: EvaluationRun) -> list[int] | None:
        return self._part(run, "unextractable_items", "items")  # type: ignore[no-any-return]

    def get_error(self, run: EvaluationRun) -> str:
        request = self.context.get("request")
        return run.error if request is not None and visibility.may_see_run_errors(request.user) else ""


EVALUATION_ORDERING = ["id", "-id", "created_at", "-created_at", "finished_at", "-finished_at"]


class EvaluationFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The allowlist of evaluation run filters and orderings."""

    release = serializers.IntegerField(required=False, min_value=1)
    model = serializers.CharField(required=False, max_length=128, help_text="model name or id")
    status = serializers.ChoiceField(choices=EvaluationStatus.choices, required=False)
    judge = serializers.ChoiceField(choices=JudgeKind.choices, required=False)
    ordering = serializers.ChoiceField(choices=EVALUATION_ORDERING, required=False)


class FigureSerializer(serializers.Serializer[dict[str, Any]]):
    value = serializers.FloatField(allow_null=True)
    ci = serializers.ListField(child=serializers.FloatField(), allow_null=True, help_text="bootstrap interval")


class FiguresSerializer(serializers.Serializer[dict[str, Any]]):
    accuracy = FigureSerializer()
    risk = FigureSerializer(help_text="lower is better")
    quality = FigureSerializer()
    comprehensive = FigureSerializer()


class LeaderboardRowSerializer(serializers.Serializer[dict[str, Any]]):
    run = serializers.IntegerField(help_text="evaluation run id")
    model = serializers.CharField()
    judge = serializers.CharField()
    weights = serializers.CharField(help_text="quality weights: plain or medes")
    finished_at = serializers.DateTimeField(allow_null=True)
    figures = FiguresSerializer()
    per_scene = serializers.DictField(
        child=serializers.DictField(), help_text="scene → its Risk, Quality and Comprehensive"
    )


class LeaderboardSerializer(serializers.Serializer[dict[str, Any]]):
    release = serializers.IntegerField()
    name = serializers.CharField()
    shown = serializers.CharField(help_text="items, aggregates or none (alignment.visibility)")
    sort = serializers.CharField()
    scenes = serializers.ListField(child=serializers.CharField())
    rows = LeaderboardRowSerializer(many=True)


class ReleaseSummarySerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    evaluations = serializers.IntegerField(help_text="succeeded evaluation runs")


class LeaderboardQuerySerializer(serializers.Serializer[dict[str, Any]]):
    sort = serializers.ChoiceField(
        choices=["comprehensive", "accuracy", "risk", "quality", "model"], required=False, default="comprehensive"
    )


# --- align pipelines ---------------------------------------------------------------------------------------


class PipelineSerializer(serializers.ModelSerializer[AlignPipeline]):
    """An align pipeline with each step's job and state (``steps``), and why a running one is not moving
    (``blocked``, empty when it moves)."""

    policy = serializers.SlugRelatedField[RegisteredModel](slug_field="name", read_only=True)
    aligned = serializers.SlugRelatedField[RegisteredModel](slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField[User](slug_field="username", read_only=True)
    steps = serializers.SerializerMethodField()
    blocked = serializers.SerializerMethodField()

    class Meta:
        model = AlignPipeline
        fields: ClassVar[list[str]] = [
            "id",
            "policy",
            "release",
            "status",
            "step",
            "steps",
            "blocked",
            "options",
            "datasets",
            "aligned",
            "error",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_steps(self, pipeline: AlignPipeline) -> list[dict[str, Any]]:
        """Each step in order: its job's id, status and progress (null before the step started)."""
        return [
            {
                "step": row["step"],
                "job": row["job"].pk if row["job"] else None,
                "status": row["job"].status if row["job"] else None,
                "progress": row["job"].progress if row["job"] else None,
            }
            for row in pipeline_service.steps(pipeline)
        ]

    def get_blocked(self, pipeline: AlignPipeline) -> str:
        return pipeline_service.blocked(pipeline)


class PipelineFilterSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=PipelineStatus.choices, required=False)
    policy = serializers.CharField(required=False, max_length=128, help_text="model name or id")


# --- alignment data ------------------------------------------------------------------------------------------


class TargetedPromptSerializer(serializers.ModelSerializer[TargetedPrompt]):
    policy = serializers.SlugRelatedField[RegisteredModel](slug_field="name", read_only=True)

    class Meta:
        model = TargetedPrompt
        fields: ClassVar[list[str]] = [
            "id",
            "policy",
            "scenario",
            "response",
            "judgement",
            "text",
            "norm",
            "reference_answer",
            "origin",
            "origin_detail",
            "status",
            "created_at",
        ]
        read_only_fields = fields


class PreferencePairSerializer(serializers.ModelSerializer[PreferencePair]):
    class Meta:
        model = PreferencePair
        fields: ClassVar[list[str]] = [
            "id",
            "prompt",
            "chosen",
            "chosen_source",
            "rejected",
            "chosen_scores",
            "rejected_scores",
            "margin",
            "status",
            "edited",
            "reviewed_at",
            "created_at",
        ]
        read_only_fields = fields


class AlignmentDatasetSerializer(serializers.ModelSerializer[AlignmentDataset]):
    created_by = serializers.SlugRelatedField[User](slug_field="username", read_only=True)

    class Meta:
        model = AlignmentDataset
        fields: ClassVar[list[str]] = ["id", "name", "kind", "sha256", "rows", "created_by", "created_at"]
        read_only_fields = fields


class ProposalFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The allowlist of targeted prompt and preference pair filters."""

    status = serializers.ChoiceField(choices=ProposalStatus.choices, required=False)
    policy = serializers.CharField(required=False, max_length=128, help_text="policy model name or id")


class DatasetFilterSerializer(serializers.Serializer[dict[str, Any]]):
    kind = serializers.ChoiceField(choices=DatasetKind.choices, required=False)


# --- the actions' bodies and answers -------------------------------------------------------------------------


class ActionErrorSerializer(serializers.Serializer[dict[str, Any]]):
    detail = serializers.CharField()


class ConfirmationSerializer(serializers.Serializer[dict[str, Any]]):
    detail = serializers.CharField(help_text="what promoting would change, as the page says it")
    against = serializers.IntegerField(
        allow_null=True, help_text="send it back with confirm_drop=true to promote anyway"
    )


def form_defaults(form: forms.Form) -> dict[str, Any]:
    """What the page's form starts from (its fields' initial values, the random request key left out): an API
    request that leaves a field out gets the value the page would have sent."""
    initial = {name: form.get_initial_for_field(field, name) for name, field in form.fields.items()}
    return {name: value for name, value in initial.items() if value is not None and name != "request_key"}


def _described(field: forms.Field, default: Any) -> dict[str, Any]:
    text = " ".join(str(part) for part in (field.label or "", field.help_text or "") if part)
    described: dict[str, Any] = {"required": field.required and default is None, "help_text": text or None}
    if isinstance(default, bool | int | float | str) and not isinstance(field, forms.ModelChoiceField):
        described["default"] = default
    return described


def _field(field: forms.Field, default: Any = None) -> serializers.Field[Any, Any, Any, Any]:
    """The serializer field documenting a form field (ids for a model choice), with the page's initial value as
    its default."""
    common = _described(field, default)
    if isinstance(field, forms.ModelChoiceField):
        model: type[Model] = field.queryset.model  # type: ignore[union-attr]
        return serializers.IntegerField(**{**common, "help_text": f"{model._meta.model_name} id"})
    if isinstance(field, forms.ChoiceField):
        choices = [c for c in list(field.choices) if c[0] != ""]  # type: ignore[arg-type]
        if choices:
            return serializers.ChoiceField(choices=choices, **common)
    if isinstance(field, forms.BooleanField):
        return serializers.BooleanField(help_text=common["help_text"], default=bool(default))
    if isinstance(field, forms.IntegerField):
        bounds: dict[str, Any] = {"min_value": field.min_value, "max_value": field.max_value}
        return serializers.IntegerField(**common, **{k: v for k, v in bounds.items() if v is not None})
    if isinstance(field, forms.FloatField | forms.DecimalField):
        return serializers.FloatField(**common)
    if "default" in common:
        common["default"] = str(common["default"])
    return serializers.CharField(**common, allow_blank=not field.required)


_FORM_SERIALIZERS: dict[str, type[serializers.Serializer[dict[str, Any]]]] = {}


def form_serializer(form: forms.Form, name: str) -> type[serializers.Serializer[dict[str, Any]]]:
    """A serializer describing ``form``'s fields, for the schema (one class per name and process: its fields
    are those of the first form seen; the form validates, this only describes)."""
    if name not in _FORM_SERIALIZERS:
        defaults = form_defaults(form)
        fields: dict[str, Any] = {key: _field(field, defaults.get(key)) for key, field in form.fields.items()}
        if "request_key" in fields:
            fields["request_key"] = serializers.CharField(
                required=False,
                max_length=64,
                help_text="An idempotency key (letters, digits, _:-): repeating a request with it returns what the "
                "first one started.",
            )
        _FORM_SERIALIZERS[name] = type(name, (serializers.Serializer,), {"__doc__": form.__doc__, **fields})
    return _FORM_SERIALIZERS[name]
