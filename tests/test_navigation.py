"""The header's menus (medes_site/navigation.py) without a browser: each role gets exactly its entries, every
entry opens for that role (a link is never shown to someone the page refuses), and the current page is marked.
tests/browser/test_navigation.py checks the same menus fit and open in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import RequestFactory
from django.urls import reverse

from medes_site.accounts import create_user
from medes_site.context_processors import navigation
from medes_site.navigation import desks_for, menu_for
from medes_site.roles import Role
from tests.browser.test_navigation import DESKS, EXPECTED
from tests.factories import PASSWORD, Personas


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


def keys(groups: list[dict[str, Any]]) -> set[str]:
    return {entry["key"] for group in groups for entry in group["entries"]}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_gets_its_entries_and_every_one_opens(role: str, users: dict[str, User], client_as: Any) -> None:
    user = users[role]
    groups = menu_for(user, "/")
    assert keys(groups) == EXPECTED[role]
    assert {desk["key"] for desk in desks_for(user)} == DESKS[role]
    assert all(group["entries"] for group in groups)  # no empty menu
    client = client_as(user)
    for group in groups:
        assert group["single"] == (len(group["entries"]) == 1)
        for entry in group["entries"]:
            assert client.get(entry["url"]).status_code == 200, f"{role}: {entry['key']} is refused"


def test_the_current_page_and_its_area_are_marked(personas: Personas) -> None:
    campaigns = reverse("annotation:campaign_list")
    groups = {group["key"]: group for group in menu_for(personas.admin, campaigns + "7/agreement/")}
    assert groups["review"]["current"] and not groups["corpus"]["current"]
    assert [e["key"] for e in groups["review"]["entries"] if e["current"]] == ["campaigns"]
    jobs = {group["key"]: group for group in menu_for(personas.admin, reverse("jobs:list"))}["system"]
    # the self-check is a section of the jobs page: only "Jobs" is the current page
    assert [e["key"] for e in jobs["entries"] if e["current"]] == ["jobs"]
    assert not any(group["current"] for group in menu_for(personas.admin, "/"))


def test_a_visitor_and_a_user_without_a_role_get_no_menus(personas: Personas) -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert navigation(request)["nav_groups"] == []
    request.user = personas.outsider
    context = navigation(request)
    assert context["nav_groups"] == [] and context["nav_desks"] == []
