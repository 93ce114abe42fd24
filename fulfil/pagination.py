from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_COUNT_BELOW = 100_000


def table_row_estimate(model, using: str = "default") -> int | None:
    """The planner's row estimate for a model's table on PostgreSQL (kept fresh by autovacuum);
    None elsewhere or before the table was first analysed."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    """Admin paginator that does not count a large unfiltered table on every page load.

    With no filter or search, a table the planner estimates at 100,000 rows or more shows the
    estimate; a filtered list, or a small table, is counted exactly.
    """

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            estimate = table_row_estimate(self.object_list.model, self.object_list.db)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count
