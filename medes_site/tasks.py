"""Celery tasks: thin callers of ``medes_site.jobs``. Job state lives on the row, never on a result."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from medes_site import jobs
from medes_site.dbhealth import database_answers, is_connection_error

# How often a task waiting for the database looks again (doubling waits, capped at 5 minutes): about a day.
DB_WAIT_TRIES = 300


def _fresh_connection() -> None:
    """A long-lived worker must not reuse a connection the database dropped. (Inside a transaction,
    which only happens when a test calls a task directly, the connection is in use and kept.)"""
    if not connection.in_atomic_block:
        close_old_connections()


def db_backoff(tries: int) -> int:
    """Seconds to wait before looking again whether the database is back, after ``tries`` looks."""
    return int(min(300, settings.MEDES_JOB_DB_RETRY_SECONDS * 2 ** min(tries, 16)))


# acks_late: the message is acknowledged after the task returns, so a worker that dies between taking
# the message and claiming the row does not lose the job. A redelivered message is harmless: the claim
# (queued→running) lets only one delivery run it.
@shared_task(name=jobs.RUN_TASK, acks_late=True, ignore_result=True, bind=True)
def run_job(self: Any, pk: int) -> str | None:
    _fresh_connection()
    try:
        status = jobs.execute_job(pk)
    except jobs.DatabaseGone as gone:  # the attempt died with the database: queue it again once it is back
        requeue_after_db_outage.apply_async(args=(gone.pk, gone.attempt), countdown=db_backoff(0))
        return "database-gone"
    except DatabaseError as exc:  # before the claim: the row is still queued; this message comes back later
        if not is_connection_error(exc):
            raise
        raise self.retry(exc=exc, countdown=db_backoff(self.request.retries), max_retries=DB_WAIT_TRIES) from exc
    return None if status is None else str(status)


@shared_task(name="medes.jobs.requeue_after_db_outage", acks_late=True, ignore_result=True, bind=True)
def requeue_after_db_outage(self: Any, pk: int, attempt: int) -> str | None:
    """Wait (looking again with growing pauses) until the database answers, then queue the job again as a new
    attempt (``jobs.requeue_after_db_outage``: bounded per job). Past DB_WAIT_TRIES the row stays as the outage
    left it and the sweeper marks it lost, where a user can resume it."""
    _fresh_connection()
    try:
        if database_answers():
            status = jobs.requeue_after_db_outage(pk, attempt)
            return None if status is None else str(status)
    except DatabaseError as exc:
        if not is_connection_error(exc):
            raise
    raise self.retry(countdown=db_backoff(self.request.retries + 1), max_retries=DB_WAIT_TRIES)


@shared_task(name="medes.jobs.sweep_lost", ignore_result=True, time_limit=120)
def sweep_lost_jobs() -> dict[str, list[int]]:
    """Run every minute by beat: mark jobs of dead workers lost, and send jobs the broker never took."""
    _fresh_connection()
    return {"lost": jobs.mark_lost_jobs(), "resent": jobs.resend_unsent_jobs()}
