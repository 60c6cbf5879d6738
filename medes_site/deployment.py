"""What one web process must not keep from the others, so that several gunicorn hosts behind one proxy serve the
same site (issue 17, item 5; tests/test_stateless.py starts two hosts and checks it), as a deploy check.

A web process keeps nothing of its own between requests: rows, sessions and django-axes' login failure counts
live in the database, uploads and job artifacts under MEDIA_ROOT and ARTIFACTS_ROOT (one folder every host and
worker mounts), queued work in the broker, and, with ``MEDES_CACHE_URL``, cached sessions and users in one Redis.
Without it Django's default cache is a dict in each process (LocMemCache), which is harmless only while nothing
that other processes change is kept there. ``check_shared_state`` (``manage.py check --deploy``) names settings
that would keep such a thing in one process: sessions or login failures in a per-process cache, sessions in
files, users cached without a shared cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core import checks

# cache backends that are a dict in each process (DummyCache keeps nothing, so nothing can differ)
PER_PROCESS_CACHES = frozenset({"django.core.cache.backends.locmem.LocMemCache"})
CACHED_SESSION_ENGINES = frozenset(
    {"django.contrib.sessions.backends.cache", "django.contrib.sessions.backends.cached_db"}
)
FILE_SESSION_ENGINE = "django.contrib.sessions.backends.file"
AXES_CACHE_HANDLER = "axes.handlers.cache.AxesCacheHandler"
SETTINGS_READ = ("CACHES", "SESSION_ENGINE", "SESSION_CACHE_ALIAS", "AXES_HANDLER", "AXES_CACHE", "MEDES_CACHE_USERS")


def shared_state_problems(config: Mapping[str, Any]) -> list[checks.CheckMessage]:
    """What in ``config`` (settings' names and values; Django's defaults for those left out) one web process
    would keep from the others."""
    caches: Mapping[str, Mapping[str, Any]] = config.get("CACHES") or {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }

    def per_process(alias: object) -> bool:
        return str(caches.get(str(alias), {}).get("BACKEND", "")) in PER_PROCESS_CACHES

    found: list[checks.CheckMessage] = []
    engine = str(config.get("SESSION_ENGINE", "django.contrib.sessions.backends.db"))
    if engine in CACHED_SESSION_ENGINES and per_process(config.get("SESSION_CACHE_ALIAS", "default")):
        found.append(
            checks.Warning(
                "Sessions are kept in a per-process cache: signing out on one web process leaves the session "
                "alive on the others.",
                hint="Set MEDES_CACHE_URL (a Redis every web process shares), or use the database session engine.",
                id="medes.W011",
            )
        )
    if engine == FILE_SESSION_ENGINE:
        found.append(
            checks.Warning(
                "Sessions are kept in files on this host: another web host does not see them.",
                hint="Use the database session engine.",
                id="medes.W012",
            )
        )
    if config.get("AXES_HANDLER") == AXES_CACHE_HANDLER and per_process(config.get("AXES_CACHE", "default")):
        found.append(
            checks.Warning(
                "Failed sign-ins are counted in a per-process cache: each web process allows the full number.",
                hint="Use django-axes' database handler (its default), or a cache every web process shares.",
                id="medes.W013",
            )
        )
    if config.get("MEDES_CACHE_USERS") and per_process("default"):
        found.append(
            checks.Warning(
                "Signed-in users are cached in a per-process cache: a role taken away on one web process stays "
                "with the user on the others.",
                hint="Set MEDES_CACHE_URL to a Redis every web process shares.",
                id="medes.W014",
            )
        )
    return found


@checks.register(checks.Tags.caches, deploy=True)
def check_shared_state(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """The deploy check: ``shared_state_problems`` of the running settings."""
    from django.conf import settings

    return shared_state_problems({name: getattr(settings, name) for name in SETTINGS_READ if hasattr(settings, name)})
