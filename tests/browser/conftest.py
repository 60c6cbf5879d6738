"""Playwright driving Debian's Chromium (/usr/bin/chromium); Playwright's own browser download is never used."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("MEDES_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
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


class ConsoleWatch:
    """Collects console errors and uncaught page errors; a test fails if any appear."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    # Each action waits for its condition (an element, a navigation); the timeout only bounds a failure, and a
    # loaded machine (the CI runner shares two cores) can take seconds to render a page.
    page.set_default_timeout(60_000)
    watch = ConsoleWatch(page)
    page.console_watch = watch
    yield page
    context.close()
    assert watch.errors == [], f"console errors: {watch.errors}"
