"""Writing the audit trail. Every state change goes through a service that calls ``record``."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
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
    """The client's address; the login rate limit (django-axes, through ``AXES_CLIENT_IP_CALLABLE``) and the
    audit trail both read it here.

    With ``MEDES_PROXY_COUNT = n`` proxies in front, each proxy appends the address it received the request
    from to ``X-Forwarded-For``, so the client is the n-th entry from the right: entries further left were
    written by the client and are not trusted. A request with fewer entries than proxies did not pass through
    all of them, and is known by its own connection's address, as is every request when n is 0."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    count = settings.MEDES_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < count:
        return remote
    return _address(forwarded[-count]) or remote


def _address(text: str) -> str | None:
    """A valid IPv4 or IPv6 address (an IPv4-mapped IPv6 address as its IPv4), else None. Some load balancers
    write the client's port too: ``1.2.3.4:5678`` and ``[2001:db8::1]:5678`` are read without it."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port (a bare v6 address has several colons)
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)
