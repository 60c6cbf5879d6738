"""Read queries of the hot paths compiled to SQL once per process.

Django builds and compiles a queryset afresh on every call. For the labeling loop's reads that is 0.4–2.5 ms of CPU
each, several times what PostgreSQL spends running them (bench/README.md has the profile). A ``CompiledQuery`` is
written as an ordinary ``values_list`` queryset, built once with sample values standing for its arguments,
compiled once per database vendor, and then run with the real values put where the samples were: the same SQL,
the same converters (JSON, dates), rows in the order ``values_list`` names them. Where the samples cannot all be
found among the compiled parameters (SQLite renders a datetime into a string while compiling), it simply runs the
queryset through the ORM each time: the same rows, without the saving.

Samples must be values no query holds as a constant: negative ids, a datetime in 2001, an odd string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import ValuesListIterable
from django.db.models.sql.compiler import SQLCompiler

SAMPLE_TIME = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)


@dataclass(frozen=True)
class _Plan:
    sql: str
    slots: tuple[tuple[str | None, Any], ...]  # per parameter: the argument's name, or None and a constant
    compiler: SQLCompiler
    converters: dict[int, Any]


class CompiledQuery:
    def __init__(self, build: Callable[..., QuerySet[Any, Any]], **samples: Any) -> None:
        self.build = build
        self.samples = samples
        self._plans: dict[str, _Plan | None] = {}

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        if set(values) != set(self.samples):
            raise TypeError(f"expected {sorted(self.samples)}, got {sorted(values)}")
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.vendor not in self._plans:
            self._plans[connection.vendor] = self._compile()
        plan = self._plans[connection.vendor]
        if plan is None:
            return list(self.build(**values))
        params = [values[name] if name is not None else constant for name, constant in plan.slots]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows: Any = cursor.fetchall()
        if plan.converters:
            rows = plan.compiler.apply_converters(rows, plan.converters)
        return [tuple(row) for row in rows]

    def first(self, **values: Any) -> tuple[Any, ...] | None:
        found = self.rows(**values)
        return found[0] if found else None

    def _compile(self) -> _Plan | None:
        queryset = self.build(**self.samples)
        if queryset._iterable_class is not ValuesListIterable:
            raise TypeError("a CompiledQuery is a values_list() queryset (not flat, not named)")
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots: list[tuple[str | None, Any]] = []
        for param in params:
            name = next((k for k, v in self.samples.items() if type(param) is type(v) and param == v), None)
            slots.append((name, None if name is not None else param))
        if {name for name, _constant in slots if name is not None} != set(self.samples):
            return None  # a sample was rewritten while compiling: run through the ORM instead
        # as ValuesListIterable reads them: the compiler's converters, columns in the order values_list names them
        converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        return _Plan(sql=sql, slots=tuple(slots), compiler=compiler, converters=converters)


def concrete_names(model: Any, prefix: str = "") -> tuple[str, ...]:
    """The model's concrete field attnames (the order ``Model.from_db`` takes), optionally behind a relation."""
    return tuple(f"{prefix}{field.attname}" for field in model._meta.concrete_fields)


def instance(model: Any, values: tuple[Any, ...] | list[Any]) -> Any:
    """A model instance from the values of ``concrete_names(model)``, as the ORM makes it."""
    return model.from_db(DEFAULT_DB_ALIAS, [f.attname for f in model._meta.concrete_fields], list(values))
