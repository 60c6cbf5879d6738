"""Rows every app shares: the job table (DESIGN.md §5) and the append-only audit trail."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    LOST = "lost", _("Lost")


ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
FINISHED_STATUSES = frozenset(JobStatus) - ACTIVE_STATUSES


class Job(models.Model):
    """One long piece of work. The row, not the broker, is the truth about it."""

    kind = models.CharField(_("kind"), max_length=64, db_index=True)
    queue = models.CharField(_("queue"), max_length=16, default="default")
    config = models.JSONField(_("configuration"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(_("progress"), default=0.0, help_text=_("Fraction done, 0 to 1."))
    progress_message = models.CharField(_("progress message"), max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    log_tail = models.TextField(_("log tail"), blank=True, help_text=_("The last lines the job logged."))
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    artifacts = models.JSONField(_("artifacts"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("triggered by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    request_key = models.CharField(
        _("request key"),
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text=_("Sent by the form that started the job, so a double submit starts it once."),
    )
    attempt = models.PositiveIntegerField(_("attempt"), default=1)
    db_retries = models.PositiveSmallIntegerField(
        _("retries after a database outage"),
        default=0,
        help_text=_("Attempts queued again automatically because the database went away while the job ran."),
    )
    worker = models.CharField(_("worker"), max_length=255, blank=True)
    sent_at = models.DateTimeField(
        _("sent to the broker"), null=True, blank=True, help_text=_("Empty while the broker has not taken it.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["status", "sent_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def progress_percent(self) -> int:
        return round(max(0.0, min(1.0, self.progress)) * 100)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        from django.utils import timezone

        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    def loss_chart(self, width: int = 480, height: int = 160, pad: int = 32) -> dict[str, Any] | None:
        """The ``loss_curve`` metric ([[step, loss], …], as training jobs write it) as an SVG polyline's points,
        with the axes' ends; None until there are two finite points."""
        import math

        curve = [
            (float(step), float(loss))
            for step, loss in (self.metrics or {}).get("loss_curve") or []
            if isinstance(loss, int | float) and math.isfinite(loss)
        ]
        if len(curve) < 2:
            return None
        first, last = curve[0][0], curve[-1][0]
        low, high = min(loss for _, loss in curve), max(loss for _, loss in curve)
        span_x, span_y = (last - first) or 1.0, (high - low) or 1.0

        def x(step: float) -> float:
            return round(pad + (step - first) / span_x * (width - 2 * pad), 1)

        def y(loss: float) -> float:
            return round(height - pad - (loss - low) / span_y * (height - 2 * pad), 1)

        return {
            "width": width,
            "height": height,
            "pad": pad,
            "x_end": width - pad,
            "y_end": height - pad,
            "points": " ".join(f"{x(s)},{y(v)}" for s, v in curve),
            "n": len(curve),
            "first_step": int(first),
            "last_step": int(last),
            "low": low,
            "high": high,
            "first": curve[0][1],
            "last": curve[-1][1],
        }


class AppendOnlyError(RuntimeError):
    """Raised on any attempt to change or remove an audit entry."""


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit entries cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """Who did what to which object, and when. Rows are only ever added."""

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        # The trail outlives the user: no cascade, no nulling (both would rewrite history).
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True, db_index=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=255, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering: ClassVar[list[str]] = ["-at", "-pk"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit entries cannot be deleted.")


class ApiTokenName(models.Model):
    """What a personal REST API token (django-rest-knox's ``AuthToken``: only a hash is stored, it expires, it can
    be revoked) is for, so that its owner knows which one to revoke."""

    token = models.OneToOneField(
        "knox.AuthToken", on_delete=models.CASCADE, primary_key=True, related_name="name", verbose_name=_("token")
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What the token is for, e.g. a nightly script."))

    class Meta:
        verbose_name = _("API token name")
        verbose_name_plural = _("API token names")

    def __str__(self) -> str:
        return self.name
