"""What the labeling loop commits without waiting for the disk, and what it never does (PostgreSQL).

A reservation is written with ``synchronous_commit`` off for its own transaction (annotation.assignments): lost in
a crash, it only hands its item out again, and the label that ends it is committed the usual way, which flushes
the log up to that point, reservation included. A label, its history row and everything else keep the server's
setting. The setting is read from inside each transaction, by receivers of the rows being written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models.signals import post_save

from annotation.assignments import next_assignment
from annotation.models import Assignment, Label
from annotation.services import Submission, submit_label
from medes_site.accounts import create_user
from medes_site.roles import Role
from tests.factories import PASSWORD
from tests.labeling_fixtures import SAFE, build_campaign

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")


def _setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.fixture
def seen() -> Iterator[dict[str, list[str]]]:
    """The setting each written row's transaction had, by model."""
    found: dict[str, list[str]] = {"assignment": [], "label": []}

    def assignment_saved(sender: Any, **kwargs: Any) -> None:
        found["assignment"].append(_setting())

    def label_saved(sender: Any, **kwargs: Any) -> None:
        found["label"].append(_setting())

    post_save.connect(assignment_saved, sender=Assignment)
    post_save.connect(label_saved, sender=Label)
    yield found
    post_save.disconnect(assignment_saved, sender=Assignment)
    post_save.disconnect(label_saved, sender=Label)


@pytest.mark.django_db(transaction=True)
def test_a_reservation_does_not_wait_for_the_disk_and_a_label_does(seen: dict[str, list[str]]) -> None:
    server_default = _setting()
    assert server_default != "off"  # the test means nothing on a server that never waits
    people = [create_user(f"d{n}", roles=[Role.ANNOTATOR], password=PASSWORD) for n in range(2)]
    campaign = build_campaign(people, scenarios=3, overlap=2)
    user: User = people[0]
    assignment = next_assignment(campaign, user)
    assert assignment is not None and seen["assignment"] == ["off"]
    assert _setting() == server_default  # for that transaction only: the connection is as it was
    submit_label(assignment.item, user, Submission(SAFE, idempotency_key="durable-1"))
    assert seen["label"] == [server_default]
    # the label and the reservation it ended are both there (the label's commit flushed the log up to it)
    assert Label.objects.filter(item=assignment.item, annotator=user).exists()
    assert Assignment.objects.get(pk=assignment.pk).status == "submitted"
