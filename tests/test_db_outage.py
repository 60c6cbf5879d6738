"""A database outage (issue 13, item 9): the API answers JSON 503 and the pages a plain 503 page, both with
Retry-After, never Django's 500; the health check answers 503 JSON; and a job that died only because the database
went away is queued again automatically, as a new attempt that resumes from its checkpoint, a bounded number of
times, once the database answers again.

The outage is real, not a mock: the connection's settings point at a database that cannot be opened (a SQLite file
in a directory that does not exist; for PostgreSQL, a port nobody listens on) and every connection opened meanwhile
fails as it would in production."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery.exceptions import Retry
from django.db import IntegrityError, InterfaceError, OperationalError, connection
from django.test import Client
from django.urls import reverse

from medes_site import jobs, tasks
from medes_site.dbhealth import is_connection_error
from medes_site.models import AuditEntry, Job, JobStatus
from tests.conftest import wait_for
from tests.factories import Personas

OUTAGE_KIND = "tests.db_outage"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the socket is: nothing listens there


@contextmanager
def database_down(tmp_path: Path) -> Iterator[None]:
    """Every connection opened inside fails to connect, as when the database server is down. The settings dict is
    shared by every thread's connection, so a job's heartbeat thread loses the database too."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-directory" / "db.sqlite3")
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


@pytest.fixture
def signed_in(transactional_db: None, personas: Personas) -> Client:
    # raise_request_exception=False: answer as a server would, instead of re-raising in the test
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(personas.ml_engineer)
    return client


# --- requests ----------------------------------------------------------------------------------------------


def test_the_api_answers_json_503_with_retry_after_when_the_database_refuses_connections(
    signed_in: Client, tmp_path: Path
) -> None:
    with database_down(tmp_path):
        response = signed_in.get(reverse("api-job-list"))
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The database is unavailable; try again shortly."}
    assert response["Retry-After"] == "30"
    assert signed_in.get(reverse("api-job-list")).status_code == 200  # back: the next request connects afresh


def test_a_page_answers_a_plain_503_page_when_the_database_is_down(signed_in: Client, tmp_path: Path) -> None:
    with database_down(tmp_path):
        response = signed_in.get(reverse("jobs:list"))  # the session, the user, the navigation: all need it
        posted = signed_in.post(reverse("jobs:start_selfcheck"), {"steps": 2})
    for answer in (response, posted):
        assert answer.status_code == 503 and answer["Retry-After"] == "30"
        page = answer.content.decode()
        assert "Temporarily unavailable" in page and "The database is unavailable; try again shortly." in page
        assert "<script" not in page and "Server error" not in page
    assert signed_in.get(reverse("jobs:list")).status_code == 200


def test_the_503_page_is_translated(signed_in: Client, tmp_path: Path) -> None:
    signed_in.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    with database_down(tmp_path):
        response = signed_in.get(reverse("jobs:list"))
    assert response.status_code == 503 and '<html lang="zh-hans">' in response.content.decode()


def test_healthz_answers_503_json_while_the_database_is_down_and_200_after(
    transactional_db: None, tmp_path: Path
) -> None:
    client = Client(raise_request_exception=False)
    with database_down(tmp_path):
        down = client.get(reverse("healthz"))
    assert (down.status_code, down.json()) == (503, {"status": "unavailable", "database": "unavailable"})
    assert down["Retry-After"] == "30"
    assert client.get(reverse("healthz")).json() == {"status": "ok"}


