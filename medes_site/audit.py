"""Writing the audit trail. Every state change goes through a service that calls ``record``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import models
from django.http import HttpRequest

from medes_site.models import AuditEntry


def record(
    action: str,
    *,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    obj: models.Model | None = None,
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Append one entry: ``action`` is a dotted verb such as ``job.cancel`` or ``auth.login_failed``."""
    user = actor if isinstance(actor, User) else None
    entry = AuditEntry(
        action=action,
        actor=user,
        actor_name=user.get_username() if user is not None else "",
        details=details or {},
        ip_address=client_ip(request) if request is not None else None,
    )
    if obj is not None:
        entry.object_type = obj._meta.label_lower
        entry.object_id = str(obj.pk)
        entry.object_repr = str(obj)[:255]
    entry.save()
    return entry


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, resolved exactly as the login rate limit resolves it (django-axes, which
    trusts forwarded headers only for the MEDES_PROXY_COUNT proxies in front)."""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None
