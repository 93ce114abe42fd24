"""Pages of long lists: the API's (counted or estimated, by offset or by keyset) and the admin's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Count, QuerySet, Window
from django.forms import BaseModelFormSet
from django.utils.functional import cached_property
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from fulfil.database import count_within, is_postgresql, matches_first, table_row_estimate, within

EXACT_COUNT_BELOW = 100_000
# A filtered list of a table of more than SAMPLE_TABLES_ABOVE rows is first counted in a sample of
# about SAMPLE_ROWS rows (see sampled_count and quick_count).
SAMPLE_TABLES_ABOVE = EXACT_COUNT_BELOW
SAMPLE_ROWS = 2_000
# The name under which a page read with its count carries the count (see page_with_count).
COUNT_ALIAS = "_rows_in_list"
T = TypeVar("T")


class EstimatedCountPaginator(Paginator):
    """Admin paginator whose count costs about the same at ten million products as at ten
    thousand (see quick_count), and whose pages are read as read_page says: a page's objects are
    a list, so a list with editable columns takes its formset from PageFormSet."""

    # The number of the page the list will show (ModelAdmin.get_paginator sets it from the request):
    # counting may read it on the way (see quick_count), and page() then takes it as read.
    shown_page: Any = 1
    counted: Counted | None = None  # what counting found (a list that is not a queryset: None)

    @property
    def count_is_exact(self) -> bool:  # the admin's pagination template says "about" when it is not
        return self.counted is None or self.counted.exact

    @cached_property
    def count(self) -> int:
        objects = self.object_list
        if not isinstance(objects, QuerySet):
            return super().count
        counted = self.counted = quick_count(objects, self.per_page, self._shown_offset())
        # An estimate can fall far short (a search's): never let it make the list one unpaged page.
        return counted.total if counted.exact else max(counted.total, self.per_page + 1)

    def _shown_offset(self) -> int | None:
        """Where the shown page starts, if it is a plain page (no orphans joined to it)."""
        try:
            number = int(self.shown_page)
        except (TypeError, ValueError):
            return None
        return (number - 1) * self.per_page if number >= 1 and not self.orphans else None

    def _read_at(self, offset: int) -> list[Any] | None:
        """The rows counting read, if it read the page at `offset`."""
        if self.counted is None or self.counted.rows is None or offset != self._shown_offset():
            return None
        return self.counted.rows

    def whole_list(self) -> list[Any] | None:
        """The whole list when it fits the first page and was read with its count, else None."""
        return self._read_at(0) if self.count <= self.per_page else None

    def page(self, number: Any) -> Page:
        objects = self.object_list
        if not isinstance(objects, QuerySet):
            return super().page(number)
        # Django's, but a page ends where the count says only when the count is exact.
        number = self.validate_number(number)  # counts: self.counted is set
        assert self.counted is not None
        bottom = (number - 1) * self.per_page
        if (rows := self._read_at(bottom)) is not None:
            return Page(rows, number, self)
        top = bottom + self.per_page
        if self.count_is_exact and top + self.orphans >= self.count:
            top = self.count
        counted = self.counted._replace(total=self.count)  # never one unpaged page (see count)
        rows, self.counted = read_counted_page(objects, objects[bottom:top], bottom, self.per_page, counted)
        self.__dict__["count"] = self.counted.total  # cached_property's value
        return Page(rows, number, self)


class PageFormSet(BaseModelFormSet):
    """The formset of an admin list's editable columns (ModelAdmin.get_changelist_formset's
    `formset`) when its page was read by EstimatedCountPaginator: the rows as they were read."""

    def get_queryset(self) -> Any:
        if isinstance(self.queryset, list):
            return self.queryset
        return super().get_queryset()


def estimated_count(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of how many rows `queryset` selects (table statistics for the whole
    table, the planner's for a filtered one): about a millisecond, whatever the table's size.
    None on other databases."""
    if not is_postgresql(queryset.db):
        return None
    if not queryset.query.where:
        return table_row_estimate(queryset.model, queryset.db)
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def sampled_count(queryset: QuerySet[Any], table: int) -> int | None:
    """How many rows of its table `queryset` selects by a count of those in a sample of about
    SAMPLE_ROWS of them (whole pages, the same ones each time, so that pages of a list agree),
    scaled to the `table`'s rows: 5 to 7 ms at ten million products. None for a table of at most
    SAMPLE_TABLES_ABOVE rows, a query of more than one table, and on other databases.

    The planner's estimate of a substring search is a guess (at least one row in ten thousand per
    condition), so a search of two common words would otherwise be counted until
    EXACT_COUNT_TIMEOUT_MS gave way: 100 ms at ten million products before the page was read.
    """
    if table <= SAMPLE_TABLES_ABOVE:
        return None
    query = queryset.order_by().values("pk").query
    if len(query.alias_map) != 1:
        return None
    connection = connections[queryset.db]
    sql, params = query.get_compiler(queryset.db).as_sql()
    name = connection.ops.quote_name(queryset.model._meta.db_table)
    percent = min(100.0, 100 * SAMPLE_ROWS / table)
    sampled = sql.replace(f"FROM {name}", f"FROM {name} TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (0)", 1)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sampled}) AS sampled", params)  # noqa: S608 - our own SQL
        row = cursor.fetchone()
    return round(row[0] * 100 / percent)


