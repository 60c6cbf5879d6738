"""The fixtures every suite shares (personas, signed-in clients, real worker processes, Chromium) and the
settings each test starts from. What tests build lives in tests/factories.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import translation

from tests import factories
from tests.factories import Personas, make_personas
from tests.fake_endpoint import endpoint  # noqa: F401 - the fixture: a real OpenAI-compatible server on localhost
from tests.models_root_fixture import _models_in_tmp  # noqa: F401 - pytest's temp folders count as a models root

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def personas(db: None) -> Personas:
    return make_personas()


@pytest.fixture(scope="session", autouse=True)
def _factory_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """What tests/factories.py builds once per process (tiny models, a trained guardian) goes under pytest's
    base temporary folder, which counts as a models root (tests/models_root_fixture.py)."""
    factories.CACHE[:] = [tmp_path_factory.mktemp("factories")]


@pytest.fixture
def client_as() -> Callable[[User | None], Client]:
    def make(user: User | None, **kwargs: object) -> Client:
        client = Client(**kwargs)  # type: ignore[arg-type]
        if user is not None:
            client.force_login(user)
        return client

    return make


def test_database_url() -> str:
    """A URL for the database the tests are using right now, for a worker process to connect to."""
    data = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{data['NAME']}"
    user = data.get("USER") or ""
    password = f":{data['PASSWORD']}" if data.get("PASSWORD") else ""
    host = data.get("HOST") or "127.0.0.1"
    port = f":{data['PORT']}" if data.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{data['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]


class WorkerProcess:
    """A real `celery worker` in its own process group, consuming both queues unless told which."""

    def __init__(self, log_path: Path, env: dict[str, str], queues: str = "default,gpu") -> None:
        self.log_path = log_path
        self.env = env
        self.queues = queues
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300) -> WorkerProcess:  # a failure bound: a loaded machine starts slowly
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "medes_site",
                "worker",
                "-Q",
                self.queues,
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children): a crash, not a shutdown."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class WorkerFactory(Protocol):
    def __call__(self, extra_env: Mapping[str, str] | None = None, queues: str = "default,gpu") -> WorkerProcess: ...


@pytest.fixture
def worker_factory(transactional_db: None, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start real worker processes against the test database and the configured broker; ``extra_env`` adds
    variables to one worker's environment (and so to the processes it starts), e.g. a test hook."""
    started: list[WorkerProcess] = []
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDES_VAR_DIR": str(settings.VAR_DIR),
        "ARTIFACTS_ROOT": str(settings.ARTIFACTS_ROOT),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "MEDES_JOB_HEARTBEAT_SECONDS": "1",
        "MEDES_JOB_STALE_SECONDS": "3",
    }

    def start(extra_env: Mapping[str, str] | None = None, queues: str = "default,gpu") -> WorkerProcess:
        if not started:
            # Messages left in the broker by earlier tests (jobs whose rows are gone) would reach this worker.
            from medes_site.celery import app

            app.control.purge()
        worker = WorkerProcess(tmp_path / f"worker-{len(started)}.log", {**env, **(extra_env or {})}, queues).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(autouse=True)
def _files_in_tmp(settings: object, tmp_path: Path) -> None:
    settings.ARTIFACTS_ROOT = tmp_path / "artifacts"  # type: ignore[attr-defined]
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: object) -> None:
    # PBKDF2's deliberate slowness is a production feature; the tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _empty_caches() -> None:
    """Each test starts with empty caches: ids are reused after a rolled-back test, so a user or guideline
    cached by an earlier test must not be taken for a later test's (the shared cache is Redis when
    MEDES_CACHE_URL is set, as on CI)."""
    from annotation.guidelines import forget_all

    cache.clear()
    forget_all()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    # The test client's requests activate a language in this thread; each test starts from the default.
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, worker: WorkerProcess) -> None:
    """Poll ``predicate`` (an event: a row's state, a file, a log line) until it holds. ``timeout`` only bounds a
    failure: make it generous, a loaded two-core machine is slow, and a test never waits for a moment instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{worker.log()[-4000:]}")


def status_of(job: Any) -> str:
    from medes_site.models import Job

    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py ARGS`` in a fresh process with only ``env`` on top of a clean environment (settings checks)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- Chromium, through Playwright (Debian's /usr/bin/chromium; Playwright's own download is never used) ---

CHROMIUM = os.environ.get("MEDES_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole session, shared by the browser tests and the tests that print PDFs with it
    (Playwright's sync API cannot be started twice in one thread)."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("MEDES_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}; `apt-get install -y chromium`")
        pytest.skip(f"Chromium not found at {CHROMIUM}; `apt-get install -y chromium` to run browser tests")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread while the browser is open; the
    # ORM calls the tests make meanwhile are ordinary blocking calls, so Django's async guard is lifted
    # for exactly that time (subprocesses that must not inherit it strip it, see test_settings.py).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
