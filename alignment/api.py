"""REST API of the alignment app (mounted at api/alignment/): guardian versions and judgements, evaluation runs
and leaderboards, align pipelines and the alignment data (targeted prompts, preference pairs, frozen datasets),
read by the roles that read them on the pages, with the same scoped querysets; the actions (start a guardian
training, promote a version, start an evaluation, start or cancel an align pipeline) are in
alignment.api_actions, for ML engineers.

Who reads what, as on the pages:

- guardian versions, align pipelines, alignment data: ML engineers, reviewers, curators (views.READERS);
- judgements: reviewers and ML engineers, none on a response being labeled in a campaign the reader annotates
  in (blind labeling: its verdicts and model stay hidden from them, as on the review pages);
- evaluation runs and leaderboards: every leaderboard reader (alignment.visibility: ML engineers every run,
  others the succeeded ones; the figures only as far as ``shown`` allows; errors for ML engineers);
- targeted prompts and pairs: less those grown from an answer the reader labels (views_data.prompts_for_user).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django.db.models import Count, F, Model, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alignment import api_actions, visibility
from alignment.models import (
    AlignmentDataset,
    AlignPipeline,
    EvaluationRun,
    EvaluationStatus,
    GuardianVersion,
    Judgement,
    PreferencePair,
    TargetedPrompt,
)
from alignment.serializers import (
    AlignmentDatasetSerializer,
    DatasetFilterSerializer,
    EvaluationFilterSerializer,
    EvaluationRunSerializer,
    GuardianVersionSerializer,
    JudgementFilterSerializer,
    JudgementSerializer,
    LeaderboardQuerySerializer,
    LeaderboardSerializer,
    PipelineFilterSerializer,
    PipelineSerializer,
    PreferencePairSerializer,
    ProposalFilterSerializer,
    ReleaseSummarySerializer,
    TargetedPromptSerializer,
    VersionFilterSerializer,
)
from alignment.views import READERS
from alignment.views_data import pairs_for_user, prompts_for_user
from alignment.views_leaderboard import COLUMNS, latest_runs
from annotation.review import blind_response_ids
from benchmark.models import Release
from medes_site.http import AuthedRequest
from medes_site.roles import Role, has_role


def role_permission(*roles: Role) -> type[permissions.BasePermission]:
    """A permission class: signed in and holding one of ``roles`` (anonymous and role-less callers get 403)."""

    class HasRole(permissions.BasePermission):
        def has_permission(self, request: Request, view: APIView) -> bool:
            return has_role(request.user, *roles)

    return HasRole


GUARDIAN = (permissions.IsAuthenticated, role_permission(*READERS))
JUDGEMENTS = (permissions.IsAuthenticated, role_permission(Role.REVIEWER, Role.ML_ENGINEER))
LEADERBOARD = (permissions.IsAuthenticated, role_permission(*visibility.READERS))

_M = TypeVar("_M", bound=Model)


def _filters(request: Request, serializer: type[Any]) -> dict[str, Any]:
    """The query's filters, checked against their allowlist: an unknown value is a 400 naming the field."""
    filters = serializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return dict(filters.validated_data)


def _by_model(queryset: QuerySet[_M], field: str, name: str) -> QuerySet[_M]:
    """``field`` (a RegisteredModel foreign key) is the model named ``name``, or whose id it is."""
    by_name = Q(**{f"{field}__name": name})
    return queryset.filter(by_name | Q(**{f"{field}__pk": int(name)}) if name.isdigit() else by_name)


# --- guardian versions and judgements -------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        summary="List guardian versions",
        description="Every guardian version, newest first, with its metrics and which one is active.",
        parameters=[VersionFilterSerializer],
        tags=["guardian"],
    )
)
class VersionList(generics.ListAPIView[GuardianVersion]):
    serializer_class = GuardianVersionSerializer
    permission_classes = GUARDIAN

    def get_queryset(self) -> QuerySet[GuardianVersion]:
        data = _filters(self.request, VersionFilterSerializer)
        versions = GuardianVersion.objects.select_related("created_by")
        if data.get("status"):
            versions = versions.filter(status=data["status"])
        if data.get("active") is not None:
            versions = versions.filter(is_active=data["active"])
        return versions.order_by(data.get("ordering", "-number"), "-pk")


@extend_schema_view(
    get=extend_schema(
        summary="One guardian version",
        description="A version by its number, with its metrics per score and for the risk flag beside the "
        "active version's on the same test split (``baseline``).",
        tags=["guardian"],
    )
)
class VersionDetail(generics.RetrieveAPIView[GuardianVersion]):
    serializer_class = GuardianVersionSerializer
    permission_classes = GUARDIAN
    lookup_field = "number"
    queryset = GuardianVersion.objects.select_related("created_by")


