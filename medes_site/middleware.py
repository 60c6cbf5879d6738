"""``Server-Timing``: the time Django spent on a response (wall and CPU) and its SQL query count, so a browser's
network panel, a proxy log or a load generator sees server time apart from the network and queueing. Timings help
an attacker tell one code path from another, so they go only to staff and to debug servers
(``MEDES_SERVER_TIMING=always`` adds them for everyone, for the loopback benches)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase


class _QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., object], sql: str, params: object, many: bool, context: object) -> object:
        self.count += 1
        return execute(sql, params, many, context)


class ServerTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        counter = _QueryCounter()
        start, cpu_start = time.perf_counter(), time.thread_time()
        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        elapsed, cpu = (time.perf_counter() - start) * 1000, (time.thread_time() - cpu_start) * 1000
        if _may_see_timing(request):
            # cpu: this thread's CPU time, which a busy machine does not inflate as it does the wall time
            timing = f'app;dur={elapsed:.1f}, cpu;dur={cpu:.1f}, db;desc="queries";dur={counter.count}'
            response["Server-Timing"] = timing
        return response


def _may_see_timing(request: HttpRequest) -> bool:
    if settings.DEBUG or settings.MEDES_SERVER_TIMING == "always":
        return True
    user = getattr(request, "user", None)
    try:  # the user is loaded lazily: during a database outage, no timing rather than a 500
        return bool(user is not None and user.is_authenticated and user.is_staff)
    except DatabaseError:
        return False


# --- the database is unavailable: 503, never a 500 ----------------------------------------------------------

DB_UNAVAILABLE_RETRY_AFTER = 30  # seconds: what Retry-After tells clients
_DB_UNAVAILABLE = "_medes_database_unavailable"


def _note_database_unavailable(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    """``got_request_exception`` fires wherever a request's exception is turned into a 500 (in a view, a
    middleware's own code, a template): while that exception is being handled, note whether it was the database
    going away, for ``DatabaseUnavailableMiddleware`` to replace the 500 on its way out."""
    import sys

    from medes_site.dbhealth import forget_broken_connections, is_connection_error

    if request is not None and is_connection_error(sys.exc_info()[1]):
        mark_database_unavailable(request)
        forget_broken_connections()  # the next request connects afresh instead of reusing the dead connection


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON for the API, a small page otherwise. Nothing here touches the database: no
    request context (the navigation, the signed-in user, messages and the session all read it), no session."""
    from django.template.loader import render_to_string
    from django.utils import translation
    from django.utils.translation import gettext

    language = translation.get_language_from_request(request)
    with translation.override(language):
        message = gettext("The database is unavailable; try again shortly.")
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": message}, status=503)
        else:
            html = render_to_string("503.html", {"message": message, "LANGUAGE_CODE": language})
            response = HttpResponse(html, status=503)
    response["Retry-After"] = str(DB_UNAVAILABLE_RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A request that failed because the database cannot be reached answers 503 (JSON under /api/, a plain page
    elsewhere) with Retry-After, instead of Django's 500. Placed above the session and authentication middleware,
    so an outage they run into (loading the session, the user) is caught too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        from django.core.signals import got_request_exception

        self.get_response = get_response
        got_request_exception.connect(_note_database_unavailable, dispatch_uid="medes-database-unavailable")

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not getattr(request, _DB_UNAVAILABLE, False):
            return response
        # the middleware above (Server-Timing asks whether the user is staff) must not load the user again
        request.user = AnonymousUser()
        return database_unavailable_response(request) if response.status_code == 500 else response


def mark_database_unavailable(request: HttpRequest) -> None:
    """For a view that answers an outage itself (the health check): the middleware then treats it as one."""
    setattr(request, _DB_UNAVAILABLE, True)
