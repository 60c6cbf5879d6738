"""REST API for jobs: read-only, scoped like the pages (ML engineers see all, others their own)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from medes_site import jobs
from medes_site.context_processors import JOB_ROLES
from medes_site.models import Job
from medes_site.roles import ALL_ROLES, has_role
from medes_site.serializers import JobFilterSerializer, JobSerializer


class HasAnyRole(permissions.BasePermission):
    """Signed in and holding at least one role (the schema and its docs: no role, nothing to call)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_role(request.user, *ALL_ROLES)


class HasJobRole(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_role(request.user, *JOB_ROLES)


def scoped_jobs(request: Request) -> QuerySet[Job]:
    queryset = jobs.jobs_for_user(request.user).select_related("triggered_by")
    filters = JobFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)  # a bad filter is a 400 naming the field
    for name in ("status", "kind"):
        if filters.validated_data.get(name):
            queryset = queryset.filter(**{name: filters.validated_data[name]})
    return queryset


@extend_schema(parameters=[JobFilterSerializer])
class JobList(generics.ListAPIView[Job]):
    serializer_class = JobSerializer
    permission_classes = (permissions.IsAuthenticated, HasJobRole)

    def get_queryset(self) -> QuerySet[Job]:
        return scoped_jobs(self.request)


class JobDetail(generics.RetrieveAPIView[Job]):
    serializer_class = JobSerializer
    permission_classes = (permissions.IsAuthenticated, HasJobRole)

    def get_queryset(self) -> QuerySet[Job]:
        return jobs.jobs_for_user(self.request.user)


urlpatterns = [
    path("jobs/", JobList.as_view(), name="api-job-list"),
    path("jobs/<int:pk>/", JobDetail.as_view(), name="api-job-detail"),
]
