"""Home-page panels of the review side: disputes waiting, paused annotators, campaigns."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from annotation.models import ItemState
from annotation.review import annotating, campaigns_for_user, paused_members
from medes_site.home import home_panel
from medes_site.http import AuthedRequest
from medes_site.roles import Role


@home_panel(Role.REVIEWER, Role.CURATOR, Role.ML_ENGINEER, template="annotation/partials/_campaigns_panel.html")
def campaigns_panel(request: AuthedRequest) -> dict[str, Any]:
    campaigns = campaigns_for_user(request.user)
    # no disputes (nor a link to them) where the user annotates: the adjudication queue is blind to them there
    disputed = Q(items__state=ItemState.DISPUTED) & ~Q(pk__in=annotating(request.user))
    rows = campaigns.annotate(disputed=Count("items", filter=disputed)).order_by("-created_at")[:10]
    return {"campaigns": rows, "paused": list(paused_members(campaigns, request.user)[:20])}
