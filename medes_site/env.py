"""Typed readers for the environment: the one place settings come from (DESIGN.md §8).

Every reader names the variable in its error, so a bad value stops start-up with a message the
operator can act on instead of a traceback deep inside Django.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import sys
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}

# Keys Django itself generates for `startproject` carry this prefix; they are public.
INSECURE_KEY_PREFIX = "django-insecure"
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE = 5
# an environment variable's name, or an fnmatch pattern of names
VARIABLE_PATTERN = re.compile(r"[A-Za-z0-9_*?]{1,100}")
# a host name (labels of letters, digits, hyphens and underscores, as Docker's service names have), or *. and one
HOST_PATTERN = re.compile(
    r"(\*\.)?[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?){0,126}"
)


class Env:
    """Reads typed values from a mapping (``os.environ`` by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None else value.strip()

    def read_str(self, name: str, default: str) -> str:
        value = self._raw(name)
        return value or default

    def read_bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")

    def read_int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self._raw(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
        return number

    def read_float(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        value = self._raw(name)
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
        if not minimum <= number <= maximum:
            raise ImproperlyConfigured(f"{name}={number} is outside {minimum}–{maximum}.")
        return number

    def read_url(self, name: str, default: str = "") -> str:
        """An http(s) base URL, or empty when unset."""
        value = self.read_str(name, default)
        if value:
            parsed = urlsplit(value)
            if parsed.scheme not in {"http", "https"} or not parsed.netloc:
                raise ImproperlyConfigured(f"{name}={_redact(value)!r} is not a URL like https://host/v1.")
        return value

    def read_list(self, name: str, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value is None:
            return default
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items:
            raise ImproperlyConfigured(f"{name} is set but empty; give a comma-separated list.")
        return items

    def read_variable_names(self, name: str, default: list[str]) -> list[str]:
        """Environment-variable names or fnmatch patterns of them (``MEDES_MODEL_KEY_*``), comma-separated."""
        names = self.read_list(name, default)
        for entry in names:
            if not VARIABLE_PATTERN.fullmatch(entry):
                raise ImproperlyConfigured(
                    f"{name}={entry!r} is not a variable name or a pattern such as MEDES_MODEL_KEY_* "
                    "(letters, digits, _, and the wildcards * and ?)."
                )
        return names

    def read_hosts(self, name: str, default: list[str]) -> list[str]:
        """Host names, ``*.suffix`` wildcards, IP addresses and networks (CIDR), comma-separated; empty: none."""
        value = self._raw(name)
        if value is None:
            return default
        hosts = [item.strip().lower().rstrip(".") for item in value.split(",") if item.strip()]
        for entry in hosts:
            try:
                ipaddress.ip_network(entry, strict=False)
                continue
            except ValueError:
                pass
            if not HOST_PATTERN.fullmatch(entry):
                raise ImproperlyConfigured(
                    f"{name}={entry!r} is not a host name, a *.suffix wildcard, an IP address or a network "
                    "such as 10.0.0.0/8."
                )
        return hosts

    def read_paths(self, name: str, default: list[Path]) -> list[Path]:
        """Absolute directories, comma-separated (they need not exist yet)."""
        value = self._raw(name)
        if value is None:
            return default
        paths = [Path(item.strip()).expanduser() for item in value.split(",") if item.strip()]
        if not paths:
            raise ImproperlyConfigured(f"{name} is set but empty; give a comma-separated list of absolute paths.")
        for path in paths:
            if not path.is_absolute():
                raise ImproperlyConfigured(f"{name}={str(path)!r} must be an absolute path.")
            if path.exists() and not path.is_dir():
                raise ImproperlyConfigured(f"{name}={str(path)!r} exists and is not a directory.")
        return paths

    def read_choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.read_str(name, default)
        if value not in choices:
            raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
        return value

    def read_path(self, name: str, default: Path) -> Path:
        value = self._raw(name)
        path = Path(value).expanduser() if value else default
        if not path.is_absolute():
            raise ImproperlyConfigured(f"{name}={value!r} must be an absolute path.")
        if path.exists() and not path.is_dir():
            raise ImproperlyConfigured(f"{name}={str(path)!r} exists and is not a directory.")
        return path

    def read_origins(self, name: str, default: list[str]) -> list[str]:
        origins = self.read_list(name, default)
        for origin in origins:
            parsed = urlsplit(origin)
            if parsed.scheme not in {"http", "https"} or not parsed.netloc or parsed.path not in {"", "/"}:
                raise ImproperlyConfigured(f"{name}: {origin!r} is not an origin like https://medes.example.org.")
        return origins

    def read_timezone(self, name: str, default: str) -> str:
        value = self.read_str(name, default)
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ImproperlyConfigured(f"{name}={value!r} is not a time zone name such as Asia/Shanghai.") from None
        return value

    def read_database(self, name: str, default: str) -> dict[str, Any]:
        value = self.read_str(name, default)
        scheme = value.split(":", 1)[0]
        if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
            raise ImproperlyConfigured(
                f"{name}={_redact(value)!r}: unsupported database; use postgres://user@host:port/name "
                "or sqlite:////absolute/path.db."
            )
        try:
            config = dj_database_url.parse(value, conn_max_age=60, conn_health_checks=True)
        except ValueError as error:
            raise ImproperlyConfigured(f"{name}={_redact(value)!r} is not a database URL: {error}") from None
        if not config.get("NAME"):
            raise ImproperlyConfigured(f"{name}={_redact(value)!r} names no database.")
        if scheme == "sqlite" and not Path(str(config["NAME"])).is_absolute():
            # ":memory:" or a relative path would give the web server and the worker different databases.
            raise ImproperlyConfigured(
                f"{name}={value!r}: a SQLite database needs an absolute path, sqlite:////abs/db.sqlite3."
            )
        return dict(config)

    def read_broker(self, name: str, default: str) -> str:
        value = self.read_str(name, default)
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in {"redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem"}:
            raise ImproperlyConfigured(
                f"{name}={_redact(value)!r}: unsupported broker; use redis://host:port/db, amqp://… "
                "or leave it unset for the local filesystem broker."
            )
        try:
            urlsplit(value).port  # noqa: B018 - reading it validates it
        except ValueError:
            raise ImproperlyConfigured(f"{name}={_redact(value)!r} has an invalid port.") from None
        return value

    def read_cache(self, name: str) -> str:
        """A shared cache's URL (redis://host:port/db), or empty for none (each process keeps its own)."""
        value = self.read_str(name, "")
        if value:
            if value.split("://", 1)[0] not in {"redis", "rediss", "unix"}:
                raise ImproperlyConfigured(f"{name}={_redact(value)!r}: use redis://host:port/db, or leave it unset.")
            try:
                urlsplit(value).port  # noqa: B018 - reading it validates it
            except ValueError:
                raise ImproperlyConfigured(f"{name}={_redact(value)!r} has an invalid port.") from None
        return value

    def read_secret_key(self, name: str, *, debug: bool, dev_key_file: Path) -> str:
        value = self._raw(name)
        if value:
            if not debug and _weak_secret(value):
                raise ImproperlyConfigured(
                    f"{name} is too weak for production: use at least {MIN_SECRET_KEY_LENGTH} random "
                    "characters (python -c 'import secrets; print(secrets.token_urlsafe(64))')."
                )
            return value
        if not debug:
            raise ImproperlyConfigured(f"{name} must be set when DEBUG is off.")
        return _dev_secret_key(dev_key_file)


def _weak_secret(value: str) -> bool:
    return (
        value.startswith(INSECURE_KEY_PREFIX)
        or len(value) < MIN_SECRET_KEY_LENGTH
        or len(set(value)) < MIN_SECRET_KEY_UNIQUE
    )


def _dev_secret_key(path: Path) -> str:
    """A development key generated once and kept under var/, so sessions survive restarts."""
    try:
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(64)
        path.write_text(key, encoding="utf-8")
        path.chmod(0o600)
    except OSError as error:
        raise ImproperlyConfigured(
            f"MEDES_VAR_DIR: cannot keep the development secret key at {path}: {error.strerror}."
        ) from None
    return key


def _redact(url: str) -> str:
    """Hide a password in a URL before it reaches a message or a log."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def load_settings_or_exit() -> None:
    """Load the settings now; on a bad value print one line naming the variable and exit with status 2.

    Called by every entry point (manage.py, wsgi.py, the Celery app), so an operator sees the same
    message wherever the app starts, instead of a traceback.
    """
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - reading one setting loads and validates them all
    except ImproperlyConfigured as error:
        sys.stderr.write(f"Configuration error: {error}\n")
        sys.exit(2)
