"""Playwright driving Debian's Chromium (/usr/bin/chromium); Playwright's own browser download is never used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


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
