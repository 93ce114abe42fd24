"""What FulFil does differently on PostgreSQL and on the embedded SQLite default, in one place.

Domain code asks these functions instead of checking `connection.vendor`: PostgreSQL gets the
locks, relaxed commits, planner estimates and parallel writers it supports; SQLite (one writer
at a time, one process in the quick start) gets the plain equivalent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection, connections
from django.db.models import Model


def is_postgresql(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def parallel_writers_supported() -> bool:
    """Whether more than one connection can usefully write at once (SQLite serialises writers),
    and whether this connection is free to hand work to others (data written inside a caller's
    transaction is visible only there)."""
    return is_postgresql() and not connection.in_atomic_block


@contextlib.contextmanager
def session_lock(namespace: int, key: int) -> Iterator[bool]:
    """Try to take a lock on (namespace, key) for this connection's session; yields whether it was
    taken. On PostgreSQL an advisory lock, which dies with the connection, so a killed process
    never leaves it behind. Elsewhere always taken (one process runs the quick start's jobs)."""
    if not is_postgresql():
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def relax_commit() -> None:
    """Inside a transaction: let its commit return before the WAL is flushed (PostgreSQL).

    A database crash can then lose the last few such transactions, never half of one; use it
    only where the work is recorded in the same transaction and would simply be redone."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def table_row_estimate(model: type[Model], using: str = "default") -> int | None:
    """The planner's row estimate for a model's table on PostgreSQL (kept fresh by autovacuum);
    None elsewhere or before the table was first analysed."""
    if not is_postgresql(using):
        return None
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None
