from __future__ import annotations

from typing import ClassVar

from rest_framework import serializers

from benchmark.models import Provision, Release, Scenario, ScenarioKind, ScenarioOrigin, ScenarioStatus, Source


class SourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Source
        fields: ClassVar[list[str]] = [
            "id", "title", "kind", "issuer", "jurisdiction", "promulgated_on", "effective_on", "version",
            "original_name", "sha256", "size", "parse_status", "article_count", "chapter_count", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class ProvisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Provision
        fields: ClassVar[list[str]] = [
            "id", "source", "position", "number", "suffix", "label", "text", "book", "part", "chapter", "section",
        ]  # fmt: skip
        read_only_fields = fields


class ScenarioSerializer(serializers.ModelSerializer):
    scene: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Scenario
        fields: ClassVar[list[str]] = [
            "id", "kind", "scene", "stem", "options", "key", "norm", "reference_answer", "status", "origin",
            "version", "provisions", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class ReleaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Release
        fields: ClassVar[list[str]] = ["id", "name", "checksum", "item_count", "test_fraction", "changes", "created_at"]
        read_only_fields = fields


class ScenarioFilterSerializer(serializers.Serializer):
    """The allowlist of scenario filters."""

    status = serializers.ChoiceField(choices=ScenarioStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=ScenarioKind.choices, required=False)
    origin = serializers.ChoiceField(choices=ScenarioOrigin.choices, required=False)
    scene = serializers.CharField(required=False, max_length=64)
