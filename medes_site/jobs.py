"""Jobs (DESIGN.md §5): a registry of job kinds and the services that move a Job row through its life.

    enqueue_job ──on commit──▶ Celery task ──claim (queued→running)──▶ kind.run(ctx) ──▶ succeeded|failed|cancelled
                                   │ worker dies: heartbeats stop ──▶ mark_lost_jobs ──▶ lost ──resume_job──▶ queued
                                   │ the database goes away: DatabaseGone ──once it answers──▶ requeue_after_db_outage
                                   │                                        ──▶ queued (a new attempt; bounded)

A task runs a job only after claiming its row with a conditional UPDATE, so a job never runs twice at
once. While it runs, a thread writes a heartbeat and picks up cancel requests.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop

from medes_site import audit, files, labels
from medes_site.celery import app as celery_app
from medes_site.dbhealth import forget_broken_connections, is_connection_error
from medes_site.models import Job, JobStatus
from medes_site.roles import ALL_ROLES, Role, has_role

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 200
REQUEST_KEY = re.compile(r"[A-Za-z0-9_:-]{1,64}")
QUEUES = ("default", "gpu")
RUN_TASK = "medes.jobs.run"  # the Celery task that runs a job (medes_site.tasks.run_job)


class JobCancelled(Exception):  # noqa: N818 - it is a signal, not an error
    """Raised inside a running job when someone asked to cancel it."""


class JobError(Exception):
    """A job cannot be started or changed as asked; the message is for the user."""


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str | Promise
    run: Callable[[JobContext], None]
    queue: str = "default"
    time_limit: int = 60 * 60
    # Who may start it from the UI; superusers always may.
    roles: frozenset[Role] = field(default_factory=lambda: frozenset({Role.ML_ENGINEER}))
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # May this user see what a job of this kind wrote (its artifacts, metrics and log)? For kinds whose outputs
    # hold labels (a campaign's export, its agreement), the app that owns them answers with its blind rule.
    outputs_visible: Callable[[AbstractBaseUser | AnonymousUser, dict[str, Any]], bool] | None = None


REGISTRY: dict[str, JobKind] = {}


def job_kind(
    name: str,
    *,
    label: str | Promise,
    queue: str = "default",
    time_limit: int = 60 * 60,
    roles: frozenset[Role] | None = None,
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    outputs_visible: Callable[[AbstractBaseUser | AnonymousUser, dict[str, Any]], bool] | None = None,
) -> Callable[[Callable[[JobContext], None]], Callable[[JobContext], None]]:
    """Register ``run(ctx)`` as the body of jobs of kind ``name``."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def decorator(run: Callable[[JobContext], None]) -> Callable[[JobContext], None]:
        REGISTRY[name] = JobKind(
            name=name,
            label=label,
            run=run,
            queue=queue,
            time_limit=time_limit,
            roles=roles if roles is not None else frozenset({Role.ML_ENGINEER}),
            validate=validate,
            outputs_visible=outputs_visible,
        )
        return run

    return decorator


def get_kind(name: str) -> JobKind:
    try:
        return REGISTRY[name]
    except KeyError:
        raise JobError(gettext("Unknown job kind %(kind)s.") % {"kind": name}) from None


# --- notices and labels -------------------------------------------------------------------------------------

# What the job machinery writes into a job's ``error`` is stored in English (one text for logs, the admin and
# searches) and shown in the reader's language (``{{ job.error|label:"message" }}``, medes_site.labels).
LOST = labels.Phrase(gettext_noop("The worker %(worker)s stopped sending heartbeats (last at %(last)s)."))
DB_RETRIES_USED = labels.Phrase(
    gettext_noop(
        "The database connection was lost during attempt %(attempt)s, and its %(retries)s automatic retries "
        "(MEDES_JOB_DB_RETRIES) are used up. Resume it once the database is stable."
    )
)
TIME_LIMIT = labels.Phrase(gettext_noop("Stopped after its time limit of %(limit)s s; resume it to continue."))


def kind_label(name: str) -> str | Promise | None:
    """A job kind's label (the "job" vocabulary: ``{{ job.kind|label:"job" }}``); None for an unknown kind."""
    kind = REGISTRY.get(name)
    return kind.label if kind is not None else None


