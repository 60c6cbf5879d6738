"""What every page's template gets: the navigation the user's roles allow."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from medes_site.roles import Role, has_role, user_roles

JOB_ROLES = (Role.CURATOR, Role.REVIEWER, Role.ML_ENGINEER)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The nav shows only what the signed-in user's roles may use."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    roles = [role for role in Role if role in user_roles(user)]
    items = [
        {"label": role.label, "url": reverse("role_home", args=[role.value]), "key": f"home-{role.value}"}
        for role in roles
    ]
    if has_role(user, Role.CURATOR, Role.REVIEWER):
        items.append({"label": _("Sources"), "url": reverse("benchmark:sources"), "key": "sources"})
        items.append({"label": _("Scenarios"), "url": reverse("benchmark:scenarios"), "key": "scenarios"})
        items.append({"label": _("Releases"), "url": reverse("benchmark:releases"), "key": "releases"})
    # model registry and imports (issue 3, items 9 and 10)
    if has_role(user, Role.CURATOR, Role.ML_ENGINEER):
        items.append({"label": _("Models"), "url": reverse("benchmark:models"), "key": "models"})
    if has_role(user, Role.CURATOR):
        items.append({"label": _("Imports"), "url": reverse("benchmark:imports"), "key": "imports"})
    # labeling (issue 4): the annotator's campaigns and own labels
    if has_role(user, Role.ANNOTATOR):
        items.append({"label": _("Labeling"), "url": reverse("annotation:campaigns"), "key": "labeling"})
        items.append({"label": _("My labels"), "url": reverse("annotation:history"), "key": "my-labels"})
    if has_role(user, Role.REVIEWER, Role.CURATOR, Role.ML_ENGINEER):  # issue 4: labeling campaigns
        items.append({"label": _("Campaigns"), "url": reverse("annotation:campaign_list"), "key": "campaigns"})
    if has_role(user, Role.ML_ENGINEER, Role.REVIEWER, Role.CURATOR):  # issue 5: the guardian
        items.append({"label": _("Guardian"), "url": reverse("alignment:guardian"), "key": "guardian"})
        items.append({"label": _("Alignment data"), "url": reverse("alignment:data"), "key": "aligndata"})
        items.append({"label": _("Align"), "url": reverse("alignment:pipelines"), "key": "pipelines"})
    if user_roles(user):  # issue 6: every role reads the leaderboard
        items.append({"label": _("Leaderboard"), "url": reverse("alignment:leaderboards"), "key": "leaderboard"})
    if has_role(user, *JOB_ROLES):
        items.append({"label": _("Jobs"), "url": reverse("jobs:list"), "key": "jobs"})
    if user.is_staff:
        items.append({"label": _("Admin"), "url": reverse("admin:index"), "key": "admin"})
    return {"nav_items": items, "user_roles": roles}