def judgements_for_user(request: Request) -> QuerySet[Judgement]:
    """Every judge's judgements, less those on a response being labeled in a campaign the reader annotates in."""
    return Judgement.objects.exclude(response_id__in=blind_response_ids(request.user)).select_related(
        "response__model", "version", "reviewed_by"
    )


@extend_schema_view(
    get=extend_schema(
        summary="List judgements",
        description="Judgements of the guardian, the prompt judge and external judges, filtered by guardian "
        "version (its number), model (name or id), release, judge and review. None on an answer the caller "
        "labels in a campaign (blind labeling).",
        parameters=[JudgementFilterSerializer],
        tags=["guardian"],
    )
)
class JudgementList(generics.ListAPIView[Judgement]):
    serializer_class = JudgementSerializer
    permission_classes = JUDGEMENTS

    def get_queryset(self) -> QuerySet[Judgement]:
        data = _filters(self.request, JudgementFilterSerializer)
        judgements = judgements_for_user(self.request)
        if data.get("version"):
            judgements = judgements.filter(version__number=data["version"])
        if data.get("model"):
            judgements = _by_model(judgements, "response__model", data["model"])
        if data.get("release"):
            judgements = judgements.filter(response__scenario__release_items__release=data["release"]).distinct()
        if data.get("judge"):
            judgements = judgements.filter(judge=data["judge"])
        if data.get("reviewed") is not None:
            judgements = judgements.exclude(decision="") if data["reviewed"] else judgements.filter(decision="")
        ordering: str | OrderBy = data.get("ordering", "-id")
        if ordering in ("uncertainty", "-uncertainty"):  # the row stores certainty (the distance from 0.5)
            stored = F("uncertainty")
            ordering = stored.asc(nulls_last=True) if ordering[0] == "-" else stored.desc(nulls_last=True)
        return judgements.order_by(ordering, "-pk")


@extend_schema_view(
    get=extend_schema(
        summary="One judgement",
        description="404 for a judgement on an answer the caller labels in a campaign (blind labeling).",
        tags=["guardian"],
    )
)
class JudgementDetail(generics.RetrieveAPIView[Judgement]):
    serializer_class = JudgementSerializer
    permission_classes = JUDGEMENTS

    def get_queryset(self) -> QuerySet[Judgement]:
        return judgements_for_user(self.request)


# --- evaluations and leaderboards ----------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        summary="List evaluation runs",
        description="ML engineers see every run; other readers the succeeded ones. The figures are left out "
        "(``shown``: none) while the release's answers are being labeled in an active campaign.",
        parameters=[EvaluationFilterSerializer],
        tags=["evaluation"],
    )
)
class EvaluationList(generics.ListAPIView[EvaluationRun]):
    serializer_class = EvaluationRunSerializer
    permission_classes = LEADERBOARD

    def get_queryset(self) -> QuerySet[EvaluationRun]:
        data = _filters(self.request, EvaluationFilterSerializer)
        runs = visibility.evaluation_runs_for_user(self.request.user)
        if data.get("release"):
            runs = runs.filter(release=data["release"])
        if data.get("model"):
            runs = _by_model(runs, "model", data["model"])
        for name in ("status", "judge"):
            if data.get(name):
                runs = runs.filter(**{name: data[name]})
        return runs.order_by(data.get("ordering", "-id"), "-pk")


@extend_schema_view(
    get=extend_schema(
        summary="One evaluation run",
        description="Risk, Quality and Comprehensive overall and per scene with bootstrap intervals, accuracy, "
        "and (for readers who may see items) the answers that failed before any judge read them.",
        tags=["evaluation"],
    )
)
class EvaluationDetail(generics.RetrieveAPIView[EvaluationRun]):
    serializer_class = EvaluationRunSerializer
    permission_classes = LEADERBOARD

    def get_queryset(self) -> QuerySet[EvaluationRun]:
        return visibility.evaluation_runs_for_user(self.request.user)


class LeaderboardList(APIView):
    permission_classes = LEADERBOARD

    @extend_schema(
        summary="List leaderboards",
        description="One leaderboard per release: the releases, newest first, with their succeeded evaluations.",
        responses=ReleaseSummarySerializer(many=True),
        tags=["evaluation"],
    )
    def get(self, request: Request) -> Response:
        succeeded = Count("evaluations", filter=Q(evaluations__status=EvaluationStatus.SUCCEEDED))
        releases = Release.objects.annotate(n=succeeded).order_by("-created_at", "-pk")[:200]
        rows = [{"id": r.pk, "name": r.name, "created_at": r.created_at, "evaluations": r.n} for r in releases]
        return Response(ReleaseSummarySerializer(rows, many=True).data)  # type: ignore[arg-type]


