"""What every page's template gets: the navigation the user's roles allow (built in medes_site/navigation.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from medes_site.navigation import JOB_ROLES as JOB_ROLES  # the roles that see jobs; views and the API import it here
from medes_site.navigation import desks_for, menu_for
from medes_site.roles import Role, user_roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The header's menus and the user's role desks; nothing for a visitor who is not signed in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_groups": [], "nav_desks": [], "user_roles": []}
    # built when a template reads them: the header has them, the partials htmx swaps in (most requests) do not
    return {
        "nav_groups": SimpleLazyObject(lambda: menu_for(user, request.path)),
        "nav_desks": SimpleLazyObject(lambda: desks_for(user)),
        "user_roles": SimpleLazyObject(lambda: [role for role in Role if role in user_roles(user)]),
    }
