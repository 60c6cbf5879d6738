"""Jobs on a REAL Celery worker process, against the test database and the configured broker
(Redis in CI, the filesystem broker by default)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import transaction

from medes_site import jobs
from medes_site.models import Job, JobStatus
from medes_site.tasks import run_job
from tests.conftest import Personas, WorkerProcess

pytestmark = pytest.mark.worker


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{worker.log()[-4000:]}")


def status_of(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def test_job_enqueued_in_a_transaction_runs_only_after_commit(
    personas: Personas, worker_factory: Callable[[], WorkerProcess]
) -> None:
    worker = worker_factory()
    with transaction.atomic():
        job = jobs.enqueue_job("system.selfcheck", {"steps": 3, "step_seconds": 0.1}, user=personas.ml_engineer)
        time.sleep(2)  # a message sent now would reach the worker, which could not see the row yet
        assert "medes.jobs.run[" not in worker.log()  # no "Task medes.jobs.run[…] received" yet
    wait_for(lambda: status_of(job) == JobStatus.SUCCEEDED, 60, "the job to succeed", worker)
    job.refresh_from_db()
    assert job.progress == 1.0
    assert job.attempt == 1
    host, pid = job.worker.split(":")
    assert host == socket.gethostname() and int(pid) not in (os.getpid(), worker.process.pid)  # a pool child
    assert "finished in" in job.log_tail


def test_a_second_delivery_of_the_same_job_does_not_run_it_twice(
    personas: Personas, worker_factory: Callable[[], WorkerProcess]
) -> None:
    worker = worker_factory()
    job = jobs.enqueue_job("system.selfcheck", {"steps": 2, "step_seconds": 0.2}, user=personas.ml_engineer)
    run_job.apply_async(args=(job.pk,), queue="default")  # a duplicate message, as a broker redelivery would send
    wait_for(lambda: status_of(job) == JobStatus.SUCCEEDED, 60, "the job to succeed", worker)
    wait_for(lambda: worker.log().count("] succeeded in") >= 2, 30, "both deliveries to finish", worker)
    job.refresh_from_db()
    assert job.log_tail.count("attempt 1 started") == 1


def test_killed_worker_leaves_a_lost_job_that_resumes_from_its_checkpoint(
    personas: Personas, worker_factory: Callable[[], WorkerProcess]
) -> None:
    worker = worker_factory()
    job = jobs.enqueue_job("system.selfcheck", {"steps": 40, "step_seconds": 0.25}, user=personas.ml_engineer)
    wait_for(lambda: Job.objects.get(pk=job.pk).progress >= 0.1, 60, "the job to make progress", worker)
    worker.kill()

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # nothing tells the row the worker died…
    time.sleep(2.5)
    assert jobs.mark_lost_jobs(timedelta(seconds=2)) == [job.pk]  # …until its heartbeat goes stale
    job.refresh_from_db()
    assert job.status == JobStatus.LOST
    assert "stopped sending heartbeats" in job.error
    done_before = round(job.progress * 40)

    second = worker_factory()
    jobs.resume_job(job, user=personas.ml_engineer)
    wait_for(lambda: status_of(job) == JobStatus.SUCCEEDED, 60, "the resumed job to succeed", second)
    job.refresh_from_db()
    assert job.attempt == 2
    assert job.metrics["resumed_from"] >= done_before
    assert "resuming from checkpoint" in job.log_tail
