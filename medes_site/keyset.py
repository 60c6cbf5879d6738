"""Keyset (seek) pagination: a page of a list ordered by a unique key, found from where the page before it
ended rather than by how many rows came before it. OFFSET reads and throws away every earlier row, so page 500
of a large list costs 500 pages' worth of work; a seek costs one page's, however deep.

The Next and Previous links carry a cursor: the key of the row the page ended (or began) with, as URL-safe
base64 of a JSON list. It is data from the user like any other parameter: decoding checks it against the
ordering's fields (``to_python`` and their validators) and anything else is ``BadCursor``, which the view turns
into a 400. A page number still rides along on the links, only to label the page ("Page 7 of 20"); and an old
``?page=N`` link without a cursor is still served, by OFFSET, as before.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Field, Model, Q, QuerySet
from django.http import HttpRequest

MAX_CURSOR = 512  # characters: a key of a few fields; anything longer is not one of ours
# An old ?page=N link past a capped count is served by OFFSET as asked, up to this page (an OFFSET the
# database can take; past the end of the list the page is empty, with the way back to the first).
MAX_OFFSET_PAGE = 100_000
CURSOR_PARAMS = ("page", "after", "before")


class BadCursor(ValueError):  # noqa: N818 - reads as what the user sent
    """A cursor this list could not have written: tampered with, truncated, or from another list."""


@dataclass(frozen=True)
class Ordering:
    """A list's order, e.g. ``Ordering(Scenario, ("-pk",))`` or ``("-updated_at", "-pk")``: direct, non-null
    fields of the model, the last one unique, so that every row has its own place and a cursor names it."""

    model: type[Model]
    names: tuple[str, ...]
    fields: tuple[Field[Any, Any], ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("an ordering needs at least one field")
        fields = []
        for name in self.names:
            bare = name.removeprefix("-")
            try:
                found = self.model._meta.pk if bare == "pk" else self.model._meta.get_field(bare)
            except FieldDoesNotExist as missing:
                raise ValueError(f"{self.model.__name__} has no field {bare!r}") from missing
            if not isinstance(found, Field) or found.null or found.is_relation:
                raise ValueError(f"{bare!r} cannot order a keyset: it must be a plain non-null field")
            fields.append(found)
        if not (fields[-1].primary_key or fields[-1].unique):
            raise ValueError("the last field of a keyset ordering must be unique")
        object.__setattr__(self, "fields", tuple(fields))

    def descending(self, index: int) -> bool:
        return self.names[index].startswith("-")

    def reversed(self) -> tuple[str, ...]:
        return tuple(name.removeprefix("-") if name.startswith("-") else f"-{name}" for name in self.names)

    def cursor_of(self, row: Model) -> str:
        values = [f.value_to_string(row) for f in self.fields]
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, ...]:
        """The key values a cursor names, each checked as its field checks a value, else ``BadCursor``."""
        if len(cursor) > MAX_CURSOR:
            raise BadCursor("cursor too long")
        try:
            raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, ValueError) as error:  # bad base64, bad UTF-8, bad JSON
            raise BadCursor("not a cursor") from error
        if not isinstance(raw, list) or len(raw) != len(self.fields) or not all(isinstance(v, str) for v in raw):
            raise BadCursor("not a cursor of this list")
        values = []
        for f, text in zip(self.fields, raw, strict=True):
            try:
                value = f.to_python(text)
                f.run_validators(value)  # an integer out of the column's range, a too-long string
            except (ValidationError, TypeError, ValueError, OverflowError) as error:
                raise BadCursor(f"bad value for {f.name}") from error
            if value is None:
                raise BadCursor(f"bad value for {f.name}")
            values.append(value)
        return tuple(values)

    def beyond(self, values: Sequence[Any], *, backwards: bool = False) -> Q:
        """Rows after the key ``values`` in this order (before them when ``backwards``): the row comparison
        (a, b) > (x, y) spelt as a > x OR (a = x AND b > y), with a redundant a >= x first so that an index
        on the leading field bounds the scan."""
        condition = Q()
        for index in reversed(range(len(self.names))):
            name = self.names[index].removeprefix("-")
            later = "lt" if self.descending(index) != backwards else "gt"
            step = Q(**{f"{name}__{later}": values[index]})
            condition = step if index == len(self.names) - 1 else step | (Q(**{name: values[index]}) & condition)
        if len(self.names) > 1:
            name = self.names[0].removeprefix("-")
            condition &= Q(**{f"{name}__{'lte' if self.descending(0) != backwards else 'gte'}": values[0]})
        return condition


@dataclass
class KeysetPage:
    """One page, shaped like Django's ``Page`` where the templates use it (``object_list``, ``number``,
    ``has_next``/``has_previous``/``has_other_pages``) plus the cursors of its neighbours."""

    object_list: list[Any]
    number: int
    per_page: int
    count: int
    next_cursor: str | None
    previous_cursor: str | None
    count_is_capped: bool = False  # ``count`` is where counting stopped ("more than 10,000")
    count_is_estimate: bool = False  # ``count`` is a guess ("about 300,000"): counting would cost more than the page

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous or self.number > 1  # a stale cursor's empty page: back to the first

    @property
    def paginator(self) -> KeysetPage:
        """Django's ``Page`` answers its count as ``page.paginator.count``: so does this one."""
        return self

    @property
    def num_pages(self) -> int:
        return max(1, math.ceil(self.count / self.per_page))

    def links(self, query: str) -> dict[str, str]:
        """The pager's hrefs, each keeping the list's filters (``query``, already URL-encoded)."""
        base = f"?{query}&" if query else "?"
        links = {"first": f"?{query}"}
        if self.previous_cursor is not None:
            links["previous"] = f"{base}page={max(1, self.number - 1)}&before={self.previous_cursor}"
        if self.next_cursor is not None:
            links["next"] = f"{base}page={self.number + 1}&after={self.next_cursor}"
        return links


