"""Celery tasks: thin callers of ``medes_site.jobs``. Job state lives on the row, never on a result."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections, connection

from medes_site import jobs


def _fresh_connection() -> None:
    """A long-lived worker must not reuse a connection the database dropped. (Inside a transaction,
    which only happens when a test calls a task directly, the connection is in use and kept.)"""
    if not connection.in_atomic_block:
        close_old_connections()


# acks_late: the message is acknowledged after the task returns, so a worker that dies between taking
# the message and claiming the row does not lose the job. A redelivered message is harmless: the claim
# (queued→running) lets only one delivery run it.
@shared_task(name="medes.jobs.run", acks_late=True, ignore_result=True)
def run_job(pk: int) -> str | None:
    _fresh_connection()
    status = jobs.execute_job(pk)
    return None if status is None else str(status)


@shared_task(name="medes.jobs.sweep_lost", ignore_result=True, time_limit=120)
def sweep_lost_jobs() -> dict[str, list[int]]:
    """Run every minute by beat: mark jobs of dead workers lost, and send jobs the broker never took."""
    _fresh_connection()
    return {"lost": jobs.mark_lost_jobs(), "resent": jobs.resend_unsent_jobs()}
