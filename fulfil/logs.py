"""Structured logs: one JSON line per event on stdout, carrying the request id or Celery task id.

A request id comes from the caller's `X-Request-ID` (when it looks sane) or is made up, is sent
back in the response's `X-Request-ID`, and is on every line logged while the request runs; one
line per API request records method, path, status and duration. Inside a Celery task every line
carries the task id; import and delete-all lines also carry their job id.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

access_log = logging.getLogger("fulfil.request")


class ContextFilter(logging.Filter):
    """Adds request_id and task_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.task_id = _current_task_id()
        return True


def _current_task_id() -> str | None:
    from celery import current_task

    try:
        return current_task.request.id if current_task else None
    except Exception:  # outside a worker there may be no request context
        return None


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "request_id", "task_id", ...extra fields}."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


JsonFormatter.converter = time.gmtime

_CONTEXT = ("request_id", "task_id", "job_id")


class TextFormatter(logging.Formatter):
    """A line for a terminal: time, level, logger, the request, task and job ids there are (in
    brackets, nothing when there are none), message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = [f"{key}={value}" for key in _CONTEXT if (value := getattr(record, key, None)) is not None]
        record.context = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


class RequestIdMiddleware:
    """Gives each request an id (X-Request-ID), and logs one line per API request."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            if request.path.startswith("/api/"):
                user = getattr(request, "user", None)
                access_log.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        "user_id": user.pk if user is not None and user.is_authenticated else None,
                    },
                )
            return response
        finally:
            request_id.reset(token)
