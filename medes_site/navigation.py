"""The header's navigation as one table: work areas (corpus, labeling, review, guardian, alignment, system), each
a menu of pages, every page with the rule that says who sees it. ``menu_for`` keeps what a user's roles allow;
the context processor hands the result to base.html, which only draws it. The rules mirror the views' role
decorators, so a link is never shown to someone the page would refuse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from medes_site import jobs
from medes_site.roles import Role, has_role, user_roles

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser

Rule = Callable[["AnyUser"], bool]

JOB_ROLES = (Role.CURATOR, Role.REVIEWER, Role.ML_ENGINEER)


def roles(*allowed: Role) -> Rule:
    """Seen by users holding one of ``allowed``."""
    return lambda user: has_role(user, *allowed)


def any_role(user: AnyUser) -> bool:
    return bool(user_roles(user))


def staff(user: AnyUser) -> bool:
    return bool(getattr(user, "is_staff", False))


def may_start_selfcheck(user: AnyUser) -> bool:
    """The jobs page offers the worker self-check to whoever may start that job kind."""
    kind = jobs.REGISTRY.get("system.selfcheck")
    return kind is not None and jobs.may_start(user, kind)


@dataclass(frozen=True)
class Entry:
    key: str  # the link's data-nav attribute, stable for tests
    label: str | Promise
    url_name: str
    rule: Rule
    fragment: str = ""  # "#section" on the page, for an entry that points into another entry's page


@dataclass(frozen=True)
class Group:
    key: str
    label: str | Promise
    entries: tuple[Entry, ...]


MENU: tuple[Group, ...] = (
    Group(
        "corpus",
        pgettext_lazy("navigation", "Corpus"),
        (
            Entry("sources", _("Sources"), "benchmark:sources", roles(Role.CURATOR, Role.REVIEWER)),
            Entry("scenarios", _("Scenarios"), "benchmark:scenarios", roles(Role.CURATOR, Role.REVIEWER)),
            Entry("releases", _("Releases"), "benchmark:releases", roles(Role.CURATOR, Role.REVIEWER)),
            Entry("models", _("Models"), "benchmark:models", roles(Role.CURATOR, Role.ML_ENGINEER)),
            Entry("imports", _("Imports"), "benchmark:imports", roles(Role.CURATOR)),
        ),
    ),
    Group(
        "labeling",
        pgettext_lazy("navigation", "Labeling"),
        (
            Entry("labeling", _("My campaigns"), "annotation:campaigns", roles(Role.ANNOTATOR)),
            Entry("my-labels", _("My labels"), "annotation:history", roles(Role.ANNOTATOR)),
        ),
    ),
    Group(
        "review",
        pgettext_lazy("navigation", "Review"),
        (
            Entry("campaigns", _("Campaigns"), "annotation:campaign_list", roles(*JOB_ROLES)),
            Entry(
                "guardian-review", _("Guardian review queue"), "alignment:guardian_review_next", roles(Role.REVIEWER)
            ),
        ),
    ),
    Group(
        "guardian",
        pgettext_lazy("navigation", "Guardian"),
        (Entry("guardian", _("Guardian"), "alignment:guardian", roles(*JOB_ROLES)),),
    ),
    Group(
        "alignment",
        pgettext_lazy("navigation", "Alignment"),
        (
            Entry("aligndata", _("Alignment data"), "alignment:data", roles(*JOB_ROLES)),
            Entry("pipelines", _("Alignment pipelines"), "alignment:pipelines", roles(*JOB_ROLES)),
            Entry("leaderboard", _("Leaderboards"), "alignment:leaderboards", any_role),
        ),
    ),
    Group(
        "system",
        pgettext_lazy("navigation", "System"),
        (
            Entry("jobs", _("Jobs"), "jobs:list", roles(*JOB_ROLES)),
            Entry("selfcheck", _("Worker self-check"), "jobs:list", may_start_selfcheck, fragment="#selfcheck"),
            Entry("api-tokens", _("API tokens"), "api_tokens", any_role),
            Entry("admin", _("Admin"), "admin:index", staff),
        ),
    ),
)


def _current(path: str, urls: list[str]) -> str | None:
    """The longest page URL that ``path`` lies under: a campaign's page marks "Campaigns" as current."""
    under = [url for url in urls if path == url or (url.endswith("/") and path.startswith(url))]
    return max(under, key=len, default=None)


def menu_for(user: AnyUser, path: str) -> list[dict[str, Any]]:
    """The groups ``user`` sees, each with the entries its roles allow; empty groups are left out. A group of
    one entry is drawn as a plain link (``single``), so nobody opens a menu to find one page."""
    groups: list[dict[str, Any]] = []
    for group in MENU:
        entries = [
            {"key": e.key, "label": e.label, "url": reverse(e.url_name), "fragment": e.fragment}
            for e in group.entries
            if e.rule(user)
        ]
        if entries:
            groups.append({"key": group.key, "label": group.label, "entries": entries, "single": len(entries) == 1})
    current = _current(path, [entry["url"] for shown in groups for entry in shown["entries"]])
    for shown in groups:
        for entry in shown["entries"]:
            # the entry without a fragment is the current page ("Worker self-check" is a section of "Jobs")
            entry["current"] = current is not None and entry["url"] == current and not entry["fragment"]
        shown["current"] = any(entry["current"] for entry in shown["entries"])
    return groups


def desks_for(user: AnyUser) -> list[dict[str, Any]]:
    """One home page per role the user holds (the user menu lists them)."""
    return [
        {"key": f"home-{role.value}", "label": role.label, "url": reverse("role_home", args=[role.value])}
        for role in Role
        if role in user_roles(user)
    ]
