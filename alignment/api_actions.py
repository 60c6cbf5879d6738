"""The alignment API's actions, for ML engineers (routed in alignment.api): start a guardian training, promote a
guardian version, start an evaluation, start or cancel an align pipeline.

Each goes through the form the page posts (alignment.forms: the same validation, its errors as a 400 naming the
fields) and the service the page calls (medes_site.jobs.enqueue_job, services.promote, pipelines.start and
pipelines.cancel). Repeating an action is what repeating it on the page is: a start sent again with the same
``request_key`` answers 200 with what the first one started (201 the first time); promoting the active version
and cancelling a finished pipeline change nothing and answer 200.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, cast

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import DatabaseError
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from alignment import pipelines as pipeline_service
from alignment import services
from alignment.forms import EvaluateForm, PromoteForm, StartPipelineForm, TrainForm
from alignment.kinds import EVALUATE_JOB, TRAIN_JOB
from alignment.models import AlignPipeline, GuardianVersion
from alignment.serializers import (
    ActionErrorSerializer,
    ConfirmationSerializer,
    GuardianVersionSerializer,
    PipelineSerializer,
    form_defaults,
    form_serializer,
)
from medes_site.jobs import JobError, enqueue_job
from medes_site.models import Job
from medes_site.roles import Role, has_role
from medes_site.serializers import JobSerializer


class IsMLEngineer(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_role(request.user, Role.ML_ENGINEER)


ACTORS = (permissions.IsAuthenticated, IsMLEngineer)
BAD_INPUT = OpenApiResponse(description="Field errors ({field: [messages]}), or {detail} when it cannot start.")


def form_errors(form: forms.Form) -> dict[str, list[str]]:
    """A form's errors as DRF words them: per field, and the form's own under ``non_field_errors``."""
    return {
        ("non_field_errors" if name == NON_FIELD_ERRORS else name): [str(e) for e in errors]
        for name, errors in form.errors.items()
    }


def bad(form: forms.Form) -> Response:
    return Response(form_errors(form), status=status.HTTP_400_BAD_REQUEST)


class FormAction(generics.GenericAPIView[Any]):
    """An action whose body is a page's form: the schema documents that form's fields."""

    permission_classes = ACTORS
    form_class: type[forms.Form] = forms.Form
    body_name = "ActionRequest"

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        try:
            form = self.form_class()
        except DatabaseError:
            # `check --deploy` builds the schema before any migration: describe the fields the form class
            # declares (its __init__ reads the newest release and the demo model from the database)
            form = forms.Form()
            form.fields = copy.deepcopy(self.form_class.base_fields)
        return form_serializer(form, self.body_name)

    def bound_form(self) -> forms.Form:
        """The form bound to the request's fields, and the page's initial values for those it leaves out."""
        given = self.request.data
        sent = given.dict() if isinstance(given, QueryDict) else dict(cast(Mapping[str, Any], given))
        return self.form_class({**form_defaults(self.form_class()), **sent})


def start_job(request: Request, form: forms.Form, job: Callable[[], tuple[str, dict[str, Any]]]) -> Response:
    """Start the job a valid form asks for (alignment.views.start_job's steps): 201 with the job, 200 with the
    one the first request started when ``request_key`` repeats, 400 when it cannot start."""
    key = form.cleaned_data.get("request_key") or None
    again = bool(key) and Job.objects.filter(request_key=key).exists()
    try:
        kind, config = job()
        created = enqueue_job(kind, config, user=request.user, request=request._request, request_key=key)
    except JobError as error:
        return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
    data = JobSerializer(created, context={"request": request}).data
    return Response(data, status=status.HTTP_200_OK if again else status.HTTP_201_CREATED)


JOB_RESPONSES: dict[int, Any] = {
    201: JobSerializer,
    200: OpenApiResponse(JobSerializer, description="The job the first request with this key started."),
    400: BAD_INPUT,
}


class StartTraining(FormAction):
    form_class = TrainForm
    body_name = "GuardianTrainingRequest"

    @extend_schema(
        summary="Start a guardian training",
        description="Trains a new guardian version (and optionally its critic) on the accepted labels, as a job "
        "(the guardian page's form). Follow it at /api/jobs/{id}/.",
        responses=JOB_RESPONSES,
        tags=["guardian"],
    )
    def post(self, request: Request) -> Response:
        form = self.bound_form()
        if not form.is_valid():
            return bad(form)
        return start_job(request, form, lambda: (TRAIN_JOB, form.job_config()))  # type: ignore[attr-defined]


class PromoteVersion(FormAction):
    form_class = PromoteForm
    body_name = "GuardianPromotionRequest"

    @extend_schema(
        summary="Promote a guardian version",
        description="Makes a ready version the active one (promoting the active version again changes nothing). "
        "A version that scores lower than the active one on the same split, or was measured on another split, "
        "is refused with 409 naming the drop: send the request again with confirm_drop=true and the "
        "``against`` it returned.",
        responses={
            200: GuardianVersionSerializer,
            400: OpenApiResponse(ActionErrorSerializer, description="Not ready, or its files fail the check."),
            409: ConfirmationSerializer,
        },
        tags=["guardian"],
    )
    def post(self, request: Request, number: int) -> Response:
        version = get_object_or_404(GuardianVersion, number=number)
        form = self.bound_form()
        if not form.is_valid():
            return bad(form)
        try:
            promoted = services.promote(version, user=request.user, **form.promote_options())  # type: ignore[attr-defined]
        except services.PromotionNeedsConfirmationError as needed:
            body = {"detail": str(needed), "against": needed.check.active_pk}
            return Response(body, status=status.HTTP_409_CONFLICT)
        except services.GuardianError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(GuardianVersionSerializer(promoted).data)


class StartEvaluation(FormAction):
    form_class = EvaluateForm
    body_name = "EvaluationRequest"

    @extend_schema(
        summary="Start an evaluation",
        description="Scores a model on a frozen release with a judge (the leaderboard's form), as a job; its run "
        "appears under /api/alignment/evaluations/ when it starts.",
        responses=JOB_RESPONSES,
        tags=["evaluation"],
    )
    def post(self, request: Request) -> Response:
        form = self.bound_form()
        if not form.is_valid():
            return bad(form)
        return start_job(request, form, lambda: (EVALUATE_JOB, form.job_config()))  # type: ignore[attr-defined]


class StartPipeline(FormAction):
    form_class = StartPipelineForm
    body_name = "AlignPipelineRequest"

    @extend_schema(
        summary="Start an align pipeline",
        description="Evaluate → targeted prompts → pairs → (review gate) → SFT → DPO → evaluate the aligned model, "
        "on a local model (the pipelines page's form, with the same run knobs). A model has at most one pipeline "
        "in progress.",
        responses={
            201: PipelineSerializer,
            200: OpenApiResponse(
                PipelineSerializer, description="The pipeline the first request with this key started."
            ),
            400: BAD_INPUT,
        },
        tags=["alignment"],
    )
    def post(self, request: Request) -> Response:
        form = self.bound_form()
        if not form.is_valid():
            return bad(form)
        data = form.cleaned_data
        key = data["request_key"] or None
        again = bool(key) and AlignPipeline.objects.filter(request_key=key).exists()
        try:
            pipeline = pipeline_service.start(
                data["policy"],
                data["release"],
                form.pipeline_options(),  # type: ignore[attr-defined]
                user=request.user,
                request_key=key,
            )
        except pipeline_service.PipelineError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        answer = status.HTTP_200_OK if again else status.HTTP_201_CREATED
        return Response(PipelineSerializer(pipeline).data, status=answer)


class CancelPipeline(APIView):
    permission_classes = ACTORS

    @extend_schema(
        summary="Cancel an align pipeline",
        description="Its current step's job is cancelled and no further step starts; cancelling a pipeline that is "
        "no longer in progress changes nothing.",
        request=None,
        responses=PipelineSerializer,
        tags=["alignment"],
    )
    def post(self, request: Request, pk: int) -> Response:
        pipeline = pipeline_service.cancel(get_object_or_404(AlignPipeline, pk=pk), user=request.user)
        return Response(PipelineSerializer(pipeline).data)
