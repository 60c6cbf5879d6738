"""The REST API's corpus and bank representations: sources, provisions, scenarios, releases, registered
models and responses, with their list filters."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers

from benchmark.models import (
    Provision,
    RegisteredModel,
    Release,
    Response,
    Scenario,
    ScenarioKind,
    ScenarioOrigin,
    ScenarioStatus,
    Scene,
    Source,
)


class SourceSerializer(serializers.ModelSerializer[Source]):
    class Meta:
        model = Source
        fields: ClassVar[list[str]] = [
            "id",
            "title",
            "kind",
            "issuer",
            "jurisdiction",
            "promulgated_on",
            "effective_on",
            "version",
            "original_name",
            "sha256",
            "size",
            "parse_status",
            "article_count",
            "chapter_count",
            "created_at",
        ]
        read_only_fields = fields


class ProvisionSerializer(serializers.ModelSerializer[Provision]):
    class Meta:
        model = Provision
        fields: ClassVar[list[str]] = [
            "id",
            "source",
            "position",
            "number",
            "suffix",
            "label",
            "text",
            "book",
            "part",
            "chapter",
            "section",
        ]
        read_only_fields = fields


class ScenarioSerializer(serializers.ModelSerializer[Scenario]):
    scene = serializers.SlugRelatedField[Scene](slug_field="name", read_only=True)
    scenes = serializers.SlugRelatedField[Scene](slug_field="name", many=True, read_only=True)

    class Meta:
        model = Scenario
        fields: ClassVar[list[str]] = [
            "id",
            "kind",
            "scene",
            "scenes",
            "stem",
            "options",
            "key",
            "norm",
            "reference_answer",
            "status",
            "origin",
            "version",
            "provisions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReleaseSerializer(serializers.ModelSerializer[Release]):
    class Meta:
        model = Release
        fields: ClassVar[list[str]] = ["id", "name", "checksum", "item_count", "test_fraction", "changes", "created_at"]
        read_only_fields = fields


class ScenarioFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The allowlist of scenario filters."""

    status = serializers.ChoiceField(choices=ScenarioStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=ScenarioKind.choices, required=False)
    origin = serializers.ChoiceField(choices=ScenarioOrigin.choices, required=False)
    scene = serializers.CharField(required=False, max_length=64)


# --- model registry and responses (issue 3, items 10 and 11) --------------------------------------


class RegisteredModelSerializer(serializers.ModelSerializer[RegisteredModel]):
    """A model as every API reader sees it: what it is, not where it runs."""

    class Meta:
        model = RegisteredModel
        fields: ClassVar[list[str]] = ["id", "name", "kind", "notes", "created_at"]
        read_only_fields = fields


class RegisteredModelConfigSerializer(serializers.ModelSerializer[RegisteredModel]):
    """A model with where it runs (its directory, endpoint and key variable): for ML engineers and administrators."""

    class Meta:
        model = RegisteredModel
        fields: ClassVar[list[str]] = [
            "id",
            "name",
            "kind",
            "path",
            "base_url",
            "model_id",
            "api_key_env",
            "notes",
            "created_at",
        ]
        read_only_fields = fields


class ResponseSerializer(serializers.ModelSerializer[Response]):
    model = serializers.SlugRelatedField[RegisteredModel](slug_field="name", read_only=True)
    scene = serializers.CharField(source="scenario.scene.name", read_only=True)

    class Meta:
        model = Response
        fields: ClassVar[list[str]] = [
            "id",
            "model",
            "scenario",
            "scenario_version",
            "scenario_hash",
            "scene",
            "text",
            "origin",
            "origin_detail",
            "job",
            "answer_key",
            "reported_choice",
            "choice",
            "extractable",
            "correct",
            "created_at",
        ]
        read_only_fields = fields


RESPONSE_ORDERING = ["id", "-id", "created_at", "-created_at", "model", "-model", "scenario", "-scenario"]


class ResponseFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The allowlist of response filters and orderings."""

    model = serializers.CharField(required=False, max_length=128, help_text="model name or id")
    scenario = serializers.IntegerField(required=False, min_value=1)
    scene = serializers.CharField(required=False, max_length=64)
    correct = serializers.BooleanField(required=False, allow_null=True, default=None)
    extractable = serializers.BooleanField(required=False, allow_null=True, default=None)
    ordering = serializers.ChoiceField(choices=RESPONSE_ORDERING, required=False)
