"""The REST API's job representations: a job as the API shows it, and the job list's filters."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import User
from rest_framework import serializers

from medes_site.jobs import REGISTRY, may_see_outputs
from medes_site.models import Job, JobStatus


class JobSerializer(serializers.ModelSerializer[Job]):
    triggered_by = serializers.SlugRelatedField[User](slug_field="username", read_only=True)

    class Meta:
        model = Job
        fields: ClassVar[list[str]] = [
            "id",
            "kind",
            "queue",
            "config",
            "status",
            "progress",
            "progress_message",
            "heartbeat_at",
            "metrics",
            "artifacts",
            "error",
            "triggered_by",
            "attempt",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Job) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not may_see_outputs(request.user, instance):  # blind labeling
            data["metrics"], data["artifacts"] = None, None
        return data


class JobFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The allowlist of job filters the API accepts."""

    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    kind = serializers.CharField(required=False, max_length=64)

    def validate_kind(self, value: str) -> str:
        if value not in REGISTRY:
            raise serializers.ValidationError(f"Unknown job kind {value!r}.")
        return value