def keyset_page(
    queryset: QuerySet[Any],
    ordering: Ordering,
    per_page: int,
    *,
    after: str | None = None,
    before: str | None = None,
    number: int | None = None,
    count_limit: int | None = None,
    estimate: Callable[[QuerySet[Any]], int | None] | None = None,
    count_first: bool = True,
) -> KeysetPage:
    """The page after the cursor ``after`` (or before ``before``), else page ``number`` by OFFSET (old links),
    else the first page. The same queries whatever the page: the count, the rows (one more than a page, to know
    whether another follows), and whatever prefetches ``queryset`` carries.

    The count stops at ``count_limit``; past it ``estimate`` (e.g. the database planner's guess) says about how
    many there are, else the page says "more than …". With ``count_first=False``, for lists where even a
    capped count costs more than the page (a broad text search reads every row it counts), the estimate answers
    without counting, except on a first page that holds every row, whose count is exact."""
    if after and before:
        raise BadCursor("a page follows one cursor")
    number = max(1, number or 1)
    if not (after or before):
        if number > 1:  # an old ?page=N link: its number must be checked against the count
            count, capped = _count(queryset, count_limit)
            last = MAX_OFFSET_PAGE if capped else max(1, math.ceil(count / per_page))
            number = min(number, last)  # like Paginator.get_page: past the end, the last
            start = (number - 1) * per_page
            rows = list(queryset.order_by(*ordering.names)[start : start + per_page + 1])
            page = _page(rows[:per_page], number, per_page, ordering, number > 1, len(rows) > per_page)
            return replace(page, count=count, count_is_capped=capped)
        rows = list(queryset.order_by(*ordering.names)[: per_page + 1])
        page = _page(rows[:per_page], 1, per_page, ordering, False, len(rows) > per_page)
    else:
        backwards = bool(before)
        key = ordering.decode(before or after or "")
        order = ordering.reversed() if backwards else ordering.names
        rows = list(queryset.filter(ordering.beyond(key, backwards=backwards)).order_by(*order)[: per_page + 1])
        more = len(rows) > per_page
        rows = rows[:per_page]
        if backwards:
            rows.reverse()
            # the start of the list: whatever the link said, this is the first page
            page = _page(rows, number if more else 1, per_page, ordering, more, True)
        else:
            page = _page(rows, number, per_page, ordering, True, more)
    return _counted(page, queryset, count_limit, estimate, count_first)


def _counted(
    page: KeysetPage,
    queryset: QuerySet[Any],
    limit: int | None,
    estimate: Callable[[QuerySet[Any]], int | None] | None,
    count_first: bool,
) -> KeysetPage:
    """``page`` with the count of its list: counted up to ``limit``, then estimated; or estimated at once."""
    guess = None if count_first or estimate is None else estimate(queryset)
    if guess is None:
        count, capped = _count(queryset, limit)
        guess = estimate(queryset) if capped and estimate is not None else None
        if guess is None or guess <= count:
            return replace(page, count=count, count_is_capped=capped)
        return replace(page, count=guess, count_is_estimate=True)
    # what the pages so far hold is a floor; on a first page that holds everything, it is the count
    seen = (page.number - 1) * page.per_page + len(page.object_list) + (1 if page.has_next else 0)
    if page.number == 1 and not page.has_next and not page.has_previous:
        return replace(page, count=seen)
    return replace(page, count=max(seen, guess), count_is_estimate=True)


def _count(queryset: QuerySet[Any], limit: int | None) -> tuple[int, bool]:
    """The count, and whether it stopped at ``limit``."""
    if limit is None:
        return queryset.count(), False
    count = queryset.order_by()[: limit + 1].count()  # SELECT COUNT(*) FROM (... LIMIT limit + 1)
    return min(count, limit), count > limit


def _page(rows: list[Any], number: int, per_page: int, ordering: Ordering, earlier: bool, later: bool) -> KeysetPage:
    return KeysetPage(
        object_list=rows,
        number=number,
        per_page=per_page,
        count=0,
        next_cursor=ordering.cursor_of(rows[-1]) if later and rows else None,
        previous_cursor=ordering.cursor_of(rows[0]) if earlier and rows else None,
    )


def paginate_keyset(
    request: HttpRequest,
    queryset: QuerySet[Any],
    ordering: Ordering,
    per_page: int,
    *,
    number: int | None,
    after: str | None,
    before: str | None,
    count_limit: int | None = None,
    estimate: Callable[[QuerySet[Any]], int | None] | None = None,
    count_first: bool = True,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Context for ``partials/_keyset_pager.html``: ``page``, ``query`` (the current filters without the
    pager's parameters, nor those named in ``drop``) and the pager's ``links``. Raises ``BadCursor``."""
    page = keyset_page(
        queryset,
        ordering,
        per_page,
        after=after,
        before=before,
        number=number,
        count_limit=count_limit,
        estimate=estimate,
        count_first=count_first,
    )
    params = request.GET.copy()
    for name in (*CURSOR_PARAMS, *drop):
        params.pop(name, None)
    query = params.urlencode()
    return {"page": page, "query": query, "links": page.links(query)}
