"""The header fits: for every role (and a user with two roles) in both languages at 1280×800, the home page does
not scroll sideways, every top-level item sits on one line, the header is one line high, and every page the
role may use is reachable from its menu, and nothing more is shown. Menus open by keyboard and without
JavaScript; below ~900 px the navigation folds behind a "Menu" button."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from medes_site.accounts import create_user
from medes_site.roles import Role
from tests.factories import PASSWORD, Personas

pytestmark = pytest.mark.browser

CORPUS = {"sources", "scenarios", "releases"}
GUARDIAN_AND_ALIGNMENT = {"campaigns", "guardian", "aligndata", "pipelines", "leaderboard", "jobs", "api-tokens"}
# what each role's menus offer (data-nav keys), written out rather than derived from medes_site/navigation.py
EXPECTED = {
    "annotator": {"labeling", "my-labels", "leaderboard", "api-tokens"},
    "curator": CORPUS | {"models", "imports"} | GUARDIAN_AND_ALIGNMENT,
    "reviewer": CORPUS | {"guardian-review"} | GUARDIAN_AND_ALIGNMENT,
    "ml_engineer": {"models", "selfcheck"} | GUARDIAN_AND_ALIGNMENT,
    "administrator": CORPUS
    | {"models", "imports", "labeling", "my-labels", "guardian-review", "selfcheck", "admin"}
    | GUARDIAN_AND_ALIGNMENT,
    "annotator_and_ml": {"labeling", "my-labels", "models", "selfcheck"} | GUARDIAN_AND_ALIGNMENT,
}
DESKS = {
    "annotator": {"home-annotator"},
    "curator": {"home-curator"},
    "reviewer": {"home-reviewer"},
    "ml_engineer": {"home-ml_engineer"},
    "administrator": {f"home-{role.value}" for role in Role},
    "annotator_and_ml": {"home-annotator", "home-ml_engineer"},
}

# one script measures the header: the page's width, each top-level item's height against its line height
MEASURE = """() => {
  const box = (el) => el.getBoundingClientRect();
  const header = document.querySelector('.topbar');
  const hs = getComputedStyle(header);
  const tops = [...document.querySelectorAll('.topbar .nav-top')].filter((el) => box(el).width > 0).map((el) => {
    const s = getComputedStyle(el);
    return {text: el.textContent.trim(), height: box(el).height, top: box(el).top,
            line: parseFloat(s.lineHeight) + parseFloat(s.paddingTop) + parseFloat(s.paddingBottom)};
  });
  const nav = document.querySelector('.main-nav');
  const items = [...header.children].filter((el) => box(el).width > 0);
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    headerHeight: box(header).height,
    headerInner: parseFloat(hs.paddingTop) + parseFloat(hs.paddingBottom) + parseFloat(hs.borderTopWidth)
                 + parseFloat(hs.borderBottomWidth) + Math.max(...items.map((el) => box(el).height)),
    rowTops: items.map((el) => box(el).top + box(el).height / 2),
    navOverflow: nav ? nav.scrollWidth - nav.clientWidth : 0,
    navRight: nav ? Math.max(...[...nav.querySelectorAll('.nav-top')].map((el) => box(el).right)) : 0,
    endLeft: box(document.querySelector('.topbar-end')).left,
    tops,
  };
}"""


@pytest.fixture
def users(personas: Personas) -> dict[str, User]:
    both = create_user("annotator_ml", roles=[Role.ANNOTATOR, Role.ML_ENGINEER], password=PASSWORD)
    return {
        "annotator": personas.annotator,
        "curator": personas.curator,
        "reviewer": personas.reviewer,
        "ml_engineer": personas.ml_engineer,
        "administrator": personas.admin,
        "annotator_and_ml": both,
    }


@pytest.fixture
def open_page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh context per call (signed in by session cookie, language by cookie); console errors fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(user: User, language: str, width: int = 1280, javascript: bool = True) -> Any:
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=javascript)
        contexts.append(context)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        cookies = ((settings.SESSION_COOKIE_NAME, session), (settings.LANGUAGE_COOKIE_NAME, language))
        context.add_cookies([{"name": name, "value": value, "url": live_server.url} for name, value in cookies])
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("console", lambda message: errors.extend([message.text] if message.type == "error" else []))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(live_server.url + "/")
        page.wait_for_selector("[data-testid=topbar]")
        assert page.get_attribute("html", "lang") == language
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == [], f"console errors: {errors}"


def check_fits(page: Any, case: str) -> None:
    m = page.evaluate(MEASURE)
    assert m["scrollWidth"] <= m["innerWidth"], f"{case}: the page scrolls sideways ({m['scrollWidth']} px)"
    for top in m["tops"]:
        assert top["height"] <= top["line"] + 1, f"{case}: {top['text']!r} wraps ({top['height']} px)"
    assert len({round(t["top"]) for t in m["tops"]}) == 1, f"{case}: the top-level items sit on several rows"
    assert max(m["rowTops"]) - min(m["rowTops"]) <= 4, f"{case}: the header's parts sit on several rows"
    assert m["headerHeight"] <= m["headerInner"] + 1, f"{case}: the header is {m['headerHeight']} px high"
    assert m["navOverflow"] <= 0, f"{case}: the navigation overflows its place"
    assert m["navRight"] <= m["endLeft"], f"{case}: the navigation runs under the language switch"


def check_reachable(page: Any, case: str) -> set[str]:
    """Open each menu in turn and see every link in it; returns the data-nav keys found."""
    seen: set[str] = set()
    for group in page.query_selector_all(".topbar [data-nav-group]"):
        summary = group.query_selector("summary")
        links = group.query_selector_all("a[data-nav]")
        if summary is not None:
            assert not links[0].is_visible(), f"{case}: a menu is open before it is clicked"
            summary.click()
        for link in links:
            assert link.is_visible(), f"{case}: {link.get_attribute('data-nav')} is not visible in its menu"
            link_box = link.bounding_box()
            assert link_box["x"] >= 0 and link_box["x"] + link_box["width"] <= 1280, f"{case}: a menu leaves the page"
            seen.add(link.get_attribute("data-nav"))
        if summary is not None:
            page.keyboard.press("Escape")  # static/js/nav.js closes the open menu
            assert not links[0].is_visible(), f"{case}: Escape left the menu open"
    return seen


@pytest.mark.parametrize("role", list(EXPECTED))
def test_the_header_fits_on_one_line_and_offers_what_the_role_may_use(
    role: str, users: dict[str, User], open_page: Any
) -> None:
    for language in ("zh-hans", "en"):
        case = f"{role}/{language}"
        page = open_page(users[role], language)
        check_fits(page, case)
        seen = check_reachable(page, case)
        assert seen == EXPECTED[role] | DESKS[role], f"{case}: menus offer {sorted(seen)}"
        assert page.is_visible("[data-testid=sign-out]") is False
        page.click("[data-testid=whoami]")
        assert page.is_visible("[data-testid=sign-out]")


def test_menus_open_by_keyboard_and_the_current_area_is_marked(users: dict[str, User], open_page: Any) -> None:
    page = open_page(users["curator"], "en")
    page.focus("[data-nav-group=corpus] summary")
    page.keyboard.press("Enter")
    assert page.is_visible("[data-nav=releases]")
    page.keyboard.press("Tab")  # into the open menu: its first link
    assert page.evaluate("document.activeElement.dataset.nav") == "sources"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_attribute("[data-nav=sources]", "aria-current") == "page"
    assert "current" in (page.get_attribute("[data-nav-group=corpus]", "class") or "")
    page.keyboard.press("Escape")  # nothing open: nothing happens, no error


def test_menus_work_without_javascript(users: dict[str, User], open_page: Any) -> None:
    page = open_page(users["administrator"], "zh-hans", javascript=False)
    check_fits(page, "administrator/no JS")
    page.click("[data-nav-group=system] summary")
    assert page.is_visible("[data-nav=admin]")
    with page.expect_navigation():
        page.click("[data-nav=jobs]")
    assert page.url.endswith("/jobs/")


@pytest.mark.parametrize("width", [800, 375])
def test_narrow_screens_fold_the_menus_behind_a_button(width: int, users: dict[str, User], open_page: Any) -> None:
    page = open_page(users["administrator"], "en", width=width)
    assert not page.is_visible("[data-nav-group=corpus]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("[data-testid=nav-toggle]")
    assert page.get_attribute("[data-testid=nav-toggle]", "aria-expanded") == "true"
    page.click("[data-nav-group=alignment] summary")
    assert page.is_visible("[data-nav=pipelines]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("[data-testid=nav-toggle]")
    assert not page.is_visible("[data-nav-group=corpus]")
