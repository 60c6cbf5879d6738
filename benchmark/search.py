"""Text search over the bank and the corpus: which scenarios and provisions contain what the user typed, in
Chinese as in Latin script, fast at MedES scale (a million scenarios, a million provisions) on PostgreSQL.

Chinese has no spaces between words, so a word index sees one long "word" per sentence; pg_trgm drops CJK
characters in a database whose LC_CTYPE is C, and gives a two-character query (知情, 隐私) no trigram to look
up. The index here is our own: each row's text as the set of its characters and of its pairs of adjacent
characters (the SQL function ``medes_search_tokens``, over lower-cased text), in a GIN expression index. A
query looks up its own pairs (a one-character query, its character: ``medes_query_tokens``), all of them —
every row that contains the query holds them all — and the rows found are checked again with ``icontains``
for the exact text, so the index only narrows and never decides.

Both functions run in the database, so the query and the rows are lower-cased by the same ``lower()``,
whatever the database's locale. An expression index rather than a column kept up to date by ``save``:
imports write rows with ``bulk_create`` and the benches with COPY, neither of which calls ``save``, while
PostgreSQL keeps an index on every write path; and it takes no room in the table. Migration
``0010_text_search`` creates the functions and the indexes (PostgreSQL only).

Which way a search goes is the planner's choice, and it needs to know how common the text is: 患者 is in half
the bank, and the fastest page of it reads the newest rows in order until fifty match, while 罕见病用药 is in
a hundred rows, which the index finds at once. The migration adds statistics on ``UPPER(field)`` (what
``icontains`` compares) so the planner sees the difference. A count is the other cost: counting the rows of a
broad search reads them all, so lists show the planner's estimate for it (``estimated_rows``).

SQLite (development, tests) has no such index: ``icontains`` alone, a scan, fine at its sizes.
"""

from __future__ import annotations

import json
from functools import reduce
from operator import or_
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, F, Func, Q, QuerySet
from django.db.models.sql.compiler import SQLCompiler

MAX_QUERY = 100  # characters: a search is words, not a document

# Each index's fields, in the order of its expression in migration 0010: a query uses the index only when it
# spells the expression exactly as the migration created it.
SCENARIO_FIELDS = ("stem", "norm")
PROVISION_FIELDS = ("label", "text")


class HoldsTokensOf(Func):
    """``medes_search_tokens(<fields>) @> medes_query_tokens(<query>)``: the row holds every token of the
    query. Spelt as the index's expression, so that PostgreSQL answers it from the index."""

    function = "medes_search_tokens"
    output_field = BooleanField()

    def __init__(self, fields: tuple[str, ...], query: str) -> None:
        super().__init__(*(F(name) for name in fields))
        self.query = query

    def as_sql(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = super().as_sql(compiler, connection, **extra_context)
        return f"({sql} @> medes_query_tokens(%s))", (*params, self.query)


def contains(text: str, fields: tuple[str, ...], *, indexed: tuple[str, ...], vendor: str, use_index: bool = True) -> Q:
    """Rows where one of ``fields`` contains ``text``, ignoring case. ``indexed`` names the fields of the
    model's search index (``fields`` among them); ``vendor`` is the database's (``connection.vendor``).
    ``use_index=False`` leaves the index out, for a scan of a few known rows (computing a row's tokens outside
    the index costs far more than the exact check)."""
    if not text:
        return Q()
    if not set(fields) <= set(indexed):
        raise ValueError(f"{fields} are not all in the search index {indexed}")
    exact = reduce(or_, (Q(**{f"{name}__icontains": text}) for name in fields))
    if vendor != "postgresql" or not use_index:
        return exact
    return Q(HoldsTokensOf(indexed, text)) & exact


def estimated_rows(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of how many rows ``queryset`` holds (its planner's, from the statistics: no row
    is read), where counting a broad search would read them all; None elsewhere."""
    if vendor_of(queryset) != "postgresql":
        return None
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def vendor_of(queryset: QuerySet[Any]) -> str:
    return connections[queryset.db].vendor


def scenarios_containing(text: str, vendor: str) -> Q:
    """Scenarios whose question or case, or the norm it tests, contains ``text``."""
    return contains(text, SCENARIO_FIELDS, indexed=SCENARIO_FIELDS, vendor=vendor)


def provisions_containing(
    text: str, vendor: str, *, fields: tuple[str, ...] = PROVISION_FIELDS, use_index: bool = True
) -> Q:
    """Provisions whose label or text (or only the ``fields`` named) contains ``text``."""
    return contains(text, fields, indexed=PROVISION_FIELDS, vendor=vendor, use_index=use_index)
