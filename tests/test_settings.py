"""Settings come from the environment; each bad value stops start-up with a message naming the variable."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from medes_site.env import Env
from tests.conftest import manage

STRONG_KEY = secrets.token_urlsafe(64)


@pytest.mark.parametrize(
    ("env", "variable", "hint"),
    [
        ({"DEBUG": "maybe"}, "DEBUG", "not a boolean"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL", "unsupported database"),
        ({"DATABASE_URL": "postgres://u:hunter2@localhost:5432/"}, "DATABASE_URL", "names no database"),
        ({"CELERY_BROKER_URL": "carrier-pigeon://coop"}, "CELERY_BROKER_URL", "unsupported broker"),
        ({"DEBUG": "0"}, "SECRET_KEY", "must be set when DEBUG is off"),
        ({"DEBUG": "0", "SECRET_KEY": "short"}, "SECRET_KEY", "too weak"),
        ({"DEBUG": "0", "SECRET_KEY": "django-insecure-" + "x" * 60}, "SECRET_KEY", "too weak"),
        ({"ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS", "empty"),
        ({"MEDIA_ROOT": "relative/media"}, "MEDIA_ROOT", "absolute path"),
        ({"ARTIFACTS_ROOT": "artifacts"}, "ARTIFACTS_ROOT", "absolute path"),
        ({"MEDES_DEVICE": "tpu"}, "MEDES_DEVICE", "not one of"),
        ({"MEDES_JOB_HEARTBEAT_SECONDS": "ten"}, "MEDES_JOB_HEARTBEAT_SECONDS", "whole number"),
        ({"MEDES_JOB_STALE_SECONDS": "15"}, "MEDES_JOB_STALE_SECONDS", "twice"),
        ({"MEDES_LOGIN_FAILURE_LIMIT": "0"}, "MEDES_LOGIN_FAILURE_LIMIT", "minimum"),
        ({"TIME_ZONE": "Mars/Base"}, "TIME_ZONE", "not a time zone"),
        ({"MEDES_VAR_DIR": "/dev/null/var"}, "MEDES_VAR_DIR", "cannot keep"),
        ({"CELERY_BROKER_URL": "memory://"}, "CELERY_BROKER_URL", "unsupported broker"),
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:99999/0"}, "CELERY_BROKER_URL", "invalid port"),
        ({"DATABASE_URL": "sqlite://relative.db"}, "DATABASE_URL", "absolute path"),
        ({"CSRF_TRUSTED_ORIGINS": "medes.example.org"}, "CSRF_TRUSTED_ORIGINS", "not an origin"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "not one of"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(env: dict[str, str], variable: str, hint: str) -> None:
    result = manage("check", **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("Configuration error:"), result.stderr
    assert variable in result.stderr
    assert hint in result.stderr
    assert "Traceback" not in result.stderr


def test_database_password_is_not_echoed_in_errors() -> None:
    result = manage("check", DATABASE_URL="mysql://admin:hunter2@db/x")
    assert result.returncode == 2
    assert "hunter2" not in result.stderr
    assert "admin:***@db" in result.stderr


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="medes.example.org",
        MEDES_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_dev_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    first = Env({}).read_secret_key("SECRET_KEY", debug=True, dev_key_file=key_file)
    second = Env({}).read_secret_key("SECRET_KEY", debug=True, dev_key_file=key_file)
    assert first == second
    assert len(first) >= 50
    assert oct(key_file.stat().st_mode)[-3:] == "600"


def test_defaults_need_no_server(tmp_path: Path) -> None:
    env = Env({})
    database = env.read_database("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert env.read_broker("CELERY_BROKER_URL", "filesystem://") == "filesystem://"


def test_postgres_and_redis_urls_are_read() -> None:
    env = Env(
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/3"}
    )
    database = env.read_database("DATABASE_URL", "sqlite:////x.db")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("127.0.0.1", 5432, "test")
    assert env.read_broker("CELERY_BROKER_URL", "filesystem://") == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False), ("0", False)])
def test_booleans_accept_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Env({"X": raw}).read_bool("X", not expected) is expected


def test_lists_split_on_commas_and_trim() -> None:
    assert Env({"HOSTS": " a.org, b.org ,"}).read_list("HOSTS", []) == ["a.org", "b.org"]


def test_minimum_is_enforced() -> None:
    with pytest.raises(ImproperlyConfigured, match="N=0 is below the minimum of 1"):
        Env({"N": "0"}).read_int("N", 5, minimum=1)


def test_staff_responses_say_their_server_time_and_query_count(personas: Any, client_as: Any) -> None:
    response = client_as(personas.admin).get("/jobs/")
    timing = response["Server-Timing"]
    app, cpu, db = timing.split(", ")
    assert app.startswith("app;dur=") and float(app.split("=")[1]) > 0
    assert cpu.startswith("cpu;dur=") and 0 < float(cpu.split("=")[1]) <= float(app.split("=")[1]) + 1
    assert db.startswith('db;desc="queries";dur=') and int(db.split("=")[-1]) >= 1


def test_server_timing_is_for_staff_and_debug_servers_only(personas: Any, client_as: Any, settings: Any) -> None:
    """Timings tell one code path from another: other users, and visitors, get none (unless debugging)."""
    assert "Server-Timing" not in client_as(personas.ml_engineer).get("/jobs/")
    assert "Server-Timing" not in client_as(None).get("/accounts/login/")
    settings.MEDES_SERVER_TIMING = "always"  # the loopback benches
    assert "Server-Timing" in client_as(personas.ml_engineer).get("/jobs/")


def test_a_debug_server_sends_server_timing_to_everyone(personas: Any, client_as: Any, settings: Any) -> None:
    settings.DEBUG = True
    assert "Server-Timing" in client_as(personas.annotator).get("/annotate/")
    assert "Server-Timing" in client_as(None).get("/accounts/login/")
