"""The request type every view is annotated with (STYLE.md: one typed request class)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class AuthedRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


class Request(HttpRequest):
    htmx: HtmxDetails
