"""REST API of labeling campaigns (mounted at api/annotation/): campaigns, my assignments, labels (submit with an
idempotency key and a version), accepted labels.

Blind labeling: an annotator's routes return only their own assignments and labels; a submit that conflicts
returns the caller's own stored label, never anyone else's. Other people's labels are listed only to users who
are not annotators of that campaign (reviewers, curators, ML engineers).

Scope, as on the pages: an annotator reaches only the campaigns they annotate that are active or closed (never a
draft), and only the items handed to them; an item id outside that is 404 before anything else is looked at (a
submit never answers with another campaign's schema or status).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django.contrib.auth.models import User
from django.db.models import Model, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.assignments import ANNOTATOR_VISIBLE, annotating_campaigns, items_of_annotator, next_assignment
from annotation.models import AcceptedLabel, Assignment, Campaign, Label, Member, MemberRole
from annotation.review import campaigns_for_user, label_campaigns_for_user
from annotation.schema import LabelError
from annotation.serializers import (
    AcceptedLabelSerializer,
    AssignmentSerializer,
    CampaignFilterSerializer,
    CampaignSerializer,
    ConflictSerializer,
    ItemRefSerializer,
    LabelSerializer,
    LabelSubmitSerializer,
)
from annotation.services import CampaignError, NotAssignedError, StaleLabelError, Submission, submit_label
from medes_site.roles import ALL_ROLES, Role, has_role


class AnyRole(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_role(request.user, *ALL_ROLES)


class ReviewRole(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_role(request.user, Role.REVIEWER, Role.CURATOR, Role.ML_ENGINEER)


PERMISSIONS = (permissions.IsAuthenticated, AnyRole)


def visible_campaigns(request: Request) -> QuerySet[Campaign]:
    """Campaigns the user annotates (active or closed: a draft is hidden from annotators, as on the pages), those
    they are another kind of member of, and those the review side may read."""
    user = cast(User, request.user)
    annotating = annotating_campaigns(user).values("pk")
    other_roles = Member.objects.filter(user=user.pk).exclude(role=MemberRole.ANNOTATOR).values("campaign_id")
    readable = campaigns_for_user(user).values("pk")
    return Campaign.objects.filter(Q(pk__in=annotating) | Q(pk__in=other_roles) | Q(pk__in=readable))


_M = TypeVar("_M", bound=Model)


def _filtered(request: Request, queryset: QuerySet[_M], field: str) -> QuerySet[_M]:
    filters = CampaignFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    if filters.validated_data.get("campaign"):
        queryset = queryset.filter(**{field: filters.validated_data["campaign"]})
    return queryset


class CampaignList(generics.ListAPIView[Campaign]):
    serializer_class = CampaignSerializer
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[Campaign]:
        return visible_campaigns(self.request).order_by("-created_at", "-pk")


class CampaignDetail(generics.RetrieveAPIView[Campaign]):
    serializer_class = CampaignSerializer
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[Campaign]:
        return visible_campaigns(self.request)


@extend_schema(parameters=[CampaignFilterSerializer])
class MyAssignments(generics.ListAPIView[Assignment]):
    """The caller's own assignments (every status)."""

    serializer_class = AssignmentSerializer
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[Assignment]:
        user = cast(User, self.request.user)
        mine = Assignment.objects.filter(user=user.pk, item__campaign__in=annotating_campaigns(user))
        mine = mine.select_related("item__scenario", "item__response")
        return _filtered(self.request, mine, "item__campaign").order_by("-reserved_at", "-pk")