class Counted(NamedTuple):
    """How many rows a list selects, whether that is exact, and the page asked for if counting
    read it on the way (else None)."""

    total: int
    exact: bool
    rows: list[Any] | None = None
    table: int | None = None  # the table's rows, where counting looked them up (see few_matches)


def quick_count(queryset: QuerySet[Any], page_size: int, offset: int | None = None) -> Counted:
    """How many rows `queryset` selects, and whether that is exact; with an `offset`, maybe its
    page of `page_size` rows there too.

    Exact when PostgreSQL estimates fewer than EXACT_COUNT_BELOW rows and the count takes at most
    EXACT_COUNT_TIMEOUT_MS (or comes with the page, below); otherwise an estimate. A search on a
    large catalogue is where they part: the planner cannot tell how many rows a substring
    matches, and counting half a million matches among ten million rows takes seconds. So a
    filtered list of a large table is first
    counted in a sample (sampled_count): one with too many matches to find them all quickly (see
    few_matches) is not counted, and answers the sample's count; one with few is counted and its
    page read in one query through its matches (page_with_count), since both would find every
    match. Always exact on other databases.
    """
    estimate = estimated_count(queryset)
    if estimate is None:
        return Counted(queryset.count(), True)
    if estimate >= EXACT_COUNT_BELOW:
        return Counted(estimate, False)
    if not queryset.query.where:  # a table of fewer than 100,000 rows: counted in milliseconds
        return Counted(queryset.count(), True)
    table = table_row_estimate(queryset.model, queryset.db) or 0  # 0 when never analysed: not looked up again
    sampled = sampled_count(queryset, table)
    if sampled is not None and not few_matches(queryset, sampled, page_size, table):
        return Counted(sampled, False, table=table)
    if sampled is not None and offset is not None:
        # Few matches: the page is read through them (as read_page would), and the count comes with it.
        with matches_first(queryset.db):
            rows, count = page_with_count(queryset, offset, page_size)
        if count is not None:
            return Counted(count, True, rows, table)
    counted = count_within(queryset, settings.EXACT_COUNT_TIMEOUT_MS)
    if counted is not None:
        return Counted(counted, True, table=table)
    return Counted(max(estimate, sampled or 0), False, table=table)


