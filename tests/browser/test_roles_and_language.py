"""Each role signs in through the real login form, lands on its home page, and switches language; an
ML engineer starts a self-check that a real worker runs while the page polls it to the end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WorkerProcess
from tests.factories import Personas, sign_in

pytestmark = pytest.mark.browser

HOMES = {
    # persona: (username, home path, Chinese heading, English heading)
    "annotator": ("annotator", "/home/annotator/", "我的队列", "My queue"),
    "reviewer": ("reviewer", "/home/reviewer/", "审核", "Review"),
    "curator": ("curator", "/home/curator/", "内容策划", "Curation"),
    "ml_engineer": ("ml", "/home/ml_engineer/", "模型与运行", "Models and runs"),
    "admin": ("admin", "/home/curator/", "内容策划", "Curation"),
}


@pytest.mark.parametrize("persona", list(HOMES))
def test_each_role_signs_in_reaches_its_home_and_switches_language(
    persona: str, personas: Personas, live_server: Any, page: Any
) -> None:
    username, path, zh_heading, en_heading = HOMES[persona]
    sign_in(page, live_server.url, username)
    assert page.url == live_server.url + path
    assert page.inner_text("[data-testid=home-title]") == zh_heading
    assert page.get_attribute("html", "lang") == "zh-hans"

    with page.expect_navigation():
        page.click("button[data-language=en]")
    assert page.url == live_server.url + path  # the switch returns to the same page
    assert page.inner_text("[data-testid=home-title]") == en_heading
    assert page.get_attribute("html", "lang") == "en"
    page.click("[data-testid=whoami]")  # the user menu holds "Sign out"
    assert page.is_visible("text=Sign out")

    with page.expect_navigation():
        page.click("button[data-language=zh-hans]")
    assert page.inner_text("[data-testid=home-title]") == zh_heading

    page.click("[data-testid=whoami]")
    with page.expect_navigation():
        page.click("text=退出登录")
    assert "/accounts/login/" in page.url


def test_job_page_follows_a_real_worker_to_the_end(
    personas: Personas, live_server: Any, page: Any, worker_factory: Callable[[], WorkerProcess]
) -> None:
    worker_factory()
    sign_in(page, live_server.url, "ml")
    page.goto(live_server.url + "/jobs/")
    page.fill("#id_steps", "4")
    page.fill("#id_step_seconds", "0.3")
    page.click("#selfcheck button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    # htmx polls the status fragment every 2 s and stops once the job has finished.
    page.wait_for_selector("#job-status[data-status=succeeded]", timeout=60_000)
    assert page.inner_text("[data-testid=job-status]") == "已成功"
    assert "finished in" in page.inner_text("[data-testid=job-log]")
    assert page.get_attribute("#job-status", "hx-trigger") is None


def test_curator_uploads_a_law_and_sees_its_provisions(
    personas: Personas, live_server: Any, page: Any, worker_factory: Callable[[], WorkerProcess]
) -> None:
    worker_factory()
    law = Path(__file__).resolve().parents[2] / "benchmark" / "demo" / "laws" / "人体器官移植条例(2007-03-31).md"
    sign_in(page, live_server.url, "curator")
    page.click("[data-nav-group=corpus] summary")  # the corpus menu (templates/base.html)
    page.click("[data-nav=sources]")
    page.click("text=添加规范来源")
    page.set_input_files("#id_file", str(law))
    page.fill("#id_issuer", "国务院")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    # The page polls while the parse job runs on the worker, then reloads with the provisions.
    page.wait_for_selector("[data-testid=provisions]", timeout=60_000)
    assert page.inner_text("h1") == "人体器官移植条例"
    assert "5 章，32 条" in page.inner_text("[data-testid=provisions] h2")
    assert page.is_visible("#p32")


def test_curator_publishes_a_release_and_downloads_its_jsonl(personas: Personas, live_server: Any, page: Any) -> None:
    from benchmark.models import ScenarioStatus
    from benchmark.scenarios import create_scenario, resolve_scene
    from benchmark.taxonomy import ensure_taxonomy

    ensure_taxonomy()  # live_server's transactional tests flush the seeded rows
    for n in range(4):
        create_scenario(
            kind="objective",
            stem=f"第{n}题：哪项正确？",
            options={"A": "甲", "B": "乙"},
            key="A",
            scene=resolve_scene("器官移植"),
            origin="expert",
            status=ScenarioStatus.ACCEPTED,
        )
    sign_in(page, live_server.url, "curator")
    page.click("[data-nav-group=corpus] summary")  # the corpus menu (templates/base.html)
    page.click("[data-nav=releases]")
    page.fill("#id_name", "MedES-2026.11")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.inner_text("h1") == "MedES-2026.11"
    with page.expect_download() as download_info:
        page.click("[data-testid=download-jsonl]")
    download = download_info.value
    assert download.suggested_filename == "MedES-2026.11.jsonl"
    assert len(Path(download.path()).read_text(encoding="utf-8").splitlines()) == 4


def test_the_api_reference_and_the_admin_run_under_the_content_security_policy(
    personas: Personas, live_server: Any, page: Any
) -> None:
    """No inline script or style is allowed: a page that needed one would log a CSP violation (a console error,
    which fails the test through the page fixture)."""
    sign_in(page, live_server.url, "admin")
    docs = page.goto(live_server.url + "/api/docs/")
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    response = page.wait_for_selector(".swagger-ui .info .title")  # Swagger UI drew the schema: its scripts ran
    assert response is not None
    page.goto(live_server.url + "/admin/")
    page.wait_for_selector("#content")