labels.register("job", kind_label)


# --- who sees what -------------------------------------------------------------------------------


def jobs_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Job]:
    """ML engineers (and superusers) see every job; curators and reviewers see the jobs they started."""
    if has_role(user, Role.ML_ENGINEER):
        return Job.objects.all()
    if has_role(user, Role.CURATOR, Role.REVIEWER):
        return Job.objects.filter(triggered_by=user.pk)
    return Job.objects.none()


def may_see_outputs(user: AbstractBaseUser | AnonymousUser, job: Job) -> bool:
    """Whether ``user``, who may see ``job``, may also see its artifacts, metrics and log (blind labeling)."""
    kind = REGISTRY.get(job.kind)
    return kind is None or kind.outputs_visible is None or kind.outputs_visible(user, job.config)


def may_start(user: AbstractBaseUser | AnonymousUser, kind: JobKind) -> bool:
    return has_role(user, *kind.roles) if kind.roles != ALL_ROLES else user.is_authenticated


# --- state changes -------------------------------------------------------------------------------


def enqueue_job(
    kind_name: str,
    config: dict[str, Any] | None = None,
    *,
    user: AbstractBaseUser | AnonymousUser | None = None,
    request: HttpRequest | None = None,
    request_key: str | None = None,
) -> Job:
    """Create a queued row and send it to its queue once the surrounding transaction commits.

    With ``request_key`` (a random token the starting form carries), a repeated submit of the same form
    returns the job the first one created instead of starting another.
    """
    kind = get_kind(kind_name)
    if request_key and not REQUEST_KEY.fullmatch(request_key):  # it comes from a form field: never trust its shape
        raise JobError(gettext("This form's request key is not valid; reload the page."))
    config = dict(config or {})
    if kind.validate is not None:
        config = kind.validate(config)
    triggered_by = user if isinstance(user, User) else None
    fields = {"kind": kind.name, "queue": kind.queue, "config": config, "triggered_by": triggered_by}
    if request_key:
        try:
            with transaction.atomic():
                job, created = Job.objects.get_or_create(request_key=request_key, defaults=fields)
        except IntegrityError:  # the same submit, racing this one, created it first
            job, created = Job.objects.get(request_key=request_key), False
        if not created:
            if (job.kind, job.config, job.triggered_by_id) != (kind.name, config, getattr(triggered_by, "pk", None)):
                raise JobError(gettext("This form was already used to start a different job; reload the page."))
            return job
    else:
        job = Job.objects.create(**fields)
    audit.record("job.enqueue", actor=user, obj=job, details={"config": config}, request=request)
    transaction.on_commit(lambda: send_job(job.pk), robust=True)
    return job


def send_job(pk: int) -> bool:
    """Publish a queued job's message. A broker that is down leaves the row queued and unsent, and the
    sweeper sends it again later; the user never sees an error for it."""
    job = Job.objects.filter(pk=pk, status=JobStatus.QUEUED).only("kind", "queue").first()
    if job is None:
        return False
    kind = get_kind(job.kind)
    try:
        # The soft limit raises inside the job, which then fails with a clear message; the hard limit, a
        # minute later, kills a job that ignores it (its row then goes stale and is marked lost).
        # The task by its name: medes_site.tasks imports this module (its tasks run jobs), so this one does not
        # import it back; MedesSiteConfig.ready() imports it, which registers it in every process.
        celery_app.tasks[RUN_TASK].apply_async(
            args=(pk,), queue=kind.queue, soft_time_limit=kind.time_limit, time_limit=kind.time_limit + 60
        )
    except Exception:  # kombu raises many types for an unreachable broker; all mean "try later"
        logger.exception("could not send job %s to the broker; the sweeper will retry", pk)
        return False
    Job.objects.filter(pk=pk).update(sent_at=timezone.now())
    return True


def claim_job(pk: int, worker: str, *, attempt: int | None = None) -> bool:
    """Atomically take a queued job (queued→running), of that attempt when given. False if someone else has it
    or it was cancelled."""
    now = timezone.now()
    queued = Job.objects.filter(pk=pk, status=JobStatus.QUEUED)
    if attempt is not None:
        queued = queued.filter(attempt=attempt)
    fields = {"status": JobStatus.RUNNING, "started_at": now, "heartbeat_at": now, "worker": worker[:255]}
    return queued.update(**fields, finished_at=None) == 1