def test_other_errors_still_answer_500(signed_in: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from medes_site import views

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(views, "paginate", broken)
    assert signed_in.get(reverse("jobs:list")).status_code == 500


def _wrapped(driver_error: BaseException, wrapper: type[Exception] = OperationalError) -> Exception:
    """A driver error as Django raises it: its own class, raised from the driver's."""
    try:
        try:
            raise driver_error
        except Exception as exc:
            raise wrapper(str(exc)) from exc
    except Exception as wrapped:
        return wrapped
    raise AssertionError("unreachable")


def test_only_a_lost_connection_counts_as_the_database_going_away(tmp_path: Path) -> None:
    cannot_open = sqlite3.OperationalError("unable to open database file")
    cannot_open.sqlite_errorcode = sqlite3.SQLITE_CANTOPEN
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY
    assert is_connection_error(_wrapped(cannot_open))
    assert is_connection_error(_wrapped(psycopg.OperationalError("connection refused")))  # no SQLSTATE
    assert is_connection_error(_wrapped(psycopg.errors.AdminShutdown("terminating connection")))
    assert is_connection_error(_wrapped(RuntimeError("closed"), InterfaceError))
    assert not is_connection_error(_wrapped(locked))
    assert not is_connection_error(_wrapped(psycopg.errors.DeadlockDetected("deadlock detected")))
    assert not is_connection_error(_wrapped(psycopg.errors.QueryCanceled("statement timeout")))
    assert not is_connection_error(IntegrityError("duplicate key")) and not is_connection_error(None)


# --- jobs --------------------------------------------------------------------------------------------------


@pytest.fixture
def outage_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A job kind that counts its steps in a checkpoint file; the attempts listed in ``plan["lose_db_on"]`` lose
    the database after their first step: their next query fails for real."""
    plan: dict[str, Any] = {"lose_db_on": set(), "steps": 4, "resumed_from": []}

    def run(ctx: jobs.JobContext) -> None:
        checkpoint = ctx.artifacts_dir / "checkpoint.json"
        done = json.loads(checkpoint.read_text())["done"] if checkpoint.exists() else 0
        plan["resumed_from"].append(done)
        for step in range(done + 1, plan["steps"] + 1):
            checkpoint.write_text(json.dumps({"done": step}))
            ctx.progress(step / plan["steps"], f"step {step}")
            if ctx.attempt in plan["lose_db_on"]:
                with database_down(tmp_path):
                    ctx.progress(step / plan["steps"])  # raises: the database went away

    kind = jobs.JobKind(name=OUTAGE_KIND, label="outage", run=run)
    monkeypatch.setitem(jobs.REGISTRY, OUTAGE_KIND, kind)
    return plan


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """What would reach the broker (wiring only: the tasks are then called in this process)."""
    messages: dict[str, list[Any]] = {"run": [], "requeue": []}
    monkeypatch.setattr(tasks.run_job, "apply_async", lambda **kw: messages["run"].append(kw))
    monkeypatch.setattr(tasks.requeue_after_db_outage, "apply_async", lambda **kw: messages["requeue"].append(kw))
    return messages


def test_a_job_that_lost_the_database_is_queued_again_and_succeeds_on_its_next_attempt(
    transactional_db: None, personas: Personas, outage_kind: dict[str, Any], sent: dict[str, list[Any]]
) -> None:
    outage_kind["lose_db_on"] = {1}
    job = jobs.enqueue_job(OUTAGE_KIND, {}, user=personas.ml_engineer)
    assert tasks.run_job(job.pk) == "database-gone"
    # nothing was written while the database was away: the row still says attempt 1 is running…
    job.refresh_from_db()
    assert (job.status, job.attempt, job.error) == (JobStatus.RUNNING, 1, "")
    # …and a task waits for the database, then queues the job again
    assert [m["args"] for m in sent["requeue"]] == [(job.pk, 1)]
    assert sent["requeue"][0]["countdown"] == tasks.db_backoff(0) > 0
    assert tasks.requeue_after_db_outage(job.pk, 1) == JobStatus.QUEUED
    job.refresh_from_db()
    assert (job.status, job.attempt, job.db_retries) == (JobStatus.QUEUED, 2, 1)
    assert "attempt 1 lost the database connection; queued again as attempt 2 (automatic retry 1 of 3)" in job.log_tail
    assert [m["args"] for m in sent["run"]] == [(job.pk,), (job.pk,)]  # sent again
    audit = AuditEntry.objects.get(action="job.db_retry", object_id=str(job.pk))
    assert audit.details == {"attempt": 2, "db_retries": 1, "reason": "the database went away"}

    assert tasks.run_job(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert (job.status, job.attempt, job.progress) == (JobStatus.SUCCEEDED, 2, 1.0)
    assert outage_kind["resumed_from"] == [0, 1]  # the new attempt went on from its checkpoint
    # a second delivery of the same requeue message changes nothing
    assert tasks.requeue_after_db_outage(job.pk, 1) is None


def test_while_the_database_is_still_down_the_requeue_task_waits_and_looks_again(
    transactional_db: None,
    personas: Personas,
    outage_kind: dict[str, Any],
    sent: dict[str, list[Any]],
    tmp_path: Path,
) -> None:
    outage_kind["lose_db_on"] = {1}
    job = jobs.enqueue_job(OUTAGE_KIND, {}, user=personas.ml_engineer)
    assert tasks.run_job(job.pk) == "database-gone"
    with database_down(tmp_path), pytest.raises(Retry):  # called in-process, a retry raises
        tasks.requeue_after_db_outage(job.pk, 1)
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    assert [tasks.db_backoff(n) for n in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_automatic_retries_stop_after_the_bound_and_the_job_fails_saying_why(
    transactional_db: None,
    personas: Personas,
    outage_kind: dict[str, Any],
    sent: dict[str, list[Any]],
    settings: Any,
) -> None:
    settings.MEDES_JOB_DB_RETRIES = 2
    outage_kind["lose_db_on"] = {1, 2, 3, 4}
    job = jobs.enqueue_job(OUTAGE_KIND, {}, user=personas.ml_engineer)
    outcomes = []
    for attempt in (1, 2, 3):
        assert tasks.run_job(job.pk) == "database-gone"
        outcomes.append(tasks.requeue_after_db_outage(job.pk, attempt))
    assert outcomes == [JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.FAILED]
    job.refresh_from_db()
    assert (job.status, job.attempt, job.db_retries) == (JobStatus.FAILED, 3, 2)
    assert "automatic retries (MEDES_JOB_DB_RETRIES) are used up" in job.error and job.finished_at is not None
    assert AuditEntry.objects.filter(action="job.db_retry", object_id=str(job.pk)).count() == 2
    assert AuditEntry.objects.filter(action="job.failed", object_id=str(job.pk)).exists()
    # a user can still resume it by hand, from its checkpoint
    assert jobs.resume_job(job, user=personas.ml_engineer).status == JobStatus.QUEUED


def test_a_cancel_asked_for_during_the_outage_is_honoured(
    transactional_db: None, personas: Personas, outage_kind: dict[str, Any], sent: dict[str, list[Any]]
) -> None:
    outage_kind["lose_db_on"] = {1}
    job = jobs.enqueue_job(OUTAGE_KIND, {}, user=personas.ml_engineer)
    assert tasks.run_job(job.pk) == "database-gone"
    jobs.cancel_job(job, user=personas.ml_engineer)
    assert tasks.requeue_after_db_outage(job.pk, 1) == JobStatus.CANCELLED
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED


def test_a_job_lost_by_the_sweeper_during_the_outage_is_queued_again_too(
    transactional_db: None, personas: Personas, outage_kind: dict[str, Any], sent: dict[str, list[Any]]
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    outage_kind["lose_db_on"] = {1}
    job = jobs.enqueue_job(OUTAGE_KIND, {}, user=personas.ml_engineer)
    assert tasks.run_job(job.pk) == "database-gone"
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert jobs.mark_lost_jobs(timedelta(minutes=2)) == [job.pk]  # the sweeper looked first, once it was back
    assert tasks.requeue_after_db_outage(job.pk, 1) == JobStatus.QUEUED
    assert tasks.run_job(job.pk) == JobStatus.SUCCEEDED


def test_a_database_error_that_is_not_an_outage_fails_the_job_as_before(
    transactional_db: None, personas: Personas, sent: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(ctx: jobs.JobContext) -> None:
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setitem(jobs.REGISTRY, OUTAGE_KIND, jobs.JobKind(name=OUTAGE_KIND, label="x", run=run))
    job = jobs.enqueue_job(OUTAGE_KIND, {}, user=personas.ml_engineer)
    assert tasks.run_job(job.pk) == JobStatus.FAILED
    assert sent["requeue"] == [] and "IntegrityError" in Job.objects.get(pk=job.pk).error


def test_a_real_worker_whose_database_sessions_are_killed_mid_job_finishes_the_job_on_a_new_attempt(
    personas: Personas, worker_factory: Any, tmp_path: Path
) -> None:
    """PostgreSQL ends every session of a real worker (as a restart or failover does) while its job runs: the job
    is queued again by itself once the database answers, and its next attempt resumes from the checkpoint."""
    if connection.vendor != "postgresql":
        pytest.skip("ends the worker's database sessions with pg_terminate_backend: PostgreSQL only")
    gate = tmp_path / "gate"
    worker = worker_factory({"MEDES_SELFCHECK_PAUSE_AFTER_STEP": f"4:{gate}", "MEDES_JOB_DB_RETRY_SECONDS": "0"})
    job = jobs.enqueue_job("system.selfcheck", {"steps": 8, "step_seconds": 0}, user=personas.ml_engineer)
    wait_for(lambda: Path(f"{gate}.paused").exists(), 300, "the job to pause after step 4", worker)
    with connection.cursor() as cursor:  # every session but this test's own: the worker's, its heartbeat's
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    gate.write_text("go on")  # the job writes its next step to the database: the connection is gone
    wait_for(lambda: Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED, 300, "the job to succeed", worker)
    job.refresh_from_db()
    assert (job.attempt, job.db_retries) == (2, 1)
    assert job.metrics["resumed_from"] >= 4 and "lost the database connection" in job.log_tail
    assert AuditEntry.objects.filter(action="job.db_retry", object_id=str(job.pk)).exists()
