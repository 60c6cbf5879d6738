"""The project package: settings, the root URL conf, jobs, roles and the pieces every app shares; importing it
loads the Celery app so that ``@shared_task`` binds to it."""

from __future__ import annotations

from medes_site.celery import app as celery_app

__all__ = ["celery_app"]
