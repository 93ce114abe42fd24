from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from fulfil.database import table_row_estimate

EXACT_COUNT_BELOW = 100_000


class EstimatedCountPaginator(Paginator):
    """Admin paginator that does not count a large unfiltered table on every page load.

    With no filter or search, a table the planner estimates at 100,000 rows or more shows the
    estimate; a filtered list, or a small table, is counted exactly.
    """

    @cached_property
    def count(self) -> int:
        objects = self.object_list
        if isinstance(objects, QuerySet) and not objects.query.where:
            estimate = table_row_estimate(objects.model, objects.db)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count
