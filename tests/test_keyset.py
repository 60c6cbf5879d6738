"""Keyset pagination (medes_site.keyset) and the scenario list paged by it: every row once, in order, forward and
back, however deep; old ?page=N links still served; a hostile cursor is a 400, never a 500."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from benchmark.models import Scenario, Scene
from benchmark.scenarios import resolve_scene
from benchmark.views import SCENARIOS_PER_PAGE
from medes_site.keyset import MAX_CURSOR, MAX_OFFSET_PAGE, BadCursor, Ordering, keyset_page
from tests.factories import Personas

NEWEST_FIRST = Ordering(Scenario, ("-pk",))
BY_UPDATE = Ordering(Scenario, ("-updated_at", "pk"))  # mixed directions, and ties on the leading field


@pytest.fixture
def scene(db: None) -> Scene:
    found = resolve_scene("器官移植")
    assert found is not None
    return found


def bank(scene: Scene, count: int, *, start: int = 0, origin: str = "imported") -> list[int]:
    """``count`` scenarios, their ids in the list's order (newest first)."""
    Scenario.objects.bulk_create(
        Scenario(
            kind="objective",
            stem=f"第{n}题：哪些情形下应当取得书面同意？",
            options={"A": "甲", "B": "乙"},
            key="A",
            scene=scene,
            origin=origin,
            status="in_review",
            content_hash=f"{n:064x}",
        )
        for n in range(start, start + count)
    )
    return list(Scenario.objects.order_by("-pk").values_list("pk", flat=True))


def cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# --- the helper ---------------------------------------------------------------------------------------------


def walk(ordering: Ordering, per_page: int) -> tuple[list[int], list[int]]:
    """Every id met following Next from the first page to the last, then Previous back to the first."""
    queryset = Scenario.objects.all()
    page = keyset_page(queryset, ordering, per_page)
    forward = [s.pk for s in page.object_list]
    while page.has_next:
        page = keyset_page(queryset, ordering, per_page, after=page.next_cursor, number=page.number + 1)
        forward += [s.pk for s in page.object_list]
    backward = [s.pk for s in reversed(page.object_list)]
    while page.has_previous:
        page = keyset_page(queryset, ordering, per_page, before=page.previous_cursor, number=page.number - 1)
        backward += [s.pk for s in reversed(page.object_list)]
    assert page.number == 1
    return forward, backward


def test_following_the_cursors_meets_every_row_once_in_order_both_ways(scene: Scene) -> None:
    ids = bank(scene, 23)
    forward, backward = walk(NEWEST_FIRST, 5)
    assert forward == ids
    assert backward == list(reversed(ids))


def test_ties_on_the_leading_field_are_broken_by_the_unique_one_both_ways(scene: Scene) -> None:
    bank(scene, 17)
    moments = [timezone.now() - datetime.timedelta(hours=h) for h in range(3)]
    for n, pk in enumerate(Scenario.objects.order_by("pk").values_list("pk", flat=True)):
        Scenario.objects.filter(pk=pk).update(updated_at=moments[n % 3])  # three groups of equal times
    expected = list(Scenario.objects.order_by("-updated_at", "pk").values_list("pk", flat=True))
    forward, backward = walk(BY_UPDATE, 4)
    assert forward == expected
    assert backward == list(reversed(expected))


def test_rows_added_meanwhile_do_not_repeat_rows_on_the_next_page(scene: Scene) -> None:
    ids = bank(scene, 10)
    first = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 4)
    bank(scene, 3, start=100)  # newer items arrive at the top while the curator reads page 1
    second = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 4, after=first.next_cursor, number=2)
    assert [s.pk for s in second.object_list] == ids[4:8]  # offset paging would repeat three rows of page 1


def test_an_old_page_number_is_served_by_offset_and_a_page_past_the_end_is_the_last(scene: Scene) -> None:
    ids = bank(scene, 12)
    page = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 5, number=2)
    assert [s.pk for s in page.object_list] == ids[5:10]
    assert page.has_previous and page.has_next
    last = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 5, number=10**30)
    assert ([s.pk for s in last.object_list], last.number, last.has_next) == (ids[10:], 3, False)


def test_an_old_page_number_past_a_capped_count_is_still_served(scene: Scene) -> None:
    ids = bank(scene, 12)
    page = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 2, number=5, count_limit=3)
    assert ([s.pk for s in page.object_list], page.number, page.count_is_capped) == (ids[8:10], 5, True)
    beyond = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 2, number=10**30, count_limit=3)
    assert (beyond.object_list, beyond.number, beyond.has_other_pages()) == ([], MAX_OFFSET_PAGE, True)


