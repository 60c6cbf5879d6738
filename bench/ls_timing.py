"""Label Studio's WSGI application with the same ``Server-Timing`` header the workbench sends (time in Django and
thread CPU time and SQL statements, transaction control not counted), so the comparison reads both servers the same way.

Runs inside Label Studio's own virtualenv (gunicorn ``ls_timing:application`` with bench/ on PYTHONPATH); it
imports nothing of the workbench. The count is Django's ``execute_wrapper``, as in medes_site/middleware.py.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import label_studio

sys.path.insert(0, str(Path(label_studio.__file__).parent))  # as `label-studio start` does
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "label_studio.core.settings.label_studio")

from django.core.wsgi import get_wsgi_application
from django.db import connection

_inner = get_wsgi_application()


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def application(environ: dict[str, Any], start_response: Any) -> Any:
    counter = _Counter()
    started, cpu_started = time.perf_counter(), time.thread_time()
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["args"] = (status, headers, exc_info)
        return lambda data: None

    with connection.execute_wrapper(counter):
        body = b"".join(_inner(environ, capture))
    status, headers, exc_info = captured["args"]
    elapsed, cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu_started) * 1000
    timing = f'app;dur={elapsed:.1f}, cpu;dur={cpu:.1f}, db;desc="queries";dur={counter.count}'
    headers = [*headers, ("Server-Timing", timing)]
    start_response(status, headers, exc_info)
    return [body]
