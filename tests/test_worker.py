"""Jobs on a REAL Celery worker process, against the test database and the configured broker
(Redis in CI, the filesystem broker by default)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from medes_site import jobs
from medes_site.celery import app
from medes_site.models import Job, JobStatus
from medes_site.tasks import run_job
from tests.conftest import WorkerFactory, WorkerProcess, status_of, wait_for
from tests.factories import Personas

pytestmark = pytest.mark.worker


def test_job_enqueued_in_a_transaction_runs_only_after_commit(
    personas: Personas, worker_factory: Callable[[], WorkerProcess]
) -> None:
    worker = worker_factory()
    with transaction.atomic():
        job = jobs.enqueue_job("system.selfcheck", {"steps": 3, "step_seconds": 0.1}, user=personas.ml_engineer)
        # A marker message, sent now (not on commit), after anything enqueue_job might have sent: once the worker
        # has run it, a message for the job sent before the commit would have reached the worker first. (Celery's
        # built-in "accumulate" task returns its argument and touches no database, which this transaction holds.)
        marker = app.send_task("celery.accumulate", args=(1,), queue="default")
        wait_for(lambda: f"celery.accumulate[{marker.id}] succeeded" in worker.log(), 300, "the marker", worker)
        assert "medes.jobs.run[" not in worker.log()  # no "Task medes.jobs.run[…] received" before the commit
    wait_for(lambda: status_of(job) == JobStatus.SUCCEEDED, 300, "the job to succeed", worker)
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
    wait_for(lambda: status_of(job) == JobStatus.SUCCEEDED, 300, "the job to succeed", worker)
    wait_for(lambda: worker.log().count("] succeeded in") >= 2, 300, "both deliveries to finish", worker)
    job.refresh_from_db()
    assert job.log_tail.count("attempt 1 started") == 1


def test_killed_worker_leaves_a_lost_job_that_resumes_from_its_checkpoint(
    personas: Personas, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    # the first worker's self-check stops after step 4's checkpoint until told to go on (never, here): the kill
    # always lands mid-run, after a checkpoint, whatever the machine's speed
    gate = tmp_path / "selfcheck-gate"
    worker = worker_factory({"MEDES_SELFCHECK_PAUSE_AFTER_STEP": f"4:{gate}"})
    job = jobs.enqueue_job("system.selfcheck", {"steps": 40, "step_seconds": 0.25}, user=personas.ml_engineer)
    wait_for(lambda: Path(f"{gate}.paused").exists(), 300, "the job to pause after step 4", worker)
    assert Job.objects.get(pk=job.pk).progress == pytest.approx(0.1)
    worker.kill()

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # nothing tells the row the worker died…
    assert jobs.mark_lost_jobs(timedelta(minutes=10)) == []  # (a recent heartbeat is alive)
    # …until its heartbeat goes stale: the event the sweeper acts on
    wait_for(lambda: jobs.mark_lost_jobs(timedelta(seconds=2)) == [job.pk], 120, "the heartbeat to go stale", worker)
    job.refresh_from_db()
    assert job.status == JobStatus.LOST
    assert "stopped sending heartbeats" in job.error
    done_before = round(job.progress * 40)

    second = worker_factory()
    jobs.resume_job(job, user=personas.ml_engineer)
    wait_for(lambda: status_of(job) == JobStatus.SUCCEEDED, 300, "the resumed job to succeed", second)
    job.refresh_from_db()
    assert job.attempt == 2
    assert job.metrics["resumed_from"] >= done_before
    assert "resuming from checkpoint" in job.log_tail


def _parent(pid: int) -> int:
    """The parent process of ``pid`` (Linux /proc): a pool child's parent is its worker's main process."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def test_a_gpu_only_worker_and_a_default_only_worker_each_take_their_own_queue(
    personas: Personas, worker_factory: WorkerFactory
) -> None:
    """The deployment README describes: CPU hosts run `-Q default`, GPU hosts `-Q gpu`. The self-check exists on
    both queues (the jobs page's *Queue* choice), so an operator checks a new GPU host the same way."""
    gpu = worker_factory(queues="gpu")
    user = personas.ml_engineer
    # the default job goes first: a gpu-only worker that took the default queue too would have it before its own
    on_default = jobs.enqueue_job("system.selfcheck", {"steps": 1, "step_seconds": 0}, user=user)
    on_gpu = jobs.enqueue_job("system.selfcheck_gpu", {"steps": 1, "step_seconds": 0}, user=user)
    wait_for(lambda: status_of(on_gpu) == JobStatus.SUCCEEDED, 300, "the gpu self-check", gpu)
    assert status_of(on_default) == JobStatus.QUEUED  # no worker consumes `default` yet

    cpu = worker_factory(queues="default")
    wait_for(lambda: status_of(on_default) == JobStatus.SUCCEEDED, 300, "the default self-check", cpu)
    on_gpu.refresh_from_db()
    on_default.refresh_from_db()
    assert (on_gpu.queue, on_default.queue) == ("gpu", "default")
    assert _parent(int(on_gpu.worker.split(":")[1])) == gpu.process.pid
    assert _parent(int(on_default.worker.split(":")[1])) == cpu.process.pid
    # each report lies under the ARTIFACTS_ROOT the web process reads, as the README's check expects
    assert all((Path(settings.ARTIFACTS_ROOT) / job.artifacts[0]["path"]).is_file() for job in (on_gpu, on_default))