def test_the_count_can_be_capped(scene: Scene) -> None:
    bank(scene, 12)
    page = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 5, count_limit=7)
    assert (page.count, page.count_is_capped, len(page.object_list), page.has_next) == (7, True, 5, True)
    exact = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 5, count_limit=12)
    assert (exact.count, exact.count_is_capped, exact.num_pages) == (12, False, 3)


def test_an_estimate_stands_in_for_the_count_unless_the_first_page_holds_everything(scene: Scene) -> None:
    bank(scene, 12)

    def page(per_page: int, guess: int | None) -> Any:
        return keyset_page(
            Scenario.objects.all(), NEWEST_FIRST, per_page, estimate=lambda queryset: guess, count_first=False
        )

    assert (page(5, 1234).count, page(5, 1234).count_is_estimate) == (1234, True)
    assert page(5, 1).count == 6  # never fewer than the rows seen: five here and one more after them
    assert (page(20, 1234).count, page(20, 1234).count_is_estimate) == (12, False)
    assert (page(5, None).count, page(5, None).count_is_estimate) == (12, False)  # no guess: counted


def test_past_the_count_limit_the_estimate_says_about_how_many(scene: Scene) -> None:
    bank(scene, 12)

    def page(guess: int | None) -> Any:
        return keyset_page(Scenario.objects.all(), NEWEST_FIRST, 5, count_limit=7, estimate=lambda queryset: guess)

    assert (page(1234).count, page(1234).count_is_estimate, page(1234).count_is_capped) == (1234, True, False)
    assert (page(None).count, page(None).count_is_capped) == (7, True)  # "more than 7"
    assert (page(3).count, page(3).count_is_capped) == (7, True)  # a guess below what was counted is no use
    exact = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 5, count_limit=20, estimate=lambda queryset: 1234)
    assert (exact.count, exact.count_is_estimate) == (12, False)  # under the limit: counted, never guessed


@pytest.mark.parametrize(
    "bad",
    [
        "%%%not base64",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        cursor({"pk": 1}),  # not a list
        cursor([]),  # not this ordering's length
        cursor(["1", "2"]),
        cursor([1]),  # values are written as strings
        cursor(["one"]),
        cursor(["1e3"]),
        cursor([str(2**70)]),  # past the column's range: the database would refuse it
        cursor([None]),
        "A" * (MAX_CURSOR + 1),
    ],
)
def test_a_cursor_this_list_could_not_have_written_is_refused(scene: Scene, bad: str) -> None:
    bank(scene, 3)
    with pytest.raises(BadCursor):
        keyset_page(Scenario.objects.all(), NEWEST_FIRST, 2, after=bad)
    with pytest.raises(BadCursor):
        keyset_page(Scenario.objects.all(), NEWEST_FIRST, 2, before=bad)


def test_a_bad_date_in_a_cursor_is_refused(scene: Scene) -> None:
    bank(scene, 3)
    with pytest.raises(BadCursor):
        keyset_page(Scenario.objects.all(), BY_UPDATE, 2, after=cursor(["yesterday", "1"]))


def test_a_page_follows_one_cursor_not_two(scene: Scene) -> None:
    bank(scene, 3)
    first = keyset_page(Scenario.objects.all(), NEWEST_FIRST, 2)
    with pytest.raises(BadCursor):
        keyset_page(Scenario.objects.all(), NEWEST_FIRST, 2, after=first.next_cursor, before=first.next_cursor)