def leaderboard_rows(release: Release, sort: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The newest succeeded run per model, judge and weights (the page's rows), sorted as the page sorts."""
    rows: list[dict[str, Any]] = []
    scenes: set[str] = set()
    for run in latest_runs(release):
        per_scene = (run.results.get("subjective") or {}).get("per_scene") or {}
        scenes.update(per_scene)
        figures = {}
        for column, ((part, name), _lower) in COLUMNS.items():
            block = run.results.get(part) or {}
            figures[column] = {"value": block.get(name), "ci": (block.get("ci") or {}).get(name)}
        rows.append(
            {
                "run": run.pk,
                "model": run.model.name,
                "judge": run.judge_label,
                "weights": run.options.get("weights", "plain"),
                "finished_at": run.finished_at,
                "figures": figures,
                "per_scene": per_scene,
            }
        )
    if sort in COLUMNS:
        sign = 1 if COLUMNS[sort][1] else -1  # lower is better for risk
        rows.sort(key=lambda r: (r["figures"][sort]["value"] is None, (r["figures"][sort]["value"] or 0) * sign))
    else:
        rows.sort(key=lambda r: r["model"])
    return rows, sorted(scenes)


class LeaderboardDetail(APIView):
    permission_classes = LEADERBOARD

    @extend_schema(
        summary="One release's leaderboard",
        description="Models × Risk, Quality, Comprehensive and accuracy with bootstrap intervals, and the "
        "per-scene breakdown. No rows (``shown``: none) while the release's answers are being labeled in an "
        "active campaign, except for reviewers and ML engineers who label none of them.",
        parameters=[LeaderboardQuerySerializer],
        responses=LeaderboardSerializer,
        tags=["evaluation"],
    )
    def get(self, request: Request, pk: int) -> Response:
        release = get_object_or_404(Release, pk=pk)
        sort = _filters(request, LeaderboardQuerySerializer)["sort"]
        level = visibility.shown(request.user, release, public=False)
        rows, scenes = leaderboard_rows(release, sort) if level != "none" else ([], [])
        data = {"release": release.pk, "name": release.name, "shown": level, "sort": sort, "scenes": scenes}
        return Response(LeaderboardSerializer({**data, "rows": rows}).data)


# --- align pipelines -------------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        summary="List align pipelines",
        description="Newest first, each with its steps' jobs and states.",
        parameters=[PipelineFilterSerializer],
        tags=["alignment"],
    )
)
class PipelineList(generics.ListAPIView[AlignPipeline]):
    serializer_class = PipelineSerializer
    permission_classes = GUARDIAN

    def get_queryset(self) -> QuerySet[AlignPipeline]:
        data = _filters(self.request, PipelineFilterSerializer)
        pipelines = AlignPipeline.objects.select_related("policy", "aligned", "created_by")
        if data.get("status"):
            pipelines = pipelines.filter(status=data["status"])
        if data.get("policy"):
            pipelines = _by_model(pipelines, "policy", data["policy"])
        return pipelines.order_by("-created_at", "-pk")


@extend_schema_view(get=extend_schema(summary="One align pipeline", tags=["alignment"]))
class PipelineDetail(generics.RetrieveAPIView[AlignPipeline]):
    serializer_class = PipelineSerializer
    permission_classes = GUARDIAN
    queryset = AlignPipeline.objects.select_related("policy", "aligned", "created_by")


# --- alignment data ---------------------------------------------------------------------------------------------


def _prompts(request: Request) -> QuerySet[TargetedPrompt]:
    return prompts_for_user(cast(AuthedRequest, request)).select_related("policy")


def _pairs(request: Request) -> QuerySet[PreferencePair]:
    return pairs_for_user(cast(AuthedRequest, request))


@extend_schema_view(
    get=extend_schema(
        summary="List targeted prompts",
        description="Less those grown from an answer the caller labels in a campaign (blind labeling).",
        parameters=[ProposalFilterSerializer],
        tags=["alignment"],
    )
)
class PromptList(generics.ListAPIView[TargetedPrompt]):
    serializer_class = TargetedPromptSerializer
    permission_classes = GUARDIAN

    def get_queryset(self) -> QuerySet[TargetedPrompt]:
        data = _filters(self.request, ProposalFilterSerializer)
        prompts = _prompts(self.request)
        if data.get("status"):
            prompts = prompts.filter(status=data["status"])
        if data.get("policy"):
            prompts = _by_model(prompts, "policy", data["policy"])
        return prompts.order_by("pk")


