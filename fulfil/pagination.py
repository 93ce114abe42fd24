"""Pages of long lists: the API's (counted or estimated, by offset or by keyset) and the admin's."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from fulfil.database import is_postgresql, table_row_estimate

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


class CountingPages(LimitOffsetPagination):
    """`limit`/`offset` pages whose `count` is exact below EXACT_COUNT_BELOW rows and PostgreSQL's
    estimate above it (`count_is_exact` says which; `?count=exact` asks for the exact one, which
    takes time in proportion to the rows), so a page costs the same at ten million products as at
    ten thousand. With `cursor` in the query (empty to start), pages are keyset pages instead
    (see KeysetPages): deep pages then cost no more than the first."""

    count_query_param = "count"
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any] | None:
        self.keyset: KeysetPages | None = None
        if self.cursor_query_param in request.query_params:
            self.keyset = KeysetPages()
            return self.keyset.paginate_queryset(queryset, request, view)
        page = super().paginate_queryset(queryset, request, view)
        self.page_size = len(page) if page is not None else 0
        return page

    def get_count(self, queryset: QuerySet[Any]) -> int:  # type: ignore[override]
        assert self.request is not None
        raw = self.request.query_params.get(self.count_query_param, "")
        if raw not in ("", "exact"):
            raise exceptions.ValidationError({self.count_query_param: ["Give count=exact, or leave it out."]})
        estimate = None if raw == "exact" else estimated_count(queryset)
        self.count_is_exact = estimate is None or estimate < EXACT_COUNT_BELOW
        return queryset.count() if self.count_is_exact else max(estimate or 0, 0)

    def get_next_link(self) -> str | None:
        if not self.count_is_exact and self.page_size == self.limit:
            # An estimate may fall short of the real count: a full page always has a next one.
            assert self.request is not None and self.offset is not None
            url = replace_query_param(self.request.build_absolute_uri(), self.limit_query_param, self.limit)
            return replace_query_param(url, self.offset_query_param, self.offset + self.limit)
        return super().get_next_link()

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
            "description": "false when `count` is PostgreSQL's estimate (above 100,000 rows); ?count=exact counts",
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
    ten-thousandth page costs what the first does. No count."""

    ordering = ("-created_at",)
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 1000

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> tuple[str, ...]:
        # Rows sharing the ordering's value (a chunk of an import shares created_at) are told apart
        # by the primary key, so every page continues exactly where the last one ended.
        ordering = tuple(super().get_ordering(request, queryset, view))
        return ordering if ordering[-1].lstrip("-") in ("pk", "id") else (*ordering, "pk")

    def decode_cursor(self, request: Request) -> Any:
        if not request.query_params.get(self.cursor_query_param):
            return None  # `cursor=` (empty): the first page
        return super().decode_cursor(request)
