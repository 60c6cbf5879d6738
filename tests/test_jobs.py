"""Job services and pages, run in-process (the real-worker tests are in test_worker.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from medes_site import jobs
from medes_site.models import AuditEntry, Job, JobStatus
from tests.conftest import Personas

SELFCHECK = "system.selfcheck"


def queued_job(user: Any, **config: Any) -> Job:
    return jobs.enqueue_job(SELFCHECK, {"steps": 2, "step_seconds": 0, **config}, user=user)


def test_enqueue_sends_the_task_only_on_commit(personas: Personas, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = queued_job(personas.ml_engineer)
    assert job.status == JobStatus.QUEUED
    assert len(callbacks) == 1  # the message waits for the commit
    assert AuditEntry.objects.filter(action="job.enqueue", object_id=str(job.pk), actor=personas.ml_engineer).exists()


def test_bad_config_is_refused_before_a_row_exists(personas: Personas) -> None:
    with pytest.raises(jobs.JobError, match="Steps must be between"):
        queued_job(personas.ml_engineer, steps=0)
    with pytest.raises(jobs.JobError, match="must be numbers"):
        queued_job(personas.ml_engineer, steps="many")
    assert not Job.objects.exists()


def test_unknown_kind_is_refused(personas: Personas) -> None:
    with pytest.raises(jobs.JobError, match="Unknown job kind"):
        jobs.enqueue_job("no.such.kind", {}, user=personas.ml_engineer)


def test_second_claim_of_the_same_job_is_refused(personas: Personas) -> None:
    job = queued_job(personas.ml_engineer)
    assert jobs.claim_job(job.pk, "worker-a") is True
    assert jobs.claim_job(job.pk, "worker-b") is False
    job.refresh_from_db()
    assert (job.status, job.worker) == (JobStatus.RUNNING, "worker-a")


def test_execute_runs_selfcheck_to_success_with_progress_artifact_and_log(personas: Personas) -> None:
    job = queued_job(personas.ml_engineer, steps=3)
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.progress == 1.0
    assert job.progress_message == "step 3 of 3"
    assert job.metrics == {"steps": 3, "resumed_from": 0}
    assert [a["label"] for a in job.artifacts] == ["self-check report"]
    assert "finished in" in job.log_tail
    assert job.started_at is not None and job.finished_at is not None and job.finished_at >= job.started_at
    assert jobs.execute_job(job.pk) is None  # a repeat delivery does not run it again


def test_a_failing_job_records_the_error_and_can_resume_from_its_checkpoint(personas: Personas) -> None:
    job = queued_job(personas.ml_engineer, steps=4, fail_at_step=3)
    assert jobs.execute_job(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error == "RuntimeError: failing at step 3 as configured"
    assert "Traceback" in job.log_tail
    assert job.progress == 0.5

    Job.objects.filter(pk=job.pk).update(config={**job.config, "fail_at_step": None})
    job = jobs.resume_job(job, user=personas.ml_engineer)
    assert (job.status, job.attempt, job.error) == (JobStatus.QUEUED, 2, "")
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert "resuming from checkpoint: 2 of 4 steps already done" in job.log_tail
    assert job.metrics["resumed_from"] == 2


def test_cancel_a_queued_job_is_immediate_and_idempotent(personas: Personas) -> None:
    job = queued_job(personas.ml_engineer)
    first = jobs.cancel_job(job, user=personas.ml_engineer)
    second = jobs.cancel_job(job, user=personas.ml_engineer)
    assert first.status == second.status == JobStatus.CANCELLED
    assert AuditEntry.objects.filter(action="job.cancel", object_id=str(job.pk)).count() == 1
    assert jobs.execute_job(job.pk) is None  # a cancelled job is never claimed


def test_cancel_a_running_job_stops_it_at_its_next_progress_report(personas: Personas, settings: Any) -> None:
    job = queued_job(personas.ml_engineer, steps=50)

    def cancel_soon(ctx: jobs.JobContext) -> None:
        jobs.cancel_job(Job.objects.get(pk=ctx.job_id), user=personas.ml_engineer)
        ctx._beat()  # what the heartbeat thread does every few seconds
        ctx.progress(0.1)  # raises JobCancelled
        raise AssertionError("not reached")

    original = jobs.REGISTRY[SELFCHECK]
    jobs.REGISTRY[SELFCHECK] = jobs.JobKind(name=SELFCHECK, label="x", run=cancel_soon)
    try:
        assert jobs.execute_job(job.pk) == JobStatus.CANCELLED
    finally:
        jobs.REGISTRY[SELFCHECK] = original
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert "cancelled at the user's request" in job.log_tail


def test_stale_running_jobs_are_marked_lost_and_fresh_ones_are_not(personas: Personas) -> None:
    stale, fresh = queued_job(personas.ml_engineer), queued_job(personas.ml_engineer)
    jobs.claim_job(stale.pk, "dead-worker")
    jobs.claim_job(fresh.pk, "live-worker")
    Job.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert jobs.mark_lost_jobs(timedelta(minutes=2)) == [stale.pk]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == JobStatus.LOST
    assert "dead-worker stopped sending heartbeats" in stale.error
    assert fresh.status == JobStatus.RUNNING
    assert jobs.mark_lost_jobs(timedelta(minutes=2)) == []


def test_a_finished_job_cannot_be_resumed(personas: Personas) -> None:
    job = queued_job(personas.ml_engineer)
    jobs.execute_job(job.pk)
    job.refresh_from_db()
    with pytest.raises(jobs.JobError, match="cannot be resumed"):
        jobs.resume_job(job, user=personas.ml_engineer)


# --- pages ----------------------------------------------------------------------------------------


def test_job_page_polls_while_active_and_stops_when_finished(personas: Personas, client_as: Any) -> None:
    job = queued_job(personas.ml_engineer)
    client = client_as(personas.ml_engineer)
    page = client.get(reverse("jobs:detail", args=[job.pk]))
    assert page.status_code == 200
    assert 'hx-trigger="every 2s"' in page.content.decode()
    assert "<html" in page.content.decode()

    jobs.execute_job(job.pk)
    fragment = client.get(reverse("jobs:detail", args=[job.pk]), headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert "<html" not in html  # the fragment, not the page
    assert 'id="job-status"' in html and 'data-status="succeeded"' in html
    assert "hx-trigger" not in html  # the swapped-in fragment carries no poll: polling stops


def test_job_views_refuse_the_wrong_method(personas: Personas, client_as: Any) -> None:
    job = queued_job(personas.ml_engineer)
    client = client_as(personas.ml_engineer)
    assert client.post(reverse("jobs:detail", args=[job.pk])).status_code == 405
    assert client.get(reverse("jobs:cancel", args=[job.pk])).status_code == 405
    assert client.get(reverse("jobs:start_selfcheck")).status_code == 405


def test_start_selfcheck_from_the_page_redirects_to_the_new_job(personas: Personas, client_as: Any) -> None:
    response = client_as(personas.ml_engineer).post(reverse("jobs:start_selfcheck"), {"steps": 3, "step_seconds": 0})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("jobs:detail", args=[job.pk])
    assert job.config == {"steps": 3, "step_seconds": 0.0, "fail_at_step": None}
    assert job.triggered_by == personas.ml_engineer


def test_start_selfcheck_with_bad_input_is_400_and_creates_nothing(personas: Personas, client_as: Any) -> None:
    response = client_as(personas.ml_engineer).post(reverse("jobs:start_selfcheck"), {"steps": -1})
    assert response.status_code == 400
    assert "steps" in response.content.decode()
    assert not Job.objects.exists()


def test_cancel_over_htmx_returns_the_fragment_and_a_trigger(personas: Personas, client_as: Any) -> None:
    job = queued_job(personas.ml_engineer)
    response = client_as(personas.ml_engineer).post(
        reverse("jobs:cancel", args=[job.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "job-changed"
    assert 'data-status="cancelled"' in response.content.decode()


def test_resume_of_a_finished_job_is_409_with_a_reason(personas: Personas, client_as: Any) -> None:
    job = queued_job(personas.ml_engineer)
    jobs.execute_job(job.pk)
    response = client_as(personas.ml_engineer).post(reverse("jobs:resume", args=[job.pk]))
    assert response.status_code == 409
    assert "cannot be resumed" in response.content.decode()


def test_job_list_filters_by_kind_and_status(personas: Personas, client_as: Any) -> None:
    done, waiting = queued_job(personas.ml_engineer), queued_job(personas.ml_engineer)
    jobs.execute_job(done.pk)
    client = client_as(personas.ml_engineer)
    html = client.get(reverse("jobs:list"), {"status": "queued", "kind": SELFCHECK}).content.decode()
    assert f'href="{reverse("jobs:detail", args=[waiting.pk])}"' in html
    assert f'href="{reverse("jobs:detail", args=[done.pk])}"' not in html
    fragment = client.get(reverse("jobs:list"), {"status": "succeeded"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.content.decode() and 'id="job-table"' in fragment.content.decode()


def test_job_list_with_a_bad_filter_is_400_with_a_message(personas: Personas, client_as: Any) -> None:
    response = client_as(personas.ml_engineer).get(reverse("jobs:list"), {"status": "exploded"})
    assert response.status_code == 400
    assert "exploded" in response.content.decode()


def test_curators_see_only_their_own_jobs_in_the_list(personas: Personas, client_as: Any) -> None:
    mine = Job.objects.create(kind=SELFCHECK, triggered_by=personas.curator)
    theirs = Job.objects.create(kind=SELFCHECK, triggered_by=personas.ml_engineer)
    html = client_as(personas.curator).get(reverse("jobs:list")).content.decode()
    assert reverse("jobs:detail", args=[mine.pk]) in html
    assert reverse("jobs:detail", args=[theirs.pk]) not in html


def test_api_lists_jobs_with_allowlisted_filters(personas: Personas, client_as: Any) -> None:
    job = queued_job(personas.ml_engineer)
    client = client_as(personas.ml_engineer)
    body = client.get(reverse("api-job-list"), {"status": "queued"}).json()
    assert [row["id"] for row in body["results"]] == [job.pk]
    assert body["results"][0]["triggered_by"] == "ml"
    bad = client.get(reverse("api-job-list"), {"status": "exploded"})
    assert bad.status_code == 400 and "status" in bad.json()