def page_with_count(queryset: QuerySet[Any], offset: int, page_size: int) -> tuple[list[Any], int | None]:
    """The page of `queryset` at `offset`, and how many rows the queryset selects, in one query (a
    window count over all of them): None for the count when the page is empty past the start."""
    counted = queryset.annotate(**{COUNT_ALIAS: Window(Count("pk"))})
    rows = list(counted[offset : offset + page_size])
    if rows:
        return rows, getattr(rows[0], COUNT_ALIAS)
    return rows, 0 if offset == 0 else None


def read_page(queryset: QuerySet[Any], counted: Counted, page_size: int, read: Callable[[], T]) -> T:
    """A page of `queryset` (`read` reads it), read the way that suits how many rows match, as
    `counted` says.

    PostgreSQL's planner cannot tell how many rows a substring search matches (it assumes at
    least one in ten thousand per condition), so it reads a page by walking the list's order until
    a page of matches turns up: at once for a common word, through the whole table for a rare one
    (28 s for a SKU number among ten million products). So: a list counted as matching few rows
    (few_matches) is read matches first; a filtered list whose count gave way to the estimate
    (it matches many rows, or only a few among many candidates) is read the planner's way for at
    most EXACT_COUNT_TIMEOUT_MS, then matches first; any other list the planner's way.
    """
    if not queryset.query.where or not is_postgresql(queryset.db):
        return read()
    if counted.exact and few_matches(queryset, counted.total, page_size, counted.table):
        with matches_first(queryset.db):
            return read()
    if not counted.exact and counted.total < EXACT_COUNT_BELOW:  # the count gave way
        rows = within(settings.EXACT_COUNT_TIMEOUT_MS, read, queryset.db)
        if rows is not None:
            return rows
        with matches_first(queryset.db):
            return read()
    return read()


def read_counted_page(
    queryset: QuerySet[Any], rows: QuerySet[Any], offset: int, page_size: int, counted: Counted
) -> tuple[list[Any], Counted]:
    """The page `rows` of `queryset` (starting at `offset`), read as read_page says, with what
    `counted` becomes once the page is read: a page that is not full ends the list, so it gives the exact
    count whatever was estimated (an empty page only at the start, where nothing was skipped),
    and an estimate never says fewer rows than the pages so far have shown (the planner's guess
    for a search of two words can be a single row)."""
    page = read_page(queryset, counted, page_size, lambda: list(rows))
    if not counted.exact and len(page) < page_size and (page or offset == 0):
        return page, counted._replace(total=offset + len(page), exact=True)
    if not counted.exact and page:
        return page, counted._replace(total=max(counted.total, offset + len(page)))
    return page, counted


def few_matches(queryset: QuerySet[Any], count: int, page_size: int, table: int | None = None) -> bool:
    """Whether a filtered list's `count` matching rows are few enough that a page of them is read
    faster by finding them all and sorting them (database.matches_first) than by walking the
    ordering's index until a page of them turns up, as the planner would for a search it cannot
    estimate. Walking reads about page_size * table / count rows, finding them all about count:
    the two cost the same near count² = page_size * table (looked up unless given)."""
    if table is None:
        table = table_row_estimate(queryset.model, queryset.db)
    return table is not None and count * count < page_size * table


