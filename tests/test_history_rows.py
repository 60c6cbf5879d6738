"""medes_site.history.save_with_history writes the history row django-simple-history would write for a new
object (the same fields, type, user), once, and history goes on as usual for later edits."""

from __future__ import annotations

from django.contrib.auth.models import User

from annotation.assignments import next_assignment
from annotation.models import Label
from annotation.services import Submission, submit_label
from medes_site.accounts import create_user
from medes_site.history import save_with_history
from medes_site.roles import Role
from tests.factories import PASSWORD
from tests.labeling_fixtures import RISKY, SAFE, build_campaign

COMPARED_AWAY = {"history_id", "history_date", "id", "item_id", "idempotency_key", "submitted_at"}


def _row(label: Label) -> dict[str, object]:
    (row,) = Label.history.filter(id=label.pk).values()
    return dict(row)


def test_the_history_row_is_the_one_simple_history_writes(db: None) -> None:
    people = [create_user(f"h{n}", roles=[Role.ANNOTATOR], password=PASSWORD) for n in range(2)]
    campaign = build_campaign(people, scenarios=3, overlap=2)
    user: User = people[0]
    first, second = campaign.items.order_by("pk")[:2]
    values = {"annotator": user, "scores": SAFE, "rationale": "依据第三条", "guideline_version": 1, "seconds_spent": 7}
    ours = Label(item=first, idempotency_key="ours", **values)
    save_with_history(ours, user)
    theirs = Label(item=second, idempotency_key="theirs", **values)
    theirs._history_user = user  # type: ignore[attr-defined]
    theirs.save()  # simple_history's receiver writes this one
    mine, reference = _row(ours), _row(theirs)
    assert set(mine) == set(reference)
    assert {k: v for k, v in mine.items() if k not in COMPARED_AWAY} == {
        k: v for k, v in reference.items() if k not in COMPARED_AWAY
    }
    assert mine["history_type"] == "+" and mine["history_user_id"] == user.pk and mine["id"] == ours.pk
    assert mine["submitted_at"] == ours.submitted_at and mine["idempotency_key"] == "ours"
    assert not hasattr(ours, "skip_history_when_saving")  # later saves of the object keep their history


def test_a_submitted_label_has_one_history_row_and_its_edit_a_second(db: None) -> None:
    people = [create_user(f"e{n}", roles=[Role.ANNOTATOR], password=PASSWORD) for n in range(3)]
    campaign = build_campaign(people, scenarios=2, overlap=3)
    user = people[0]
    assignment = next_assignment(campaign, user)
    assert assignment is not None
    label, created = submit_label(assignment.item, user, Submission(SAFE, idempotency_key="one"))
    assert created and list(label.history.values_list("history_type", "history_user_id")) == [("+", user.pk)]
    edited, _ = submit_label(
        assignment.item, user, Submission(RISKY, idempotency_key="two", expected_version=label.version)
    )
    kinds = sorted(edited.history.values_list("history_type", "version"))
    assert kinds == [("+", 1), ("~", 2)]
