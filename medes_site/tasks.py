"""Celery tasks: thin callers of ``medes_site.jobs``. Job state lives on the row, never on a result."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from medes_site import jobs


@shared_task(name="medes.jobs.run", acks_late=False, ignore_result=True)
def run_job(pk: int) -> str | None:
    close_old_connections()  # a long-lived worker must not reuse a connection the database dropped
    status = jobs.execute_job(pk)
    return None if status is None else str(status)


@shared_task(name="medes.jobs.sweep_lost", ignore_result=True, time_limit=120)
def sweep_lost_jobs() -> list[int]:
    return jobs.mark_lost_jobs()