class CountingPages(LimitOffsetPagination):
    """`limit`/`offset` pages whose `count` is exact or PostgreSQL's estimate (quick_count;
    `count_is_exact` says which; `?count=exact` asks for the exact one, which takes time in
    proportion to the rows), so a page costs the same at ten million products as at ten
    thousand. With `cursor` in the query (empty to start), pages are keyset pages instead
    (see KeysetPages): deep pages then cost no more than the first."""

    count_query_param = "count"
    cursor_query_param = "cursor"
    template = "rest_framework/pagination/counted.html"  # the browsable API: the count, "about" if estimated
    count_is_exact: bool

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any] | None:
        self.keyset: KeysetPages | None = None
        if self.cursor_query_param in request.query_params:
            self.keyset = KeysetPages()
            return self.keyset.paginate_queryset(queryset, request, view)
        # LimitOffsetPagination's, but an estimated count neither ends the list early nor says it is
        # empty, and a page of few matches is read matches first.
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        counted = self.get_count(queryset)
        if counted.total > self.limit and self.template is not None:
            self.display_page_controls = True
        page: list[Any] = counted.rows or []
        if counted.rows is None and (not counted.exact or self.offset < counted.total):
            rows = queryset[self.offset : self.offset + self.limit]
            page, counted = read_counted_page(queryset, rows, self.offset, self.limit, counted)
        self.count, self.count_is_exact = counted.total, counted.exact
        self.page_size = len(page)
        return page

    def get_count(self, queryset: QuerySet[Any]) -> Counted:  # type: ignore[override]
        assert self.request is not None and self.limit is not None
        raw = self.request.query_params.get(self.count_query_param, "")
        if raw not in ("", "exact"):
            raise exceptions.ValidationError({self.count_query_param: ["Give count=exact, or leave it out."]})
        if raw == "exact":
            return Counted(queryset.count(), True)
        return quick_count(queryset, self.limit, self.offset)

    def get_next_link(self) -> str | None:
        if not self.count_is_exact and self.page_size == self.limit:
            # An estimate may fall short of the real count: a full page always has a next one.
            assert self.request is not None and self.offset is not None
            url = replace_query_param(self.request.build_absolute_uri(), self.limit_query_param, self.limit)
            return replace_query_param(url, self.offset_query_param, self.offset + self.limit)
        return super().get_next_link()

    def get_html_context(self) -> dict[str, Any]:  # type: ignore[override]  # DRF's, plus the count
        return {**super().get_html_context(), "count": self.count, "count_is_exact": self.count_is_exact}

    def get_paginated_response(self, data: Any) -> Response:
        if self.keyset is not None:
            return self.keyset.get_paginated_response(data)
        return Response(
            {
                "count": self.count,
                "count_is_exact": self.count_is_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count_is_exact"] = {
            "type": "boolean",
            "description": (
                "false when `count` is PostgreSQL's estimate (above 100,000 rows, or a count that would"
                " take longer than EXACT_COUNT_TIMEOUT_MS); ?count=exact counts"
            ),
        }
        response["properties"]["count"]["description"] = "Absent from keyset pages (`cursor`)."
        response["required"] = ["results"]  # keyset pages have no count
        return response

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.count_query_param,
                "required": False,
                "in": "query",
                "description": "exact: count exactly however many rows match (slow on large tables).",
                "schema": {"type": "string", "enum": ["exact"]},
            },
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Keyset paging: give it empty for the first page, then follow `next`.",
                "schema": {"type": "string"},
            },
        ]


class KeysetPages(CursorPagination):
    """Keyset (cursor) pages, ordered by the list's `ordering` (created_at by default, newest
    first): each page starts where the last one ended, through the ordering's index, so the
    ten-thousandth page costs what the first does. No count (a filtered list is counted, within
    EXACT_COUNT_TIMEOUT_MS, only to choose how to read a page of few matches)."""

    ordering = ("-created_at",)
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 1000

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> tuple[str, ...]:
        # Rows sharing the ordering's value (a chunk of an import shares created_at) are told apart
        # by the primary key, so every page continues exactly where the last one ended.
        ordering = tuple(super().get_ordering(request, queryset, view))
        return ordering if ordering[-1].lstrip("-") in ("pk", "id") else (*ordering, "pk")

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any] | None:
        def read() -> list[Any] | None:
            return super(KeysetPages, self).paginate_queryset(queryset, request, view)

        if not queryset.query.where:
            return read()
        page_size = self.get_page_size(request) or self.page_size
        return read_page(queryset, quick_count(queryset, page_size), page_size, read)

    def decode_cursor(self, request: Request) -> Any:
        if not request.query_params.get(self.cursor_query_param):
            return None  # `cursor=` (empty): the first page
        return super().decode_cursor(request)
