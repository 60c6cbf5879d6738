"""Serializers of the annotation API: explicit fields, read-only where the server decides."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from annotation.models import AcceptedLabel, Assignment, Campaign, Label
from benchmark.models import Provision
from medes_site import storable

MAX_ID = 2**63 - 1  # a larger number is no row's id (and would overflow the database's integer)
MAX_DIMENSIONS = 50


class CampaignSerializer(serializers.ModelSerializer[Campaign]):
    class Meta:
        model = Campaign
        fields = (
            "id",
            "name",
            "description",
            "status",
            "overlap",
            "consensus_rule",
            "blind",
            "deadline",
            "label_schema",
            "release",
            "created_at",
        )
        read_only_fields = fields


class AssignmentSerializer(serializers.ModelSerializer[Assignment]):
    """The annotator's own assignment: the item's text, never anyone's label."""

    campaign = serializers.IntegerField(source="item.campaign_id", read_only=True)
    scenario = serializers.CharField(source="item.scenario.stem", read_only=True)
    norm = serializers.CharField(source="item.scenario.norm", read_only=True)
    response = serializers.CharField(source="item.response.text", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Assignment
        fields = (
            "id",
            "item",
            "campaign",
            "status",
            "reserved_at",
            "expires_at",
            "finished_at",
            "scenario",
            "norm",
            "response",
        )
        read_only_fields = fields


class LabelSerializer(serializers.ModelSerializer[Label]):
    campaign = serializers.IntegerField(source="item.campaign_id", read_only=True)
    provisions = serializers.PrimaryKeyRelatedField[Provision](many=True, read_only=True)

    class Meta:
        model = Label
        fields = (
            "id",
            "item",
            "campaign",
            "annotator",
            "scores",
            "rationale",
            "provisions",
            "guideline_version",
            "seconds_spent",
            "version",
            "submitted_at",
            "updated_at",
        )
        read_only_fields = fields


class ItemRefSerializer(serializers.Serializer[dict[str, Any]]):
    """The item a submit is for, read first: an item that is not the caller's is 404 before anything else."""

    item = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class LabelSubmitSerializer(serializers.Serializer[dict[str, Any]]):
    item = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    scores = serializers.DictField(child=serializers.IntegerField())
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)
    provisions = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, default=list, max_length=50
    )
    idempotency_key = serializers.CharField(max_length=64)
    expected_version = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    seconds_spent = serializers.IntegerField(
        min_value=0, max_value=86_400, required=False, allow_null=True, default=None
    )

    def validate_scores(self, value: dict[str, int]) -> dict[str, int]:
        """Dimension keys are short words: a key the database or a JSON answer cannot carry (a NUL, a broken
        ``\\u`` escape) is refused here, before any message repeats it."""
        if len(value) > MAX_DIMENSIONS or any(len(key) > 64 or storable.problem(key) for key in value):
            raise serializers.ValidationError(_("Give one score per dimension of the campaign's schema, by its key."))
        return value


class ConflictSerializer(serializers.Serializer[dict[str, Any]]):
    detail = serializers.CharField()
    current = serializers.DictField()
    mine = serializers.DictField()


class AcceptedLabelSerializer(serializers.ModelSerializer[AcceptedLabel]):
    campaign = serializers.IntegerField(source="item.campaign_id", read_only=True)
    source_labels = serializers.PrimaryKeyRelatedField[Label](many=True, read_only=True)

    class Meta:
        model = AcceptedLabel
        fields = (
            "id",
            "item",
            "campaign",
            "scores",
            "rationale",
            "provenance",
            "source_labels",
            "decided_by",
            "note",
            "guideline_version",
            "created_at",
        )
        read_only_fields = fields


class CampaignFilterSerializer(serializers.Serializer[dict[str, Any]]):
    campaign = serializers.IntegerField(min_value=1, required=False)
