"""medes_site.compiled: a values_list queryset compiled once gives the rows the ORM gives, for every argument, on
either database (on SQLite, where a datetime sample is rewritten while compiling, through the ORM itself)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation import assignments, places
from annotation.models import Assignment, Campaign, Item, Label
from annotation.services import Submission, submit_label
from medes_site.accounts import create_user
from medes_site.compiled import SAMPLE_TIME, CompiledQuery
from medes_site.roles import Role
from tests.factories import PASSWORD
from tests.labeling_fixtures import SAFE, build_campaign


@pytest.fixture
def labeled(db: None) -> tuple[Campaign, list[User]]:
    people = [create_user(f"c{n}", roles=[Role.ANNOTATOR], password=PASSWORD) for n in range(3)]
    campaign = build_campaign(people, scenarios=6, overlap=2)
    for n, user in enumerate(people):
        for i in range(n + 1):
            assignment = assignments.next_assignment(campaign, user)
            assert assignment is not None
            if i < n:  # the last one stays reserved
                submit_label(assignment.item, user, Submission(SAFE, idempotency_key=f"k{user.pk}-{i}"))
    return campaign, people


def test_compiled_rows_are_the_orm_rows_for_every_argument(labeled: tuple[Campaign, list[User]]) -> None:
    campaign, people = labeled
    later = timezone.now() + timedelta(hours=2)
    queries = [
        (assignments._MEMBER, assignments._member_query, {"campaign": campaign.pk, "now": timezone.now()}),
        (assignments._MEMBER, assignments._member_query, {"campaign": campaign.pk, "now": later}),
        (assignments._MEMBER, assignments._member_query, {"campaign": campaign.pk + 999, "now": later}),
        (assignments._UNTOUCHED, None, {"campaign": campaign.pk}),
        (assignments._WINDOW[32], None, {"campaign": campaign.pk, "now": timezone.now()}),
    ]
    for user in people:
        for compiled, _build, args in queries:
            values = {**args, "user": user.pk}
            assert compiled.rows(**values) == list(compiled.build(**values)), (compiled, values)
    for item in Item.objects.filter(campaign=campaign):
        assert assignments._PLACES.rows(item=item.pk, now=timezone.now()) == list(
            assignments._PLACES.build(item=item.pk, now=timezone.now())
        )
        assert assignments._LOCK.rows(item=item.pk) == list(assignments._LOCK.build(item=item.pk))
        for user in people:
            for key in ("", f"k{user.pk}-0", "no such key", "it's; DROP TABLE x --"):
                values = {"item": item.pk, "user": user.pk, "key": key}
                assert places._PLACE.rows(**values) == list(places._PLACE.build(**values))


def test_a_compiled_query_is_one_statement_and_postgresql_runs_it_compiled(
    labeled: tuple[Campaign, list[User]],
) -> None:
    campaign, people = labeled
    assignments._MEMBER.rows(campaign=campaign.pk, user=people[0].pk, now=timezone.now())
    compiled = assignments._MEMBER._plans[connection.vendor] is not None
    assert compiled == (connection.vendor == "postgresql")  # SQLite renders the datetime sample while compiling
    with CaptureQueriesContext(connection) as queries:
        member = assignments.labeling_member(campaign.pk, people[1])
    assert len(queries) == 1 and member is not None
    assert member.campaign == campaign and member.campaign.label_schema == campaign.label_schema  # JSON read back
    held = Assignment.objects.get(user=people[1], status="reserved")
    assert member.held_item == held.item_id and member.held == 1  # type: ignore[attr-defined]


def test_a_sample_not_found_among_the_parameters_falls_back_to_the_orm(db: None) -> None:
    # the sample id is used by nothing: the compiled parameters cannot hold it, so the query runs through the ORM
    compiled = CompiledQuery(lambda label: Label.objects.filter(pk=1).values_list("pk"), label=-1)
    assert compiled.rows(label=5) == [] and compiled._plans[connection.vendor] is None


def test_values_are_matched_by_type_as_well_as_value(db: None) -> None:
    """A boolean constant (True == 1) is never taken for an integer argument's place."""
    compiled = CompiledQuery(
        lambda campaign: Campaign.objects.filter(pk=campaign, blind=True).values_list("pk"), campaign=1
    )
    plan = compiled._compile()
    assert plan is not None
    assert [name for name, _constant in plan.slots].count("campaign") == 1


def test_arguments_must_be_the_samples_names_and_the_query_a_values_list(db: None) -> None:
    with pytest.raises(TypeError, match="expected"):
        assignments._UNTOUCHED.rows(campaign=1)
    models = CompiledQuery(lambda now: Label.objects.filter(submitted_at__gt=now), now=SAMPLE_TIME)
    with pytest.raises(TypeError, match="values_list"):
        models.rows(now=SAMPLE_TIME)