class NextAssignment(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        request=None,
        responses={
            200: AssignmentSerializer,
            204: OpenApiResponse(description="Nothing left to label."),
            403: OpenApiResponse(description="Paused, or the campaign is not open."),
            404: OpenApiResponse(description="Not an annotator of this campaign."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        """Reserve the next item (or return the one already reserved)."""
        campaign = get_object_or_404(annotating_campaigns(cast(User, request.user)), pk=pk)
        try:
            assignment = next_assignment(campaign, cast(User, request.user))
        except NotAssignedError as error:
            raise NotFound(str(error)) from None
        except CampaignError as error:
            return Response({"detail": str(error)}, status=status.HTTP_403_FORBIDDEN)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AssignmentSerializer(assignment).data)


@extend_schema(parameters=[CampaignFilterSerializer])
class LabelList(generics.ListCreateAPIView[Label]):
    """GET: the caller's labels, plus every label of campaigns the caller reviews without annotating in them.
    POST: submit a label; 201 when stored, 200 when the same submit was already stored, 409 with both versions
    when the stored label changed since it was read, 400 with the field errors."""

    permission_classes = PERMISSIONS

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        # a submit is read as a plain dict (LabelSubmitSerializer), not as a Label: hence not BaseSerializer[Label]
        return LabelSubmitSerializer if self.request.method == "POST" else LabelSerializer

    def get_queryset(self) -> QuerySet[Label]:
        user = self.request.user
        reviewable = label_campaigns_for_user(user)  # blind labeling: the one rule
        mine = Q(annotator=user.pk, item__campaign__status__in=ANNOTATOR_VISIBLE)  # never in a draft, as on the pages
        labels = Label.objects.filter(mine | Q(item__campaign__in=reviewable))
        labels = labels.select_related("item").prefetch_related("provisions")
        return _filtered(self.request, labels, "item__campaign").order_by("pk")

    @extend_schema(
        request=LabelSubmitSerializer,
        responses={
            201: LabelSerializer,
            200: LabelSerializer,
            400: OpenApiResponse(description="Field errors."),
            404: OpenApiResponse(description="The item is not assigned to you."),
            409: ConflictSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        user = cast(User, request.user)
        ref = ItemRefSerializer(data=request.data)
        ref.is_valid(raise_exception=True)
        # the item first: one that is not the caller's is 404 whatever else the body says
        item = items_of_annotator(user).select_related("campaign").filter(pk=ref.validated_data["item"]).first()
        if item is None:
            raise NotFound(_("This item is not assigned to you."))
        form = LabelSubmitSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        submission = Submission(
            scores=data["scores"],
            rationale=data["rationale"],
            provisions=tuple(data["provisions"]),
            idempotency_key=data["idempotency_key"],
            expected_version=data["expected_version"],
            seconds_spent=data["seconds_spent"],
        )
        try:
            label, created = submit_label(item, user, submission)
        except NotAssignedError as error:
            raise NotFound(str(error)) from None
        except StaleLabelError as error:
            current = error.current  # the caller's own label: nobody else's is ever in a conflict
            body = {
                "detail": str(error),
                "current": {"scores": current.scores, "rationale": current.rationale, "version": current.version},
                "mine": {**error.mine, "expected_version": data["expected_version"]},
            }
            return Response(body, status=status.HTTP_409_CONFLICT)
        except LabelError as error:
            fields = {f"scores.{k}" if k != "rationale" else k: [v] for k, v in error.errors.items()}
            raise ValidationError(fields) from None
        except CampaignError as error:
            raise ValidationError({"detail": [str(error)]}) from None
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema(parameters=[CampaignFilterSerializer])
class AcceptedLabelList(generics.ListAPIView[AcceptedLabel]):
    serializer_class = AcceptedLabelSerializer
    permission_classes = (permissions.IsAuthenticated, ReviewRole)

    def get_queryset(self) -> QuerySet[AcceptedLabel]:
        campaigns = label_campaigns_for_user(self.request.user)  # blind labeling: the one rule
        accepted = AcceptedLabel.objects.filter(item__campaign__in=campaigns).select_related("item")
        return _filtered(self.request, accepted.prefetch_related("source_labels"), "item__campaign").order_by("pk")


urlpatterns = [
    path("campaigns/", CampaignList.as_view(), name="api-campaign-list"),
    path("campaigns/<int:pk>/", CampaignDetail.as_view(), name="api-campaign-detail"),
    path("campaigns/<int:pk>/next/", NextAssignment.as_view(), name="api-assignment-next"),
    path("assignments/", MyAssignments.as_view(), name="api-assignment-list"),
    path("labels/", LabelList.as_view(), name="api-label-list"),
    path("accepted-labels/", AcceptedLabelList.as_view(), name="api-accepted-list"),
]