@pytest.mark.parametrize(
    "names",
    [(), ("-nothing",), ("-updated_at",), ("scene", "pk"), ("difficulty", "pk")],
    ids=["empty", "unknown field", "last not unique", "a relation", "nullable"],
)
def test_an_ordering_that_cannot_key_a_page_is_refused_when_written(names: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        Ordering(Scenario, names)


# --- the scenario list --------------------------------------------------------------------------------------


def links(html: str) -> dict[str, str]:
    found = {}
    for rel in ("first", "prev", "next"):
        if f'rel="{rel}"' in html:
            found[rel] = html.split(f'rel="{rel}"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    return found


def shown(html: str) -> list[int]:
    return [int(v.split(":")[0]) for v in html.split('name="versions" value="')[1].split('"')[0].split(",") if v]


def test_the_list_pages_forward_and_back_keeping_its_filters(scene: Scene, personas: Personas, client_as: Any) -> None:
    bank(scene, 5, start=1000, origin="generated")  # filtered out
    bank(scene, 2 * SCENARIOS_PER_PAGE + 3)
    expected = list(Scenario.objects.filter(origin="imported").order_by("-pk").values_list("pk", flat=True))
    client = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("benchmark:scenarios")
    html = client.get(url, {"origin": "imported"}).content.decode()
    assert f"{len(expected)} scenarios" in html and "Page 1 of 3" in html
    met, pages = shown(html), [html]
    while "next" in links(html):
        assert links(html)["next"].startswith("?origin=imported&page=")
        html = client.get(url + links(html)["next"]).content.decode()
        met += shown(html)
        pages.append(html)
    assert met == expected
    assert "Page 3 of 3" in html and links(html)["first"] == "?origin=imported"
    back = client.get(url + links(html)["prev"]).content.decode()
    assert shown(back) == shown(pages[1]) and "Page 2 of 3" in back
    first = client.get(url + links(back)["prev"]).content.decode()
    assert shown(first) == expected[:SCENARIOS_PER_PAGE] and "prev" not in links(first)


def test_a_deep_page_costs_the_same_queries_as_the_first(scene: Scene, personas: Personas, client_as: Any) -> None:
    bank(scene, 3 * SCENARIOS_PER_PAGE)
    client = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("benchmark:scenarios")
    html = client.get(url).content.decode()
    with CaptureQueriesContext(connection) as first:
        client.get(url)
    second = client.get(url + links(html)["next"]).content.decode()
    with CaptureQueriesContext(connection) as third:
        assert client.get(url + links(second)["next"]).status_code == 200
    assert len(third) == len(first)


def test_an_old_page_link_still_works(scene: Scene, personas: Personas, client_as: Any) -> None:
    ids = bank(scene, SCENARIOS_PER_PAGE + 4)
    client = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    html = client.get(reverse("benchmark:scenarios"), {"page": 2}).content.decode()
    assert shown(html) == ids[SCENARIOS_PER_PAGE:] and "Page 2 of 2" in html
    assert client.get(reverse("benchmark:scenarios"), {"page": 99}).status_code == 200  # the last page
    assert client.get(reverse("benchmark:scenarios"), {"page": 0}).status_code == 400  # as before


def test_the_next_page_for_htmx_is_the_table_alone(scene: Scene, personas: Personas, client_as: Any) -> None:
    ids = bank(scene, SCENARIOS_PER_PAGE + 1)
    client = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("benchmark:scenarios")
    following = links(client.get(url).content.decode())["next"]
    fragment = client.get(url + following, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and shown(fragment) == ids[SCENARIOS_PER_PAGE:]


@pytest.mark.parametrize(
    "params",
    [
        {"after": "%%%"},
        {"before": cursor(["-1; DROP TABLE benchmark_scenario"])},
        {"after": cursor([str(2**70)])},
        {"after": cursor(["1", "2"])},
        {"after": "A" * (MAX_CURSOR + 1)},
        {"after": cursor(["1"]), "before": cursor(["1"])},
    ],
    ids=["garbage", "injection", "out of range", "wrong shape", "too long", "both ways"],
)
def test_a_hostile_cursor_is_a_400_that_says_what_to_do(
    scene: Scene, personas: Personas, client_as: Any, params: dict[str, str]
) -> None:
    bank(scene, 3)
    response = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").get(reverse("benchmark:scenarios"), params)
    assert response.status_code == 400
    assert Scenario.objects.count() == 3
    html = response.content.decode()
    assert "first page" in html or "at most" in html  # the too-long one fails the form's length check


def test_a_cursor_past_every_row_shows_an_empty_page_with_the_way_back(
    scene: Scene, personas: Personas, client_as: Any
) -> None:
    bank(scene, 3)
    html = (
        client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
        .get(reverse("benchmark:scenarios"), {"page": 2, "after": cursor(["1"])})
        .content.decode()
    )
    assert "No scenarios match." in html and links(html)["first"] == "?"


def test_reading_the_list_needs_a_role(scene: Scene, personas: Personas, client_as: Any) -> None:
    bank(scene, 3)
    response = client_as(personas.annotator).get(reverse("benchmark:scenarios"), {"after": cursor(["2"])})
    assert response.status_code in (302, 403)
    assert Client().get(reverse("benchmark:scenarios")).status_code == 302
