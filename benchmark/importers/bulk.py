"""Writing many new rows of one model at once, for the importers: ``insert_rows``.

Why not ``bulk_create``: the profile of a 100,000-row import (``bench/import_scenarios.py --profile``) spent two
thirds of its time in ``bulk_create`` of the scenarios and their history rows, nearly all of it in Django's SQL
compiler preparing each value of each row (``prepare_value``, ``pre_save_val``, ``field_as_sql``) and in building
the model instances: about 70 µs a scenario and 110 µs a history row on SQLite, more on PostgreSQL, so the writes
alone held an import under 5,000 rows/s. Here the columns are read once from the model's own metadata, the values
every row shares are prepared once, and a value goes to the driver as it is unless its field changes it on the
way (JSON, dates and times: ``Field.get_db_prep_save``, as ``bulk_create`` does). PostgreSQL takes the rows with
COPY (new ids drawn from the table's sequence first, when the caller needs them); other databases with
multi-row ``INSERT … RETURNING``.

The rows must be new and checked already (the importers check every row before writing anything): no ``save``,
no signals, no ``full_clean``, as with ``bulk_create``. They are written in the caller's transaction.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

# Fields whose Python values (str, int, bool, None) every driver takes as they are: no preparation per value.
PASSED_AS_IS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.ForeignKey)
MAX_ROWS_PER_STATEMENT = 1000  # where the database sets no limit on parameters
LOOKUP_CHUNK = 500
SQLITE_CACHE_MIB = 64


@dataclass
class Columns:
    """The columns an insert writes (all but the primary key) and how a row's values are prepared for them."""

    names: list[str]
    varying: list[tuple[str, Callable[[Any], Any] | None, Any]]  # attname, its preparation (None: as it is), default
    fixed: list[Any]  # the prepared values every row shares, after the varying ones

    @classmethod
    def of(
        cls,
        model: type[models.Model],
        rows: Sequence[dict[str, Any]],
        same: dict[str, Any],
        connection: BaseDatabaseWrapper,
        prepared: Collection[str] = (),
    ) -> Columns:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        given = set(same).union(*rows)
        unknown = given - {f.attname for f in fields}
        if unknown:
            raise ValueError(f"{model.__name__} has no field {', '.join(sorted(unknown))}.")
        now = timezone.now()
        varying = [f for f in fields if f.attname in given and f.attname not in same]
        fixed = [f for f in fields if f not in varying]
        return cls(
            names=[column_of(f) for f in (*varying, *fixed)],
            varying=[
                (
                    f.attname,
                    None if f.attname in prepared else _preparer(f, connection),
                    _prepared_default(f, now, connection),
                )
                for f in varying
            ],
            fixed=[
                f.get_db_prep_save(same[f.attname], connection)
                if f.attname in same
                else _prepared_default(f, now, connection)
                for f in fixed
            ],
        )

    def __post_init__(self) -> None:
        attnames = [name for name, _prepare, _missing in self.varying]
        # A row giving every varying value (most rows) is read with one itemgetter call; the few values a field
        # prepares on the way are then replaced in place.
        self._read = operator.itemgetter(*attnames) if len(attnames) > 1 else None
        self._prepared = [(n, prepare) for n, (_name, prepare, _missing) in enumerate(self.varying) if prepare]

    def values(self, row: dict[str, Any]) -> list[Any]:
        if self._read is not None:
            try:
                values = list(self._read(row))
            except KeyError:  # a row leaving out a value that takes its default
                return self._values_with_defaults(row)
            for n, prepare in self._prepared:
                values[n] = prepare(values[n])
            values += self.fixed
            return values
        return self._values_with_defaults(row)

    def _values_with_defaults(self, row: dict[str, Any]) -> list[Any]:
        values = [
            missing if name not in row else row[name] if prepare is None else prepare(row[name])
            for name, prepare, missing in self.varying
        ]
        values += self.fixed
        return values


def insert_rows(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    same: dict[str, Any] | None = None,
    returning: str | None = None,
    prepared: Collection[str] = (),
) -> dict[Any, int]:
    """Insert ``rows`` as new rows of ``model``, in order. A row is a dict of field attnames (``scene_id``, not
    ``scene``); ``same`` holds the values every row shares; a field given in neither takes its default (an
    ``auto_now`` or ``auto_now_add`` field: now). With ``returning`` (the attname of a unique field every row
    gives), returns that field's value → the new row's primary key. The fields named in ``prepared`` are given
    as the database takes them (``prepare_values``: for values written to two tables, prepared once)."""
    connection = connections[DEFAULT_DB_ALIAS]  # looked up once, not once a value
    columns = Columns.of(model, rows, same or {}, connection, prepared)
    if not rows:
        return {}
    if connection.vendor == "postgresql":
        return _copy(connection, model, rows, columns, returning)
    return _insert_values(connection, model, rows, columns, returning)


