"""The web tier is stateless (issue 17, item 5): two gunicorn hosts of the app, on the same database, broker,
cache (MEDES_CACHE_URL, when the tests have one), MEDIA_ROOT and ARTIFACTS_ROOT, and with the same SECRET_KEY,
serve one site. A browser here is one cookie jar that sends each request to whichever host the test names, as
a proxy balancing several hosts would: signed in on one, it is signed in on the other; a CSRF token of one is
good on the other; a draft, an upload, a job's artifact and a new guideline written through one are read back
through the other; a role taken away is gone on both; failed sign-ins count on both; signing out on one ends the
session on both. The hosts run as production does (DEBUG off, collected static files), on ports the kernel picks.

The deploy check that names per-process state in the settings (medes_site.deployment) is tested without them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.contrib.auth.models import Group, User
from django.urls import reverse

from annotation.models import Draft
from benchmark.models import Source
from medes_site import deployment
from medes_site.jobs import execute_job
from medes_site.models import Job, JobStatus
from medes_site.roles import Role
from tests.conftest import ROOT, test_database_url
from tests.factories import PASSWORD, Personas
from tests.labeling_fixtures import build_campaign

pytestmark = pytest.mark.server  # starts real gunicorn processes

FAILURE_LIMIT = 3  # MEDES_LOGIN_FAILURE_LIMIT of both hosts
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
LAW = "# 测试条例\n\n## 第一章 总则\n\n第一条 为了测试，制定本条例。\n".encode()


# --- two hosts and a browser ---------------------------------------------------------------------------------


class Host:
    """One gunicorn of the app (one sync worker) in its own process group, on a port the kernel picked."""

    def __init__(self, name: str, log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> Host:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "medes_site.wsgi",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--log-level",
                "info",
                "--no-control-socket",  # else each host takes over ~/.gunicorn/gunicorn.ctl from the other
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 300) -> Host:  # a failure bound: a loaded two-core machine starts slowly
        """Until the master says which port it bound, then until /healthz answers 200 (the worker is up and the
        database answers)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"host {self.name} exited with {self.process.returncode}:\n{self.log()}")
            if not self.port and (found := LISTENING.search(self.log())):
                self.port = int(found.group(1))
            if self.port and self._healthy():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"host {self.name} not ready after {timeout}s:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            return requests.get(self.url("/healthz"), timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Browser:
    """One browser's cookies, sent with each request to whichever host is named. Sent by hand: with DEBUG off
    Django marks its cookies Secure, and these hosts speak plain HTTP on the loopback (behind a TLS proxy in
    production). A POST carries the CSRF cookie's token in X-CSRFToken, as base.html's hx-headers do."""

    def __init__(self, cookies: dict[str, str] | None = None) -> None:
        self.cookies = dict(cookies or {})

    def get(self, host: Host, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", host, path, **kwargs)

    def post(self, host: Host, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", host, path, **kwargs)

    def request(
        self,
        method: str,
        host: Host,
        path: str,
        *,
        htmx: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        sent = {"Accept-Language": "en", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if method == "POST" and "csrftoken" in self.cookies:
            sent.setdefault("X-CSRFToken", self.cookies["csrftoken"])
        if htmx:
            sent["HX-Request"] = "true"
        response = requests.request(method, host.url(path), headers=sent, allow_redirects=False, timeout=120, **kwargs)
        for header in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def login_token(self, host: Host) -> str:
        """The CSRF token of the sign-in form ``host`` serves (and the CSRF cookie with it)."""
        page = self.get(host, reverse("login"))
        assert page.status_code == 200, page.text[:2000]
        found = CSRF_FIELD.search(page.text)
        assert found is not None
        return found.group(1)

    def sign_in(self, form_from: Host, post_to: Host, username: str, password: str = PASSWORD) -> requests.Response:
        token = self.login_token(form_from)
        data = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        return self.post(post_to, reverse("login"), data=data, headers={"X-CSRFToken": token})


@dataclass(frozen=True)
class Site:
    a: Host
    b: Host
    media: Path
    artifacts: Path


@pytest.fixture(scope="module")
def two_hosts(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Host A and host B: one test database (the SQLite file, or PostgreSQL's), one broker and one cache (Redis
    when the tests use it), one MEDES_VAR_DIR, MEDIA_ROOT and ARTIFACTS_ROOT, one SECRET_KEY, and the same
    collected static files (a deployment ships one build to every host); nothing else in common."""
    shared = tmp_path_factory.mktemp("shared")
    logs = tmp_path_factory.mktemp("hosts")
    env = {
        **{name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "MEDES_CACHE_URL": django_settings.MEDES_CACHE_URL,  # this process's cache too: its changes forget entries
        "MEDES_VAR_DIR": str(django_settings.VAR_DIR),
        "MEDIA_ROOT": str(shared / "media"),
        "ARTIFACTS_ROOT": str(shared / "artifacts"),
        "STATIC_ROOT": str(tmp_path_factory.mktemp("static")),
        "MEDES_LOGIN_FAILURE_LIMIT": str(FAILURE_LIMIT),
    }
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    hosts = [Host(name, logs / f"{name}.log", env) for name in ("a", "b")]
    try:
        for host in hosts:
            host.start()  # both boot at once
        for host in hosts:
            host.wait_ready()
        yield Site(hosts[0], hosts[1], shared / "media", shared / "artifacts")
    finally:
        for host in hosts:
            host.stop()


@pytest.fixture
def site(transactional_db: None, two_hosts: Site) -> Site:
    """The hosts, with this test's rows committed where they read them (and flushed after it)."""
    return two_hosts


def may_sign_in(*users: User) -> None:
    """The hosts hash passwords as production does; this process's test hasher (MD5) is not one they read."""
    hashed = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    for user in users:
        user.password = hashed
        user.save(update_fields=["password"])  # a save, so a host's cached copy of the user is forgotten


def signed_in(username: str, form_from: Host, post_to: Host) -> Browser:
    browser = Browser()
    response = browser.sign_in(form_from, post_to, username)
    assert response.status_code == 302, f"{username} could not sign in: {response.status_code}"
    return browser


# --- sessions and CSRF -----------------------------------------------------------------------------------------


def test_signed_in_on_one_host_is_signed_in_on_the_other_and_signing_out_ends_it_on_both(
    site: Site, personas: Personas
) -> None:
    may_sign_in(personas.annotator)
    browser = signed_in("annotator", form_from=site.a, post_to=site.a)
    home = browser.get(site.b, reverse("home"))
    assert home.headers["Location"] == reverse("role_home", args=["annotator"])
    page = browser.get(site.b, home.headers["Location"])
    assert page.status_code == 200 and 'data-nav="home-annotator"' in page.text
    cookies_before_sign_out = dict(browser.cookies)
    assert browser.post(site.b, reverse("logout")).status_code == 302
    # the old session cookie, replayed on the other host (a stolen or cached cookie), is signed in nowhere
    replayed = Browser(cookies_before_sign_out)
    for host in (site.a, site.b):
        response = replayed.get(host, reverse("home"))
        assert response.status_code == 302 and response.headers["Location"].startswith(reverse("login"))


def test_a_csrf_token_from_one_host_is_good_on_the_other_and_a_forged_one_on_neither(
    site: Site, personas: Personas
) -> None:
    may_sign_in(personas.reviewer)
    browser = Browser()
    token_from_a = browser.login_token(site.a)
    data = {"username": "reviewer", "password": PASSWORD, "csrfmiddlewaretoken": token_from_a}
    assert browser.post(site.b, reverse("login"), data=data).status_code == 302
    # a hostile page's forged token, and a real token sent with another browser's cookie, are refused by both
    for host in (site.a, site.b):
        stranger = Browser()
        stranger.login_token(host)
        forged = {**data, "csrfmiddlewaretoken": "x" * 64}
        assert stranger.post(host, reverse("login"), data=forged, headers={"X-CSRFToken": "x" * 64}).status_code == 403
        stolen = {**data, "csrfmiddlewaretoken": token_from_a}
        assert (
            stranger.post(host, reverse("login"), data=stolen, headers={"X-CSRFToken": token_from_a}).status_code == 403
        )


# --- data and files --------------------------------------------------------------------------------------------


def test_a_draft_saved_through_one_host_is_read_back_through_the_other_and_by_no_one_else(
    site: Site, personas: Personas
) -> None:
    campaign = build_campaign([personas.annotator, personas.annotator2], personas.reviewer)
    may_sign_in(personas.annotator, personas.annotator2)
    browser = signed_in("annotator", form_from=site.b, post_to=site.a)
    reserved = browser.post(site.b, reverse("annotation:next", args=[campaign.pk]))
    assert reserved.status_code == 302, reserved.text[:2000]
    item_path = reserved.headers["Location"]
    item_pk = int(item_path.rstrip("/").rsplit("/", 1)[1])
    assert item_path == reverse("annotation:item", args=[item_pk])
    draft = reverse("annotation:draft", args=[item_pk])
    saved = browser.post(site.a, draft, data={"s-R1": "-1", "rationale": "甲主机上写的草稿"}, htmx=True)
    assert saved.status_code == 200 and 'data-state="saved"' in saved.text
    assert "甲主机上写的草稿" in browser.get(site.b, item_path).text
    # and the other way round: host A shows what B saved, not something it kept from its own earlier request
    again = browser.post(site.b, draft, data={"s-R1": "0", "rationale": "乙主机上改过的草稿"}, htmx=True)
    assert again.status_code == 200
    page = browser.get(site.a, item_path).text
    assert "乙主机上改过的草稿" in page and "甲主机上写的草稿" not in page
    assert Draft.objects.get().data["rationale"] == "乙主机上改过的草稿"
    other = signed_in("annotator2", form_from=site.a, post_to=site.b)
    for host in (site.a, site.b):
        assert other.get(host, item_path).status_code == 404


def test_a_source_uploaded_through_one_host_downloads_through_the_other(site: Site, personas: Personas) -> None:
    may_sign_in(personas.curator)
    browser = signed_in("curator", form_from=site.b, post_to=site.b)
    added = browser.post(
        site.a,
        reverse("benchmark:source_add"),
        data={"kind": "law", "title": "共享文件夹测试条例"},
        files={"file": ("shared.md", LAW)},
    )
    assert added.status_code == 302, added.text[:2000]
    source = Source.objects.get()
    assert added.headers["Location"] == reverse("benchmark:source", args=[source.pk])
    assert (site.media / source.file.name).read_bytes() == LAW  # in the shared folder, not a host's own
    # the message A set (a cookie signed with SECRET_KEY, or the session) is shown by B
    page = browser.get(site.b, added.headers["Location"])
    assert page.status_code == 200 and "It is being parsed" in page.text
    download = browser.get(site.b, reverse("benchmark:source_download", args=[source.pk]))
    assert download.status_code == 200 and download.content == LAW
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_a_job_artifact_written_by_a_worker_downloads_through_either_host(
    site: Site, personas: Personas, settings: Any
) -> None:
    may_sign_in(personas.ml_engineer)
    browser = signed_in("ml", form_from=site.a, post_to=site.b)
    started = browser.post(
        site.a, reverse("jobs:start_selfcheck"), data={"queue": "default", "steps": "1", "step_seconds": "0"}
    )
    assert started.status_code == 302, started.text[:2000]
    job = Job.objects.get()
    assert started.headers["Location"] == reverse("jobs:detail", args=[job.pk])
    settings.ARTIFACTS_ROOT = site.artifacts  # this process is the worker host here, on the shared folder
    assert execute_job(job.pk) == JobStatus.SUCCEEDED
    artifact = reverse("jobs:artifact", args=[job.pk, 0])
    assert artifact in browser.get(site.b, started.headers["Location"]).text
    for host in (site.b, site.a):
        download = browser.get(host, artifact)
        assert download.status_code == 200
        assert json.loads(download.content) == {"steps": 1, "attempt": 1}


def test_a_new_guideline_saved_through_one_host_is_what_the_other_shows_next(site: Site, personas: Personas) -> None:
    """Each process keeps the guideline rows it has shown (annotation.guidelines); which one is current is read
    from the database on every request, so a host that showed the old version shows the new one at once."""
    campaign = build_campaign([personas.annotator], personas.reviewer)
    may_sign_in(personas.annotator, personas.reviewer)
    annotator = signed_in("annotator", form_from=site.a, post_to=site.a)
    item_path = annotator.post(site.a, reverse("annotation:next", args=[campaign.pk])).headers["Location"]
    for host in (site.a, site.b):
        page = annotator.get(host, item_path)
        assert page.status_code == 200 and "标注指南" in page.text and "第二版指南" not in page.text
    reviewer = signed_in("reviewer", form_from=site.b, post_to=site.b)
    saved = reviewer.post(
        site.a,
        reverse("annotation:campaign_guideline", args=[campaign.pk]),
        data={"text": "# 第二版指南\n\n新的说明。"},
    )
    assert saved.status_code == 302, saved.text[:2000]
    for host in (site.b, site.a):
        page = annotator.get(host, item_path)
        assert "第二版指南" in page.text and "标注指南" not in page.text


def test_a_role_taken_away_is_gone_on_every_host_at_the_next_request(site: Site, personas: Personas) -> None:
    """With MEDES_CACHE_URL the hosts keep the signed-in user, roles included, in the shared cache
    (medes_site.usercache): an administrator's change, made on a third machine (this process), reaches both."""
    may_sign_in(personas.annotator)
    browser = signed_in("annotator", form_from=site.a, post_to=site.b)
    home = reverse("role_home", args=["annotator"])
    for host in (site.a, site.b):  # each host has read (and perhaps cached) the user with the role
        assert browser.get(host, home).status_code == 200
    personas.annotator.groups.remove(Group.objects.get(name=Role.ANNOTATOR.value))
    for host in (site.a, site.b):
        assert browser.get(host, home).status_code == 403


# --- the login failure limit -------------------------------------------------------------------------------------


def test_failed_sign_ins_count_across_hosts_and_the_lockout_holds_on_both(site: Site, personas: Personas) -> None:
    may_sign_in(personas.curator, personas.reviewer)
    browser = Browser()
    hosts = [site.a] * (FAILURE_LIMIT - 1) + [site.b]  # under the limit on each host alone, at it on both together
    statuses = [browser.sign_in(host, host, "curator", "wrong-password").status_code for host in hosts]
    assert statuses == [200] * (FAILURE_LIMIT - 1) + [429]
    for host in (site.a, site.b):  # even with the right password, on either host
        locked = browser.sign_in(host, host, "curator")
        assert locked.status_code == 429 and "sessionid" not in browser.cookies
    # another account from the same address is not locked out, on either host
    assert signed_in("reviewer", form_from=site.a, post_to=site.b).cookies["sessionid"]


# --- the deploy check (no processes started) -------------------------------------------------------------------

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://cache:6379/1"}}


@pytest.mark.parametrize(
    ("config", "ids"),
    [
        ({}, []),  # Django's defaults: a per-process cache nothing shared is kept in, sessions in the database
        (
            {
                "CACHES": REDIS,
                "SESSION_ENGINE": "django.contrib.sessions.backends.cached_db",
                "MEDES_CACHE_USERS": True,
            },
            [],
        ),
        ({"CACHES": LOCMEM, "SESSION_ENGINE": "django.contrib.sessions.backends.cached_db"}, ["medes.W011"]),
        (
            {
                "CACHES": {**REDIS, "local": LOCMEM["default"]},
                "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
                "SESSION_CACHE_ALIAS": "local",
            },
            ["medes.W011"],
        ),
        ({"CACHES": REDIS, "SESSION_ENGINE": "django.contrib.sessions.backends.file"}, ["medes.W012"]),
        ({"AXES_HANDLER": "axes.handlers.cache.AxesCacheHandler"}, ["medes.W013"]),
        ({"CACHES": REDIS, "AXES_HANDLER": "axes.handlers.cache.AxesCacheHandler"}, []),
        ({"CACHES": LOCMEM, "MEDES_CACHE_USERS": True}, ["medes.W014"]),
    ],
)
def test_the_deploy_check_names_what_one_process_would_keep_from_the_others(
    config: dict[str, Any], ids: list[str]
) -> None:
    assert [problem.id for problem in deployment.shared_state_problems(config)] == ids


def test_the_settings_leave_nothing_to_one_process() -> None:
    """With MEDES_CACHE_URL (Redis) or without it (nothing shared cached), whichever these tests run with."""
    assert deployment.check_shared_state() == []