@extend_schema_view(get=extend_schema(summary="One targeted prompt", tags=["alignment"]))
class PromptDetail(generics.RetrieveAPIView[TargetedPrompt]):
    serializer_class = TargetedPromptSerializer
    permission_classes = GUARDIAN

    def get_queryset(self) -> QuerySet[TargetedPrompt]:
        return _prompts(self.request)


@extend_schema_view(
    get=extend_schema(
        summary="List preference pairs",
        description="Less those of prompts the caller may not see (blind labeling).",
        parameters=[ProposalFilterSerializer],
        tags=["alignment"],
    )
)
class PairList(generics.ListAPIView[PreferencePair]):
    serializer_class = PreferencePairSerializer
    permission_classes = GUARDIAN

    def get_queryset(self) -> QuerySet[PreferencePair]:
        data = _filters(self.request, ProposalFilterSerializer)
        pairs = _pairs(self.request)
        if data.get("status"):
            pairs = pairs.filter(status=data["status"])
        if data.get("policy"):
            pairs = _by_model(pairs, "prompt__policy", data["policy"])
        return pairs.order_by("pk")


@extend_schema_view(get=extend_schema(summary="One preference pair", tags=["alignment"]))
class PairDetail(generics.RetrieveAPIView[PreferencePair]):
    serializer_class = PreferencePairSerializer
    permission_classes = GUARDIAN

    def get_queryset(self) -> QuerySet[PreferencePair]:
        return _pairs(self.request)


@extend_schema_view(
    get=extend_schema(
        summary="List frozen datasets",
        description="Accepted pairs frozen in TRL's format (SFT or DPO), with their hash and row count.",
        parameters=[DatasetFilterSerializer],
        tags=["alignment"],
    )
)
class DatasetList(generics.ListAPIView[AlignmentDataset]):
    serializer_class = AlignmentDatasetSerializer
    permission_classes = GUARDIAN

    def get_queryset(self) -> QuerySet[AlignmentDataset]:
        data = _filters(self.request, DatasetFilterSerializer)
        datasets = AlignmentDataset.objects.select_related("created_by")
        return (datasets.filter(kind=data["kind"]) if data.get("kind") else datasets).order_by("-created_at", "-pk")


@extend_schema_view(get=extend_schema(summary="One frozen dataset", tags=["alignment"]))
class DatasetDetail(generics.RetrieveAPIView[AlignmentDataset]):
    serializer_class = AlignmentDatasetSerializer
    permission_classes = GUARDIAN
    queryset = AlignmentDataset.objects.select_related("created_by")


urlpatterns = [
    path("guardian/versions/", VersionList.as_view(), name="api-guardian-version-list"),
    path("guardian/versions/<int:number>/", VersionDetail.as_view(), name="api-guardian-version-detail"),
    path(
        "guardian/versions/<int:number>/promote/",
        api_actions.PromoteVersion.as_view(),
        name="api-guardian-version-promote",
    ),
    path("guardian/train/", api_actions.StartTraining.as_view(), name="api-guardian-train"),
    path("guardian/judgements/", JudgementList.as_view(), name="api-judgement-list"),
    path("guardian/judgements/<int:pk>/", JudgementDetail.as_view(), name="api-judgement-detail"),
    path("evaluations/", EvaluationList.as_view(), name="api-evaluation-list"),
    path("evaluations/start/", api_actions.StartEvaluation.as_view(), name="api-evaluation-start"),
    path("evaluations/<int:pk>/", EvaluationDetail.as_view(), name="api-evaluation-detail"),
    path("leaderboards/", LeaderboardList.as_view(), name="api-leaderboard-list"),
    path("leaderboards/<int:pk>/", LeaderboardDetail.as_view(), name="api-leaderboard-detail"),
    path("pipelines/", PipelineList.as_view(), name="api-pipeline-list"),
    path("pipelines/start/", api_actions.StartPipeline.as_view(), name="api-pipeline-start"),
    path("pipelines/<int:pk>/", PipelineDetail.as_view(), name="api-pipeline-detail"),
    path("pipelines/<int:pk>/cancel/", api_actions.CancelPipeline.as_view(), name="api-pipeline-cancel"),
    path("data/prompts/", PromptList.as_view(), name="api-prompt-list"),
    path("data/prompts/<int:pk>/", PromptDetail.as_view(), name="api-prompt-detail"),
    path("data/pairs/", PairList.as_view(), name="api-pair-list"),
    path("data/pairs/<int:pk>/", PairDetail.as_view(), name="api-pair-detail"),
    path("data/datasets/", DatasetList.as_view(), name="api-dataset-list"),
    path("data/datasets/<int:pk>/", DatasetDetail.as_view(), name="api-dataset-detail"),
]
