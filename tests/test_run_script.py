"""`make run`'s last step: scripts/run.py serves the app and runs a worker; Ctrl-C (SIGINT) stops both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.worker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


def test_run_script_serves_the_login_page_and_ctrl_c_stops_web_and_worker(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env |= {"MEDES_VAR_DIR": str(tmp_path), "MEDES_PORT": str(port), "DEBUG": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=600)
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 300  # failure bounds only: a loaded machine starts slowly
        while f"running at http://127.0.0.1:{port}/" not in (tmp_path / "run.log").read_text(errors="replace"):
            assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=60) as response:
            assert response.status == 200 and b'name="password"' in response.read()
        deadline = time.monotonic() + 300
        while "celery@" not in (tmp_path / "run.log").read_text(errors="replace") or "ready." not in (
            tmp_path / "run.log"
        ).read_text(errors="replace"):
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
    # the web server is gone with it: its port soon refuses connections (polled: it may take a moment to close)
    deadline = time.monotonic() + 60
    while _answers(port):
        assert time.monotonic() < deadline, "the web server still answers after the script stopped"
        time.sleep(0.2)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert f"127.0.0.1:{port}" not in ps  # no runserver left behind
