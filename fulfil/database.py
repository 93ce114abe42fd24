"""What FulFil does differently on PostgreSQL and on the embedded SQLite default, in one place.

Domain code asks these functions instead of checking `connection.vendor`: PostgreSQL gets the
locks, relaxed commits, planner estimates and parallel writers it supports; SQLite (one writer
at a time, one process in the quick start) gets the plain equivalent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connection, connections, migrations, transaction
from django.db.backends.signals import connection_created
from django.db.models import BooleanField, Model, Q, QuerySet
from django.db.models.expressions import RawSQL

logger = logging.getLogger(__name__)
T = TypeVar("T")


def is_postgresql(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


class PostgresOnlySQL(migrations.RunSQL):
    """A migration's SQL that only PostgreSQL runs (indexes SQLite has no use for)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


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


# A transaction that fails for a reason that passes (the connection cut or the server restarting,
# a deadlock PostgreSQL broke, a lock wait past lock_timeout) is tried again for this long.
RETRY_SECONDS = 120.0
_RETRY_FIRST_WAIT = 0.5
_RETRY_LONGEST_WAIT = 10.0


def is_transient(exc: BaseException) -> bool:
    """A database error that trying again can cure: a lost connection, a deadlock, a lock timeout."""
    return isinstance(exc, OperationalError | InterfaceError)


def with_retries(work: Callable[[], T], *, what: str, seconds: float = RETRY_SECONDS) -> T:
    """Run `work` (one transaction, or a statement in autocommit) until it succeeds, trying again
    after transient errors with a growing pause, on a fresh connection when the old one broke,
    for up to `seconds`. Inside a caller's transaction it runs once: that transaction is the
    caller's to retry."""
    if connection.in_atomic_block:
        return work()
    deadline = time.monotonic() + seconds
    wait = _RETRY_FIRST_WAIT
    while True:
        try:
            return work()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + wait > deadline:
                raise
            logger.warning("%s: %s; trying again in %.1f s", what, str(exc).strip() or type(exc).__name__, wait)
            connection.close_if_unusable_or_obsolete()  # a broken one is opened afresh next time
            time.sleep(wait)
            wait = min(wait * 2, _RETRY_LONGEST_WAIT)


def set_lock_timeout(seconds: float) -> None:
    """Inside a transaction: give up a row lock wait after `seconds` (PostgreSQL), as an error
    with_retries tries again, so no wait on another transaction lasts for ever."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(seconds * 1000)}ms"])


# Rows deleted per statement by delete_in_batches.
DELETE_BATCH = 5000


def delete_in_batches(queryset: QuerySet[Any]) -> int:
    """Delete what `queryset` selects DELETE_BATCH rows at a time, each its own short statement, so
    no single statement runs long or holds many locks; returns how many."""
    deleted = 0
    while ids := list(queryset.order_by().values_list("pk", flat=True)[:DELETE_BATCH]):
        deleted += queryset.model._default_manager.filter(pk__in=ids).delete()[0]
    return deleted


def in_values(column: str, values: Sequence[str]) -> Q | RawSQL:
    """A filter for "`column` is one of `values`" (text) that costs the same for five values or
    five thousand: on PostgreSQL one parameter instead of a placeholder per value, whose planning
    grows with their number; elsewhere the usual IN. The parameter is the values as one JSON
    array, quoted in one call, where an array parameter would be quoted value by value in Python
    (a fifth of an import's time went there)."""
    if not is_postgresql():
        return Q(**{f"{column}__in": values})
    condition = f'"{column}" = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))'
    return RawSQL(condition, (json.dumps(list(values)),), output_field=BooleanField())  # noqa: S611 - our column


QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout


def is_query_canceled(exc: BaseException) -> bool:
    """Whether a database error is a statement stopped by statement_timeout."""
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED


@contextlib.contextmanager
def local_setting(name: str, value: str, using: str = "default") -> Iterator[None]:
    """Run the block in a transaction of its own (a savepoint inside the caller's) with the
    PostgreSQL setting `name` at `value`. Afterwards the setting is as it was, and an error in the
    block undoes the block alone. Elsewhere just runs the block."""
    if not is_postgresql(using):
        yield
        return
    database = connections[using]
    nested = database.in_atomic_block
    with transaction.atomic(using=using):
        with database.cursor() as cursor:
            cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
            previous = cursor.fetchone()[0]
        yield
        if nested:  # the setting would otherwise last until the caller's transaction ends
            with database.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, %s, true)", [name, previous])


def within(milliseconds: int, read: Callable[[], T], using: str = "default") -> T | None:
    """What `read` returns, or None when its queries could not finish within `milliseconds` on
    PostgreSQL: they are stopped there, and nothing else of the caller's transaction with them.
    Elsewhere always read."""
    try:
        with local_setting("statement_timeout", f"{milliseconds}ms", using):
            return read()
    except OperationalError as exc:
        if is_query_canceled(exc):
            return None
        raise


def count_within(queryset: QuerySet[Any], milliseconds: int) -> int | None:
    """How many rows `queryset` selects, or None when PostgreSQL could not count them within
    `milliseconds` (see within)."""
    return within(milliseconds, queryset.count, queryset.db)


@contextlib.contextmanager
def matches_first(using: str = "default") -> Iterator[None]:
    """Plan the block's queries without plain index scans, so that PostgreSQL reads a filtered,
    ordered page by finding every match first (through the filter's indexes) and sorting them.

    For a filter known to match few rows of a large table. The planner cannot tell how many rows
    a substring matches (it assumes at least one in ten thousand per condition), so for a rare
    word it walks the ordering's index through the table looking for a page of matches: a SKU
    number searched among ten million products took 28 s that way and 11 ms this way.
    """
    with local_setting("enable_indexscan", "off", using):
        yield


def limit_statement_time() -> None:
    """From now on, every new PostgreSQL connection of this process stops a statement after
    WEB_STATEMENT_TIMEOUT_MS (the web process calls it: a pathological search must not hold a
    worker for minutes; Celery workers, whose imports run long statements, do not)."""
    connection_created.connect(_set_statement_timeout, dispatch_uid="fulfil-statement-timeout")


def _set_statement_timeout(sender: object, connection: Any, **kwargs: object) -> None:
    if connection.vendor == "postgresql":
        from django.conf import settings

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, false)", [f"{settings.WEB_STATEMENT_TIMEOUT_MS}ms"]
            )
