"""Read-only REST API over the corpus, the scenario bank, releases, the model registry and responses
(curators, reviewers and ML engineers, who evaluate models on releases)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from benchmark import exports
from benchmark.models import Provision, RegisteredModel, Release, Response, Scenario, Source
from benchmark.responses import may_register_runnable, responses_for_user
from benchmark.scenarios import in_scene, resolve_scene
from benchmark.serializers import (
    ProvisionSerializer,
    RegisteredModelConfigSerializer,
    RegisteredModelSerializer,
    ReleaseSerializer,
    ResponseFilterSerializer,
    ResponseSerializer,
    ScenarioFilterSerializer,
    ScenarioSerializer,
    SourceSerializer,
)
from medes_site.roles import Role, has_role


class CorpusRole(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_role(request.user, Role.CURATOR, Role.REVIEWER, Role.ML_ENGINEER)


PERMISSIONS = (permissions.IsAuthenticated, CorpusRole)


class SourceList(generics.ListAPIView[Source]):
    serializer_class = SourceSerializer
    permission_classes = PERMISSIONS
    queryset = Source.objects.all()


class ProvisionList(generics.ListAPIView[Provision]):
    serializer_class = ProvisionSerializer
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[Provision]:
        source = get_object_or_404(Source, pk=self.kwargs["pk"])  # a missing source is 404, as its page is
        return Provision.objects.filter(source=source).order_by("position")


@extend_schema(parameters=[ScenarioFilterSerializer])
class ScenarioList(generics.ListAPIView[Scenario]):
    serializer_class = ScenarioSerializer
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[Scenario]:
        filters = ScenarioFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)  # unknown values are a 400 naming the field
        queryset = Scenario.objects.select_related("scene").prefetch_related("provisions", "scenes").order_by("pk")
        data = filters.validated_data
        for name in ("status", "kind", "origin"):
            if data.get(name):
                queryset = queryset.filter(**{name: data[name]})
        if data.get("scene"):
            scene = resolve_scene(data["scene"])  # any spelling; an item counts under each of its scenes
            queryset = queryset.filter(in_scene(scene)) if scene else queryset.none()
        return queryset


class ScenarioDetail(generics.RetrieveAPIView[Scenario]):
    serializer_class = ScenarioSerializer
    permission_classes = PERMISSIONS
    queryset = Scenario.objects.select_related("scene").prefetch_related("provisions", "scenes")


class ReleaseList(generics.ListAPIView[Release]):
    serializer_class = ReleaseSerializer
    permission_classes = PERMISSIONS
    queryset = Release.objects.all()


class ReleaseDownload(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        summary="Download a release export",
        description="fmt: jsonl, csv, datasheet (always); parquet, hf (404 until an export job has prepared them).",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: None},
    )
    def get(self, request: Request, pk: int, fmt: str) -> HttpResponseBase:
        release = Release.objects.filter(pk=pk).first()
        if release is None or fmt not in exports.FORMATS:
            return HttpResponse(status=404)
        response = exports.download_response(release, fmt)
        if response is None:  # prepared by an export job (POST /benchmark/releases/<pk>/export/<fmt>/)
            return HttpResponse(status=404)
        return response


# --- model registry and responses (issue 3, items 10 and 11) --------------------------------------


class ModelSerializerByRole(generics.GenericAPIView[RegisteredModel]):
    """Where a model runs (directory, endpoint, key variable) is shown to ML engineers and administrators only;
    curators and reviewers get what the model is."""

    swagger_fake_view = False  # drf-spectacular sets it on the view it builds the schema from

    def get_serializer_class(self) -> type[serializers.ModelSerializer[RegisteredModel]]:
        if self.swagger_fake_view or may_register_runnable(self.request.user):
            return RegisteredModelConfigSerializer  # the schema documents every field a reader may get
        return RegisteredModelSerializer


class ModelList(ModelSerializerByRole, generics.ListAPIView[RegisteredModel]):
    permission_classes = PERMISSIONS
    queryset = RegisteredModel.objects.order_by("name")


class ModelDetail(ModelSerializerByRole, generics.RetrieveAPIView[RegisteredModel]):
    permission_classes = PERMISSIONS
    queryset = RegisteredModel.objects.all()


@extend_schema(parameters=[ResponseFilterSerializer])
class ResponseList(generics.ListAPIView[Response]):
    serializer_class = ResponseSerializer
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[Response]:
        filters = ResponseFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)  # unknown values are a 400 naming the field
        data = filters.validated_data
        queryset = responses_for_user(self.request.user)  # blind labeling: none the caller is labeling
        if data.get("model"):
            name = data["model"]
            by_model = Q(model__name=name) | Q(model__pk=int(name)) if name.isdigit() else Q(model__name=name)
            queryset = queryset.filter(by_model)
        if data.get("scenario"):
            queryset = queryset.filter(scenario=data["scenario"])
        if data.get("scene"):  # any spelling of the scene; an unknown scene matches nothing
            scene = resolve_scene(data["scene"])
            in_it = Scenario.objects.filter(in_scene(scene)) if scene else Scenario.objects.none()
            queryset = queryset.filter(scenario__in=in_it)
        for name in ("correct", "extractable"):
            if data.get(name) is not None:
                queryset = queryset.filter(**{name: data[name]})
        ordering = data.get("ordering", "id")
        return queryset.order_by(ordering.replace("model", "model__name"), "pk")


class ResponseDetail(generics.RetrieveAPIView[Response]):
    serializer_class = ResponseSerializer
    permission_classes = PERMISSIONS

    def get_queryset(self) -> QuerySet[Response]:
        return responses_for_user(self.request.user)


urlpatterns = [
    path("sources/", SourceList.as_view(), name="api-source-list"),
    path("sources/<int:pk>/provisions/", ProvisionList.as_view(), name="api-provision-list"),
    path("scenarios/", ScenarioList.as_view(), name="api-scenario-list"),
    path("scenarios/<int:pk>/", ScenarioDetail.as_view(), name="api-scenario-detail"),
    path("releases/", ReleaseList.as_view(), name="api-release-list"),
    path("releases/<int:pk>/<str:fmt>/", ReleaseDownload.as_view(), name="api-release-download"),
    path("models/", ModelList.as_view(), name="api-model-list"),
    path("models/<int:pk>/", ModelDetail.as_view(), name="api-model-detail"),
    path("responses/", ResponseList.as_view(), name="api-response-list"),
    path("responses/<int:pk>/", ResponseDetail.as_view(), name="api-response-detail"),
]
