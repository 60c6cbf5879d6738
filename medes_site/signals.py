"""Audit receivers for authentication events."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from medes_site import audit


@receiver(user_logged_in)
def audit_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    audit.record("auth.login", actor=user, obj=user, request=request)


@receiver(user_logged_out)
def audit_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record("auth.logout", actor=user, obj=user, request=request)


@receiver(user_login_failed)
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Only the username: never the password the user typed.
    audit.record("auth.login_failed", details={"username": str(credentials.get("username", ""))[:150]}, request=request)
