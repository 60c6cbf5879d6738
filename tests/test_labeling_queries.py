"""The labeling loop's SQL statements, branch by branch: next (a new reservation, a held one) and submit (a first
label, the third label that settles an item by agreement or sends it to adjudication, an edit, a gold check).

Counted as the ``Server-Timing`` header counts them: statements sent to the database, not transaction control
(BEGIN, COMMIT, savepoints). Each budget is exact, so a change that adds a statement to the hot path fails here
and has to say why; each is the same for an annotator with one earlier label and one with twenty (nothing grows
with the data). Two set-ups: the zero-set-up default, where the session, the user and their roles are three
reads of the database, and a shared cache (``MEDES_CACHE_URL``: Redis, as a deployment of several web processes
has), where they are none.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotation.assignments import next_assignment
from annotation.models import AcceptedLabel, Assignment, Campaign, Item, ItemState, Label
from annotation.services import Submission, mark_gold, submit_label
from medes_site.accounts import create_user
from medes_site.roles import Role
from tests.labeling_fixtures import RISKY, SAFE, build_campaign
from tests.test_labeling import HTMX, PASSWORD, post_data

# the statements of each branch past the session and the user (see each test for what they are)
BUDGET = {
    # membership (+ held reservation, guideline), candidates, lock (+ screen item), places, insert, items left
    "next-new": 6,
    "next-held": 4,  # membership (+ held reservation, guideline), screen item, draft, items left
    "submit-first": 5,  # place (access check, draft?, guideline, key used?), claim, label, history, count
    "submit-disputed": 7,  # … + the item's labels, state disputed
    "submit-agreed": 9,  # … + the item's labels, accepted label, its sources, state agreed
    "submit-edit": 10,  # place, lock, key used?, label (locked), label + history + provisions + audit, draft
    "submit-gold": 5,  # place, claim, label, history, the annotator's gold labels
}
AUTH_READS = {"database": 3, "shared cache": 0}  # session, user, roles
TRANSACTION = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b", re.IGNORECASE)


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=sorted(AUTH_READS))
def setup_kind(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    if request.param == "shared cache":
        if not _redis_reachable():
            if os.environ.get("CI"):
                pytest.fail("CI needs Redis on 127.0.0.1:6379")
            pytest.skip("no Redis on 127.0.0.1:6379")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:6379/11",
                "KEY_PREFIX": f"medes-test-{uuid.uuid4().hex}",
            }
        }
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
        settings.MEDES_CACHE_USERS = True
    else:  # whatever MEDES_CACHE_URL says (CI sets it)
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
        settings.MEDES_CACHE_USERS = False
    yield request.param


def statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if not TRANSACTION.match(q["sql"])]


def annotators(n: int) -> list[User]:
    return [create_user(f"q{n}-{i}", roles=[Role.ANNOTATOR], password=PASSWORD) for i in range(n)]


def label_some(campaign: Campaign, user: User, n: int) -> None:
    for i in range(n):
        assignment = next_assignment(campaign, user)
        assert assignment is not None
        submit_label(assignment.item, user, Submission(SAFE, idempotency_key=f"earlier-{user.pk}-{i}"))


def warm(client: Client, campaign: Campaign) -> None:
    """A first request fills what is kept between requests (the session and user in the cache, the guideline)."""
    assert client.get(reverse("annotation:queue", args=[campaign.pk])).status_code == 200


def measure(setup_kind: str, act: Callable[[User, Client], Any], users: list[User], campaign: Campaign) -> list[int]:
    counts = []
    for user in users:
        client = Client()
        client.force_login(user)
        warm(client, campaign)
        prepared = act(user, client)  # the set-up part returns the request to time
        with CaptureQueriesContext(connection) as queries:
            prepared()
        sql = statements(queries)
        if setup_kind == "database":
            assert "django_session" in sql[0] and "auth_user" in sql[1] and "auth_group" in sql[2], sql[:3]
        else:
            assert not any("django_session" in s or '"auth_user"' in s for s in sql), sql
        counts.append(len(sql) - AUTH_READS[setup_kind])
    return counts


def submit(client: Client, item: Item, scores: dict[str, int], **extra: Any) -> Callable[[], None]:
    def send() -> None:
        data = post_data(item, scores, key=uuid.uuid4().hex, **extra)
        response = client.post(reverse("annotation:submit", args=[item.pk]), data, **HTMX)
        assert response.status_code == 204, response.content[:500]

    return send


@pytest.fixture
def two_histories(db: None) -> tuple[Campaign, list[User]]:
    """A campaign (k = 3) and two annotators, one with one earlier label and one with twenty."""
    few, many = annotators(2)
    campaign = build_campaign([few, many], scenarios=24, overlap=3)
    label_some(campaign, few, 1)
    label_some(campaign, many, 20)
    return campaign, [few, many]


@pytest.mark.parametrize("held", [False, True], ids=["next-new", "next-held"])
def test_next(setup_kind: str, two_histories: tuple[Campaign, list[User]], held: bool) -> None:
    campaign, users = two_histories

    def act(user: User, client: Client) -> Callable[[], None]:
        if held:
            assert next_assignment(campaign, user) is not None

        def ask() -> None:
            response = client.post(reverse("annotation:next", args=[campaign.pk]), **HTMX)
            assert response.status_code == 200 and 'name="idempotency_key"' in response.text

        return ask

    counts = measure(setup_kind, act, users, campaign)
    assert counts == [BUDGET["next-held" if held else "next-new"]] * 2


def test_submit_a_first_label(setup_kind: str, two_histories: tuple[Campaign, list[User]]) -> None:
    campaign, users = two_histories

    def act(user: User, client: Client) -> Callable[[], None]:
        assignment = next_assignment(campaign, user)
        assert assignment is not None
        return submit(client, assignment.item, SAFE)

    assert measure(setup_kind, act, users, campaign) == [BUDGET["submit-first"]] * 2


@pytest.mark.parametrize("third", ["agreed", "disputed"])
def test_submit_the_third_label(setup_kind: str, db: None, third: str) -> None:
    first, second, *last = annotators(4)
    campaign = build_campaign([first, second, *last], scenarios=12, overlap=3)
    label_some(campaign, last[0], 5)  # a history for one of the two measured

    def act(user: User, client: Client) -> Callable[[], None]:
        item = Item.objects.filter(campaign=campaign, submitted=0).order_by("pk").first()
        assert item is not None
        for other in (user, first, second):
            Assignment.objects.create(item=item, user=other, expires_at=timezone.now() + timedelta(hours=1))
        for other in (first, second):
            submit_label(item, other, Submission(SAFE, idempotency_key=f"{other.pk}-{item.pk}"))
        return submit(client, item, SAFE if third == "agreed" else RISKY)

    assert measure(setup_kind, act, last, campaign) == [BUDGET[f"submit-{third}"]] * 2
    states = set(Item.objects.filter(labels__annotator=first).values_list("state", flat=True))  # the measured items
    assert states == {ItemState.AGREED if third == "agreed" else ItemState.DISPUTED}


def test_submit_an_edit(setup_kind: str, two_histories: tuple[Campaign, list[User]]) -> None:
    campaign, users = two_histories

    def act(user: User, client: Client) -> Callable[[], None]:
        assignment = next_assignment(campaign, user)
        assert assignment is not None
        submit_label(assignment.item, user, Submission(SAFE, idempotency_key=f"before-edit-{user.pk}"))

        def edit() -> None:
            data = post_data(assignment.item, RISKY, key=uuid.uuid4().hex, expected_version=1)
            response = client.post(reverse("annotation:submit", args=[assignment.item_id]), data, **HTMX)
            assert response.status_code == 204 and response["HX-Redirect"] == reverse("annotation:history")

        return edit

    assert measure(setup_kind, act, users, campaign) == [BUDGET["submit-edit"]] * 2
    assert Label.objects.filter(annotator__in=users, version=2).count() == 2


def test_submit_a_gold_check(setup_kind: str, db: None, personas: Any) -> None:
    labelers = annotators(3)
    checked = annotators(2)
    campaign = build_campaign([*labelers, *checked], scenarios=4, overlap=3)
    golds = []
    for n in range(2):
        item = Item.objects.filter(campaign=campaign, state=ItemState.OPEN).order_by("pk")[n]
        for user in labelers:
            Assignment.objects.create(item=item, user=user, expires_at=timezone.now() + timedelta(hours=1))
            submit_label(item, user, Submission(SAFE, idempotency_key=f"{user.pk}-{item.pk}"))
        assert AcceptedLabel.objects.filter(item=item).exists()
        mark_gold(item, personas.reviewer)
        golds.append(Item.objects.get(pk=item.pk))

    def act(user: User, client: Client) -> Callable[[], None]:
        item = golds[checked.index(user)]
        Assignment.objects.create(item=item, user=user, expires_at=timezone.now() + timedelta(hours=1))
        return submit(client, item, SAFE)

    assert measure(setup_kind, act, checked, campaign) == [BUDGET["submit-gold"]] * 2
