"""Start the web server and a Celery worker together; Ctrl-C stops both.

Used by `make run`. Both children share this process's environment, so whatever DATABASE_URL and
CELERY_BROKER_URL say applies to both. If either child exits, the other is stopped too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = os.environ.get("MEDES_HOST", "127.0.0.1")
PORT = os.environ.get("MEDES_PORT", "8000")


def main() -> int:
    python = sys.executable
    web = subprocess.Popen([python, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"], cwd=ROOT)
    worker = subprocess.Popen(
        [
            python,
            "-m",
            "celery",
            "-A",
            "medes_site",
            "worker",
            "--beat",
            "-Q",
            "default,gpu",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
    )
    children = [web, worker]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    url = f"http://{HOST}:{PORT}/"
    announced = False
    while not stopping and all(child.poll() is None for child in children):
        if not announced and _up(url + "healthz"):
            print(
                f"\n  MedES workbench is running at {url}  (Ctrl-C stops the web server and the worker)\n", flush=True
            )
            announced = True
        time.sleep(0.5)

    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    failed = [child for child in children if child.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
    return 0 if stopping and not failed else 1


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