@contextmanager
def page_cache() -> Iterator[None]:
    """SQLite: a page cache of SQLITE_CACHE_MIB while many rows are written, the connection's own size restored
    after. A new row's content hash lands at a random place in its unique index (in the scenario table and in its
    history table): with SQLite's default cache (2 MiB) nearly every insert read a page back from the file; a
    100,000-row import spent a third more time writing. Other databases: nothing."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (size,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = {-SQLITE_CACHE_MIB * 1024}")  # negative: in KiB
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(size)}")


def prepare_values(model: type[models.Model], attname: str, rows: Sequence[dict[str, Any]]) -> None:
    """Prepare the values of one field in ``rows`` (in place) as the database takes them, for ``prepared``."""
    connection = connections[DEFAULT_DB_ALIAS]
    field = model._meta.get_field(attname)
    if not isinstance(field, models.Field):
        raise ValueError(f"{model.__name__}.{attname} is not a column.")
    prepare = _preparer(field, connection)
    if prepare is not None:
        for row in rows:
            row[attname] = prepare(row[attname])


def ids_by(model: type[models.Model], attname: str, values: list[Any]) -> dict[Any, int]:
    """The value of a unique field → the primary key, for the rows of ``model`` holding these values."""
    ordered = sorted(set(values))
    ids: dict[Any, int] = {}
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        ids.update(model._default_manager.filter(**{f"{attname}__in": chunk}).values_list(attname, "pk"))
    return ids


def _copy(
    connection: BaseDatabaseWrapper,
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    columns: Columns,
    returning: str | None,
) -> dict[Any, int]:
    """PostgreSQL: COPY, with ids drawn from the table's sequence first when the caller needs them."""
    quote = connection.ops.quote_name
    table, pk = model._meta.db_table, column_of(model._meta.pk)
    names = columns.names
    with connection.cursor() as cursor:
        ids: list[int] = []
        if returning is not None:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [quote(table), pk, len(rows)],
            )
            ids = [pk_value for (pk_value,) in cursor.fetchall()]
            names = [pk, *names]
        statement = f"COPY {quote(table)} ({', '.join(map(quote, names))}) FROM STDIN"
        with cursor.cursor.copy(statement) as copy:  # the psycopg cursor under Django's wrapper
            if returning is None:
                for row in rows:
                    copy.write_row(columns.values(row))
            else:
                for pk_value, row in zip(ids, rows, strict=True):
                    copy.write_row([pk_value, *columns.values(row)])
    return {row[returning]: pk_value for pk_value, row in zip(ids, rows, strict=True)} if returning else {}


def _insert_values(
    connection: BaseDatabaseWrapper,
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    columns: Columns,
    returning: str | None,
) -> dict[Any, int]:
    """Other databases: ``INSERT … VALUES (…), (…)`` as many rows a statement as the database takes, returning
    the new ids where it can."""
    quote = connection.ops.quote_name
    meta = model._meta
    returns = returning is not None and connection.features.can_return_rows_from_bulk_insert
    per_statement = max(1, min(_max_parameters(connection) // len(columns.names), MAX_ROWS_PER_STATEMENT))
    one_row = "(" + ", ".join(["%s"] * len(columns.names)) + ")"
    # Only names from the model's metadata, quoted, go into the statement; every value is a parameter.
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(map(quote, columns.names))}) VALUES "  # noqa: S608
    tail = ""
    if returning is not None and returns:
        tail = f" RETURNING {quote(column_of(meta.get_field(returning)))}, {quote(column_of(meta.pk))}"
    ids: dict[Any, int] = {}
    with connection.cursor() as cursor:
        if not returns:  # one statement, bound once per row by the driver
            cursor.executemany(head + one_row, [columns.values(row) for row in rows])
            return {} if returning is None else ids_by(model, returning, [row[returning] for row in rows])
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                head + ", ".join([one_row] * len(chunk)) + tail,
                [value for row in chunk for value in columns.values(row)],
            )
            if returns:
                ids.update(cursor.fetchall())
    if returning is not None and not returns:  # a database that cannot say which ids it gave: ask it
        ids = ids_by(model, returning, [row[returning] for row in rows])
    return ids


def _max_parameters(connection: BaseDatabaseWrapper) -> int:
    """How many parameters one statement may hold. SQLite says what it was built with (32,766 by default since
    3.32; Django assumes 999, the older default, which held an insert of 19 columns to 52 rows a statement)."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return connection.features.max_query_params or MAX_ROWS_PER_STATEMENT * 100


def column_of(field: models.Field[Any, Any] | models.ForeignObjectRel | None) -> str:
    if not isinstance(field, models.Field):
        raise ValueError(f"{field} is not a column.")
    column = field.get_attname_column()[1]
    if column is None:
        raise ValueError(f"{field} is not a column.")
    return column


def _prepared_default(field: models.Field[Any, Any], now: Any, connection: BaseDatabaseWrapper) -> Any:
    auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    return field.get_db_prep_save(now if auto else field.get_default(), connection)


def _preparer(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> Callable[[Any], Any] | None:
    if isinstance(field, PASSED_AS_IS):
        return None
    return lambda value: field.get_db_prep_save(value, connection)
