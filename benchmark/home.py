"""The benchmark app's panels on the home page: recent sources (curators, reviewers) and models."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from benchmark.models import RegisteredModel, Response, Source, SourceKind
from medes_site.home import home_panel
from medes_site.http import AuthedRequest
from medes_site.roles import Role, has_role


@home_panel(Role.CURATOR, Role.REVIEWER, template="benchmark/partials/_sources_panel.html")
def sources_panel(request: AuthedRequest) -> dict[str, Any]:
    labels = dict(SourceKind.choices)
    by_kind = Source.objects.values("kind").annotate(n=Count("pk")).order_by("-n")
    return {
        "total": sum(row["n"] for row in by_kind),
        "by_kind": [(labels.get(row["kind"], row["kind"]), row["n"]) for row in by_kind],
    }


@home_panel(Role.CURATOR, Role.ML_ENGINEER, template="benchmark/partials/_models_panel.html")
def models_panel(request: AuthedRequest) -> dict[str, Any]:
    return {
        "models": RegisteredModel.objects.count(),
        "responses": Response.objects.count(),
        "may_import": has_role(request.user, Role.CURATOR),
    }
