"""The Celery app. Queues: ``default`` (CPU work) and ``gpu`` (training, local generation)."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

app = Celery("medes")


@app.on_configure.connect
def _settings_or_exit(sender: Celery, **kwargs: object) -> None:
    from medes_site.env import load_settings_or_exit

    load_settings_or_exit()


app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender: Celery, **kwargs: object) -> None:
    """The zero-set-up filesystem broker needs its folders before the first message."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
