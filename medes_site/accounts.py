"""Creating users with roles: invite-only, so this (and the admin) is the only way in."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from medes_site import audit
from medes_site.roles import Role


def ensure_role_groups() -> dict[Role, Group]:
    return {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}


def generate_password() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def create_user(
    username: str,
    *,
    roles: Iterable[Role],
    password: str,
    email: str = "",
    superuser: bool = False,
    actor: User | None = None,
) -> User:
    """Create one user with ``roles``. Raises ``ValueError`` if the name is taken, and Django's
    ``ValidationError`` if the password is weak."""
    if User.objects.filter(username=username).exists():
        raise ValueError(f"A user named {username!r} already exists.")
    user = User(username=username, email=email, is_staff=superuser, is_superuser=superuser)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    groups = ensure_role_groups()
    chosen = sorted(set(roles))
    user.groups.set([groups[role] for role in chosen])
    audit.record(
        "user.create", actor=actor, obj=user, details={"roles": [r.value for r in chosen], "superuser": superuser}
    )
    return user
