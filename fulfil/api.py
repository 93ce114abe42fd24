"""API plumbing shared by every app: pagination and errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse, StreamingHttpResponse
from rest_framework import exceptions, status
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from fulfil.database import is_query_canceled
from fulfil.errors import ServiceError
from fulfil.pagination import CountingPages

logger = logging.getLogger(__name__)


class Pagination(CountingPages):
    """`limit`/`offset` paging; a limit above the maximum is capped, nonsense (or nothing) is a 400."""

    default_limit = 20
    max_limit = 1000

    max_offset = 10**12  # far beyond any table, and well inside the database's bigint

    def _parse(self, request, name: str, minimum: int, maximum: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({name: [f"Must be a whole number, got {raw!r}."]}) from None
        if not minimum <= value <= maximum:
            raise exceptions.ValidationError({name: [f"Must be between {minimum} and {maximum}."]})
        return value

    def get_limit(self, request) -> int:
        limit = self._parse(request, self.limit_query_param, 1, 10**9)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        return self._parse(request, self.offset_query_param, 0, self.max_offset) or 0

    def get_schema_operation_parameters(self, view):
        """The parameters as the schema says them, with the bounds _parse enforces."""
        bounds = {self.limit_query_param: (1, 10**9), self.offset_query_param: (0, self.max_offset)}
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] in bounds:
                minimum, maximum = bounds[parameter["name"]]
                parameter["schema"] = {"type": "integer", "minimum": minimum, "maximum": maximum}
        return parameters


class CSVRenderer(BaseRenderer):
    """Lets `Accept: text/csv` reach a view that streams its own CSV (an error report, the
    export); anything else it renders (an error) goes out as JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode()


def csv_download(pieces: Iterator[str], filename: str) -> StreamingHttpResponse:
    """A streamed CSV attachment."""
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def exception_handler(exc, context):
    """DRF's handler, plus service errors (a Conflict is a 409) and model validation (a 400)."""
    if isinstance(exc, ServiceError):
        return Response({"detail": str(exc), "code": exc.code, **exc.extra}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if is_query_canceled(exc):
        logger.warning("query stopped at WEB_STATEMENT_TIMEOUT_MS: %s", context["request"].get_full_path())
        message = "The query took too long and was stopped; narrow the filters or search, or try again later."
        return Response({"detail": message, "code": "query_timeout"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()  # one message for every 404, whatever raised it
    return drf_exception_handler(exc, context)


class SingleValuedQueryMiddleware:
    """Under /api/, a query parameter given twice (`?limit=5&limit=x`) is a 400, not a silent choice
    of one: no parameter of the API takes a list."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if _wants_json(request):
            repeated = sorted(name for name, values in request.GET.lists() if len(values) > 1)
            if repeated:
                return JsonResponse({name: ["Give this parameter once."] for name in repeated}, status=400)
        return self.get_response(request)


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def json_404(request, exception=None):
    """404 handler: JSON under /api/, Django's page elsewhere."""
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_500(request):
    """500 handler: JSON under /api/, Django's page elsewhere. The traceback is logged, not shown."""
    if _wants_json(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    from django.views.defaults import server_error

    return server_error(request)
