"""Telling "the database went away" apart from every other database error (issue 13, item 9).

A connection refused, a server that closed the connection (restarted, failed over, or an administrator ended the
session) or a connection Django already knows is closed all mean the same thing to the workbench: nothing is wrong
with the request or the job, the database is unavailable for now, try again shortly. A deadlock, a statement
timeout, a constraint or a locked SQLite file are other errors and stay what they are.

Used by the middleware that answers 503 (``medes_site.middleware``), the health check, and the job runner, which
re-queues a job that died only because of it (``medes_site.jobs``).
"""

from __future__ import annotations

import contextlib
import sqlite3

from django.db import DatabaseError, InterfaceError, OperationalError, connections

# PostgreSQL: class 08 is "connection exception"; 57P01-03 are the server shutting down or starting up.
_PG_CONNECTION_STATES = ("57P01", "57P02", "57P03")


def is_connection_error(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an error it was raised from, says the database connection failed or was lost."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if _lost_connection(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _lost_connection(exc: BaseException) -> bool:
    if isinstance(exc, InterfaceError):  # "connection already closed": Django's wrapper around a dead connection
        return True
    if not isinstance(exc, OperationalError):
        return False
    driver = exc.__cause__
    if isinstance(driver, sqlite3.OperationalError):
        return (getattr(driver, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_CANTOPEN
    state = getattr(driver, "sqlstate", None) or getattr(driver, "pgcode", None)
    if state is None:  # psycopg raises errors of the connection itself without a SQLSTATE
        return driver is not None and type(driver).__module__.startswith("psycopg")
    return str(state).startswith("08") or state in _PG_CONNECTION_STATES


def forget_broken_connections() -> None:
    """Close this thread's connections that failed, so the next query opens a new one (Django reconnects only a
    connection it has closed; a broken one raises "connection already closed" for ever)."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block:
            with contextlib.suppress(DatabaseError):
                conn.close()


def database_answers(alias: str = "default") -> bool:
    """Whether a new connection to the database can be opened and answers a query."""
    conn = connections[alias]
    try:
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        if not is_connection_error(exc):
            raise
        forget_broken_connections()
        return False
    return True