def cancel_job(job: Job, *, user: AbstractBaseUser | AnonymousUser, request: HttpRequest | None = None) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop. Finished jobs are left as they are."""
    changed = Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), cancel_requested=True
    )
    if not changed:
        changed = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, cancel_requested=False).update(
            cancel_requested=True
        )
    job.refresh_from_db()
    if changed:
        audit.record("job.cancel", actor=user, obj=job, details={"status": job.status}, request=request)
    return job


def resume_job(job: Job, *, user: AbstractBaseUser | AnonymousUser, request: HttpRequest | None = None) -> Job:
    """Queue a lost or failed job again on the same row, as a new attempt; its kind picks up from its last
    checkpoint. Writes from an earlier attempt that is somehow still alive are ignored from now on."""
    get_kind(job.kind)
    changed = Job.objects.filter(pk=job.pk, status__in=[JobStatus.LOST, JobStatus.FAILED]).update(
        status=JobStatus.QUEUED,
        attempt=F("attempt") + 1,
        cancel_requested=False,
        error="",
        heartbeat_at=None,
        finished_at=None,
        sent_at=None,
    )
    job.refresh_from_db()
    if changed:
        audit.record("job.resume", actor=user, obj=job, details={"attempt": job.attempt}, request=request)
        transaction.on_commit(lambda: send_job(job.pk), robust=True)
    elif job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise JobError(gettext("A %(status)s job cannot be resumed.") % {"status": job.get_status_display()})
    return job


def mark_lost_jobs(stale_after: timedelta | None = None) -> list[int]:
    """Running jobs whose heartbeat is older than ``stale_after`` belong to a dead worker: mark them lost."""
    if stale_after is None:
        stale_after = timedelta(seconds=settings.MEDES_JOB_STALE_SECONDS)
    now = timezone.now()
    lost: list[Job] = []
    with transaction.atomic():
        # skip_locked: a row a job is writing to right now is alive; never wait on it.
        candidates = Job.objects.select_for_update(skip_locked=True).filter(
            status=JobStatus.RUNNING, heartbeat_at__lt=now - stale_after
        )
        for job in candidates:
            last = f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S %Z}" if job.heartbeat_at else "never"
            message = LOST(worker=job.worker or "?", last=last)
            if Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempt=job.attempt).update(
                status=JobStatus.LOST, finished_at=now, error=message
            ):
                lost.append(job)
    for job in lost:
        audit.record("job.lost", obj=job, details={"worker": job.worker, "heartbeat_at": str(job.heartbeat_at)})
    if lost:
        logger.warning("Marked jobs lost: %s", [job.pk for job in lost])
    return [job.pk for job in lost]


def requeue_after_db_outage(pk: int, attempt: int) -> JobStatus | None:
    """Queue again, as a new attempt, a job whose attempt ``attempt`` died only because the database went away
    (DatabaseGone): like resume_job, so its kind picks up from its last checkpoint. Call it once the database
    answers again. Bounded: after ``MEDES_JOB_DB_RETRIES`` automatic retries of the job it fails instead, saying
    why. A cancel asked for meanwhile is honoured; an attempt that was already replaced (resumed by hand) is left
    alone (returns None). The row may be running (its worker wrote nothing more) or lost (the sweeper saw its
    heartbeats stop first)."""
    limit = settings.MEDES_JOB_DB_RETRIES
    now = timezone.now()
    with transaction.atomic():
        job = (
            Job.objects.select_for_update()
            .filter(pk=pk, attempt=attempt, status__in=[JobStatus.RUNNING, JobStatus.LOST])
            .first()
        )
        if job is None:
            return None
        fields: dict[str, Any]
        if job.cancel_requested:
            status, line = JobStatus.CANCELLED, "cancelled at the user's request"
            fields = {"finished_at": now, "error": ""}
        elif job.db_retries >= limit:
            status = JobStatus.FAILED
            error = DB_RETRIES_USED(attempt=attempt, retries=job.db_retries)
            line, fields = error, {"finished_at": now, "error": error}
        else:
            status = JobStatus.QUEUED
            line = (
                f"attempt {attempt} lost the database connection; queued again as attempt {attempt + 1} "
                f"(automatic retry {job.db_retries + 1} of {limit})"
            )
            fields = {
                "attempt": attempt + 1,
                "db_retries": job.db_retries + 1,
                "error": "",
                "heartbeat_at": None,
                "finished_at": None,
                "sent_at": None,
            }
        Job.objects.filter(pk=pk).update(status=status, log_tail=_with_log_line(job.log_tail, line), **fields)
        job.refresh_from_db()
        action = "job.db_retry" if status == JobStatus.QUEUED else f"job.{status}"
        details = {"attempt": job.attempt, "db_retries": job.db_retries, "reason": "the database went away"}
        audit.record(action, obj=job, details=details)
        if status == JobStatus.QUEUED:
            transaction.on_commit(lambda: send_job(pk), robust=True)
    logger.warning("job %s: %s", pk, line)
    return status


def _with_log_line(tail: str, line: str) -> str:
    stamp = timezone.localtime().strftime("%H:%M:%S")
    return "\n".join([*tail.splitlines(), f"{stamp} {line}"][-LOG_TAIL_LINES:])


def resend_unsent_jobs(older_than: timedelta = timedelta(seconds=30)) -> list[int]:
    """Queued jobs whose message never reached the broker (it was down at commit time) are sent again."""
    cutoff = timezone.now() - older_than
    pending = Job.objects.filter(status=JobStatus.QUEUED, sent_at__isnull=True, created_at__lt=cutoff)
    return [pk for pk in pending.values_list("pk", flat=True) if send_job(pk)]


# --- running --------------------------------------------------------------------------------------


class JobSuperseded(Exception):  # noqa: N818 - a signal, like JobCancelled
    """This attempt no longer owns the row: it was marked lost and resumed elsewhere."""


class DatabaseGone(Exception):  # noqa: N818 - a signal: the row cannot be written now
    """The job's attempt died only because the database went away. Nothing could be written to its row; the
    caller queues it again once the database answers (``requeue_after_db_outage``)."""

    def __init__(self, pk: int, attempt: int) -> None:
        super().__init__(f"job {pk} attempt {attempt}: the database went away")
        self.pk = pk
        self.attempt = attempt


class JobContext:
    """What a running job's body sees: its config, a place for files, and ways to report back.

    Every write names the attempt it comes from, so an attempt that was declared lost and later wakes up
    cannot overwrite the attempt that replaced it. Call these methods outside ``transaction.atomic()``:
    inside one, pages would not see the progress until the transaction ends.
    """

    def __init__(self, job: Job) -> None:
        self.job_id = job.pk
        self.kind = job.kind
        self.config: dict[str, Any] = dict(job.config)
        self.attempt = job.attempt
        self.artifacts_dir = files.artifact_path("jobs", job.pk)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self._log: deque[str] = deque(job.log_tail.splitlines(), maxlen=LOG_TAIL_LINES)
        self._log_lock = threading.Lock()  # the log may be written from a training callback's thread
        self._cancel = threading.Event()
        self._superseded = threading.Event()

    def _mine(self) -> QuerySet[Job]:
        return Job.objects.filter(pk=self.job_id, attempt=self.attempt, status=JobStatus.RUNNING)

    def _write(self, **fields: Any) -> None:
        if not self._mine().update(**fields):
            self._superseded.set()

    # reporting
    def progress(self, fraction: float, message: str = "") -> None:
        self.check_cancelled()
        fields: dict[str, Any] = {"progress": max(0.0, min(1.0, fraction)), "heartbeat_at": timezone.now()}
        if message:
            fields["progress_message"] = message[:255]
        self._write(**fields)
        self.check_cancelled()

    def log(self, line: str) -> None:
        stamp = timezone.localtime().strftime("%H:%M:%S")
        with self._log_lock:
            self._log.extend(f"{stamp} {part}" for part in str(line).splitlines() or [""])
            text = "\n".join(self._log)
        self._write(log_tail=text)

    def set_metrics(self, **metrics: Any) -> None:
        current = self._mine().values_list("metrics", flat=True).first() or {}
        self._write(metrics={**current, **metrics})

    def add_artifact(self, path: Path, label: str = "") -> None:
        relative = files.relative_to_root(path)  # refused outside ARTIFACTS_ROOT
        entry = {"path": relative, "label": label or path.name, "bytes": path.stat().st_size}
        current = self._mine().values_list("artifacts", flat=True).first() or []
        self._write(artifacts=[*(a for a in current if a.get("path") != entry["path"]), entry])

    # cancellation
    def check_cancelled(self) -> None:
        if self._superseded.is_set():
            raise JobSuperseded
        if self._cancel.is_set():
            raise JobCancelled

    def _beat(self) -> None:
        """One heartbeat; also notices a cancel request written by the web process."""
        self._write(heartbeat_at=timezone.now())
        if Job.objects.filter(pk=self.job_id, cancel_requested=True).exists():
            self._cancel.set()


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: JobContext, interval: float) -> None:
        super().__init__(name=f"job-{ctx.job_id}-heartbeat", daemon=True)
        self.ctx = ctx
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    self.ctx._beat()
                except Exception as exc:  # a failed beat must not kill the job; the next one may succeed
                    logger.exception("heartbeat for job %s failed", self.ctx.job_id)
                    if is_connection_error(exc):  # reconnect at the next beat, once the database is back
                        forget_broken_connections()
        finally:
            connection.close()  # this thread's own connection


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_job(pk: int) -> JobStatus | None:
    """Claim and run one job; returns its final status, or None if it could not be claimed. Raises DatabaseGone,
    writing nothing, when the attempt died only because the database went away (its caller re-queues it)."""
    # the row is read before the claim: once claimed, a lost database must be handed back as DatabaseGone (the
    # row is running), never as an error before the claim (the message would come back to a row nobody runs)
    job = Job.objects.filter(pk=pk, status=JobStatus.QUEUED).first()
    if job is None or not claim_job(pk, worker_name(), attempt=job.attempt):
        logger.info("job %s was not queued; not running it", pk)
        return None
    try:
        return _run_claimed(job)
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        logger.warning("job %s attempt %s lost the database: %s", pk, job.attempt, exc)
        forget_broken_connections()
        raise DatabaseGone(pk, job.attempt) from exc


def _run_claimed(job: Job) -> JobStatus | None:
    pk = job.pk
    beat: _Heartbeat | None = None
    ctx: JobContext | None = None
    started = time.monotonic()
    try:
        ctx = JobContext(job)
        beat = _Heartbeat(ctx, settings.MEDES_JOB_HEARTBEAT_SECONDS)
        beat.start()
        ctx.log(f"attempt {job.attempt} started on {worker_name()}")
        get_kind(job.kind).run(ctx)
    except JobSuperseded:
        logger.warning("job %s attempt %s was superseded by a newer attempt; dropping its result", pk, job.attempt)
        return None
    except JobCancelled:
        status, error = JobStatus.CANCELLED, ""
        _log(ctx, "cancelled at the user's request")
    except SoftTimeLimitExceeded:
        limit = get_kind(job.kind).time_limit
        status, error = JobStatus.FAILED, TIME_LIMIT(limit=limit)
        _log(ctx, error)
    except Exception as exc:
        if is_connection_error(exc):
            raise  # not the job's fault: execute_job hands it back to be queued again
        status, error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
        _log(ctx, traceback.format_exc(limit=8))
        logger.exception("job %s failed", pk)
    else:
        status, error = JobStatus.SUCCEEDED, ""
        _log(ctx, f"finished in {time.monotonic() - started:.1f} s")
    finally:
        if beat is not None:
            beat.stopped.set()
            beat.join(timeout=30)
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "error": error}
    if status == JobStatus.SUCCEEDED:
        fields["progress"] = 1.0
    # Only this attempt, still running, may finish the row: a sweeper may have declared it lost meanwhile.
    if not Job.objects.filter(pk=pk, attempt=job.attempt, status=JobStatus.RUNNING).update(**fields):
        logger.warning("job %s attempt %s finished after losing its row; its result is dropped", pk, job.attempt)
        return None
    job.refresh_from_db()
    audit.record(f"job.{job.status}", obj=job, details={"attempt": job.attempt})
    return JobStatus(job.status)


def _log(ctx: JobContext | None, line: str) -> None:
    if ctx is not None:
        ctx.log(line)
