"""Job services and pages, run in-process (the real-worker tests are in test_worker.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from medes_site import jobs
from medes_site.models import AuditEntry, Job, JobStatus
from tests.factories import Personas

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
    with translation.override("zh-hans"), pytest.raises(jobs.JobError, match="步数必须在 1 到 1000 之间"):
        queued_job(personas.ml_engineer, steps=0)
    with translation.override("en"), pytest.raises(jobs.JobError, match="must be numbers"):
        queued_job(personas.ml_engineer, steps="many")
    assert not Job.objects.exists()


def test_unknown_kind_is_refused(personas: Personas) -> None:
    with translation.override("en"), pytest.raises(jobs.JobError, match=r"Unknown job kind no\.such\.kind"):
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


def test_cancel_a_running_job_stops_it_at_its_next_progress_report(personas: Personas) -> None:
    def cancel_soon(ctx: jobs.JobContext) -> None:
        jobs.cancel_job(Job.objects.get(pk=ctx.job_id), user=personas.ml_engineer)
        ctx._beat()  # what the heartbeat thread does every few seconds
        ctx.progress(0.1)  # raises JobCancelled
        raise AssertionError("not reached")

    with registered_kind("test.cancel_soon", cancel_soon):
        job = jobs.enqueue_job("test.cancel_soon", {}, user=personas.ml_engineer)
        assert jobs.execute_job(job.pk) == JobStatus.CANCELLED
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
    with pytest.raises(jobs.JobError, match="不能恢复"):
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


def test_a_training_job_page_draws_its_loss_curve(personas: Personas, client_as: Any) -> None:
    job = queued_job(personas.ml_engineer)
    client = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    assert 'data-testid="loss-chart"' not in client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    Job.objects.filter(pk=job.pk).update(metrics={"loss_curve": [[1, 4.0], [2, None], [3, 2.0], [5, 1.0]], "steps": 5})
    html = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    # drawn by static/js/charts.js from the curve handed over as JSON; a step without a loss is not counted
    assert 'data-points="3"' in html and 'data-chart="loss-curve"' in html
    assert '<script id="loss-curve" type="application/json">[[1, 4.0], [2, null], [3, 2.0], [5, 1.0]]</script>' in html
    assert 'aria-label="Loss from 4 to 1"' in html  # numbers through medes_format's num: no trailing zeros
    assert "<dt>steps</dt>" in html and "<dt>loss_curve</dt>" not in html  # the curve is drawn, not dumped


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


def test_the_selfcheck_runs_on_the_queue_asked_for_and_an_unknown_queue_is_400(
    personas: Personas, client_as: Any
) -> None:
    client = client_as(personas.ml_engineer)
    client.post(reverse("jobs:start_selfcheck"), {"queue": "gpu", "steps": 1, "step_seconds": 0})
    client.post(reverse("jobs:start_selfcheck"), {"queue": "default", "steps": 1, "step_seconds": 0})
    assert list(Job.objects.order_by("pk").values_list("kind", "queue")) == [
        ("system.selfcheck_gpu", "gpu"),
        ("system.selfcheck", "default"),
    ]
    assert Job.objects.first().config == {"steps": 1, "step_seconds": 0.0, "fail_at_step": None}  # type: ignore[union-attr]
    refused = client.post(reverse("jobs:start_selfcheck"), {"queue": "tpu", "steps": 1}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400 and "tpu" in refused.content.decode()
    assert Job.objects.count() == 2
    assert 'name="queue"' in client.get(reverse("jobs:list")).content.decode()  # the choice on the jobs page


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
    assert "不能恢复" in response.content.decode()


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


def test_double_submit_of_the_start_form_starts_one_job(personas: Personas, client_as: Any) -> None:
    client = client_as(personas.ml_engineer)
    form = client.get(reverse("jobs:list")).content.decode()
    key = form.split('name="request_key" value="')[1].split('"')[0]
    data = {"steps": 2, "step_seconds": 0, "request_key": key}
    first = client.post(reverse("jobs:start_selfcheck"), data)
    second = client.post(reverse("jobs:start_selfcheck"), data)
    assert Job.objects.count() == 1
    assert first["Location"] == second["Location"] == reverse("jobs:detail", args=[Job.objects.get().pk])
    assert AuditEntry.objects.filter(action="job.enqueue").count() == 1


def test_a_request_key_cannot_be_replayed_by_another_user(personas: Personas) -> None:
    jobs.enqueue_job(SELFCHECK, {"steps": 1}, user=personas.ml_engineer, request_key="k1")
    with translation.override("en"), pytest.raises(jobs.JobError, match="already used"):
        jobs.enqueue_job(SELFCHECK, {"steps": 1}, user=personas.admin, request_key="k1")
    assert Job.objects.count() == 1


def test_a_job_past_its_time_limit_fails_with_a_clear_message(personas: Personas) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    def too_slow(ctx: jobs.JobContext) -> None:
        raise SoftTimeLimitExceeded  # what Celery raises inside the task at soft_time_limit

    with registered_kind("test.slow", too_slow, time_limit=5):
        job = jobs.enqueue_job("test.slow", {}, user=personas.ml_engineer)
        assert jobs.execute_job(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error == "Stopped after its time limit of 5 s; resume it to continue."


def test_each_kind_is_sent_to_its_queue_with_its_time_limits(
    personas: Personas, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    from medes_site.tasks import run_job

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(run_job, "apply_async", lambda **kwargs: sent.append(kwargs))  # wiring only, no broker
    with (
        registered_kind("test.train", lambda ctx: None, queue="gpu", time_limit=3600),
        django_capture_on_commit_callbacks(execute=True),
    ):
        gpu_job = jobs.enqueue_job("test.train", {}, user=personas.ml_engineer)
        cpu_job = queued_job(personas.ml_engineer)
    assert gpu_job.queue == "gpu" and cpu_job.queue == "default"
    assert [(s["args"], s["queue"]) for s in sent] == [((gpu_job.pk,), "gpu"), ((cpu_job.pk,), "default")]
    assert (sent[0]["soft_time_limit"], sent[0]["time_limit"]) == (3600, 3660)


def test_an_unknown_queue_is_refused_at_registration() -> None:
    with pytest.raises(ValueError, match="unknown queue"):
        jobs.job_kind("test.bad", label="x", queue="tpu")


class registered_kind:  # noqa: N801 - used as a context manager, reads like one
    """Register a job kind for one test and remove it afterwards."""

    def __init__(self, name: str, run: Any, **options: Any) -> None:
        self.name, self.run, self.options = name, run, options

    def __enter__(self) -> None:
        jobs.job_kind(self.name, label=self.name, **self.options)(self.run)

    def __exit__(self, *exc: object) -> None:
        jobs.REGISTRY.pop(self.name, None)


def test_an_attempt_declared_lost_cannot_overwrite_the_attempt_that_replaced_it(personas: Personas) -> None:
    """A worker that was cut off (not dead) wakes up after its job was marked lost and resumed."""
    job = queued_job(personas.ml_engineer, steps=3)
    assert jobs.claim_job(job.pk, "stalled-worker")
    job.refresh_from_db()
    stalled = jobs.JobContext(job)  # attempt 1's view of the row

    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert jobs.mark_lost_jobs(timedelta(minutes=2)) == [job.pk]
    job = jobs.resume_job(Job.objects.get(pk=job.pk), user=personas.ml_engineer)
    assert jobs.claim_job(job.pk, "new-worker")  # attempt 2 is running now

    stalled._beat()  # its heartbeat no longer keeps the row alive…
    with pytest.raises(jobs.JobSuperseded):
        stalled.progress(0.9, "stale progress")  # …and its next report stops it
    stalled.log("stale line")
    job.refresh_from_db()
    assert (job.attempt, job.worker, job.status) == (2, "new-worker", JobStatus.RUNNING)
    assert job.progress_message == "" and "stale line" not in job.log_tail


def test_a_stale_attempt_finishing_late_does_not_record_a_result(personas: Personas) -> None:
    job = queued_job(personas.ml_engineer)

    def finish_after_being_replaced(ctx: jobs.JobContext) -> None:
        # While this attempt "ran", the row was marked lost and resumed as attempt 2.
        Job.objects.filter(pk=ctx.job_id).update(status=JobStatus.RUNNING, attempt=2, worker="other")

    with registered_kind("test.late", finish_after_being_replaced):
        job = jobs.enqueue_job("test.late", {}, user=personas.ml_engineer)
        assert jobs.execute_job(job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.attempt, job.worker) == (JobStatus.RUNNING, 2, "other")
    assert not AuditEntry.objects.filter(action="job.succeeded", object_id=str(job.pk)).exists()


def test_broker_down_at_commit_leaves_the_job_queued_and_the_sweeper_sends_it(
    personas: Personas, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    from kombu.exceptions import OperationalError

    from medes_site.tasks import run_job, sweep_lost_jobs

    def broker_down(**kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(run_job, "apply_async", broker_down)  # wiring only: the broker itself is not tested here
    with django_capture_on_commit_callbacks(execute=True):
        job = queued_job(personas.ml_engineer)  # no exception reaches the user
    job.refresh_from_db()
    assert (job.status, job.sent_at) == (JobStatus.QUEUED, None)

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(run_job, "apply_async", lambda **kwargs: sent.append(kwargs))
    assert jobs.resend_unsent_jobs(older_than=timedelta(minutes=5)) == []  # too young: may still be in flight
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert sweep_lost_jobs() == {"lost": [], "resent": [job.pk]}  # what beat runs every minute
    assert [s["args"] for s in sent] == [(job.pk,)]
    job.refresh_from_db()
    assert job.sent_at is not None
    assert sweep_lost_jobs() == {"lost": [], "resent": []}


def test_beat_schedules_the_sweep_task_that_exists() -> None:
    from medes_site.celery import app

    entry = app.conf.beat_schedule["sweep-lost-jobs"]
    assert entry["task"] in app.tasks
    assert entry["schedule"] <= 60


def test_resuming_needs_the_role_that_starts_the_kind(personas: Personas, client_as: Any) -> None:
    """A curator's own self-check job, once lost, is not theirs to restart: only ML engineers start it."""
    job = Job.objects.create(kind=SELFCHECK, triggered_by=personas.curator, status=JobStatus.LOST)
    assert client_as(personas.curator).post(reverse("jobs:resume", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.LOST
    assert client_as(personas.ml_engineer).post(reverse("jobs:resume", args=[job.pk])).status_code == 302


def test_admin_job_actions_need_the_change_permission(personas: Personas, client_as: Any) -> None:
    from django.contrib.auth.models import Permission

    job = queued_job(personas.ml_engineer)
    staff = personas.reviewer
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.add(Permission.objects.get(codename="view_job"))
    changelist = reverse("admin:medes_site_job_changelist")
    page = client_as(staff).get(changelist).content.decode()
    assert "cancel_jobs" not in page  # the action is not even offered
    client_as(staff).post(changelist, {"action": "cancel_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    client_as(personas.admin).post(changelist, {"action": "cancel_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
