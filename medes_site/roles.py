"""Roles are Django groups. Every view says which roles may use it; superusers may use everything."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

View = TypeVar("View", bound=Callable[..., Any])


class Role(models.TextChoices):
    CURATOR = "curator", _("Curator")
    ANNOTATOR = "annotator", _("Annotator")
    REVIEWER = "reviewer", _("Reviewer")
    ML_ENGINEER = "ml_engineer", _("ML engineer")


ALL_ROLES = frozenset(Role)


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[Role]:
    """The roles a user holds, in the fixed order of ``Role``; cached on the user object."""
    if not user.is_authenticated:
        return frozenset()
    cached: frozenset[Role] | None = getattr(user, "_medes_roles", None)
    if cached is None:
        if getattr(user, "is_superuser", False):
            cached = ALL_ROLES
        else:
            names = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
            cached = frozenset(role for role in Role if role.value in names)
        user.__dict__["_medes_roles"] = cached
    return cached


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: Role) -> bool:
    return bool(user_roles(user) & set(roles))


def role_required(*roles: Role) -> Callable[[View], View]:
    """Anonymous users go to the login page; signed-in users without one of ``roles`` get 403."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorator
