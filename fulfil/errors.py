"""Errors that services raise; the API, the admin and the command each turn them into their own
kind of answer (an HTTP status, a message, an exit code)."""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service refuses, with the HTTP status the API answers with."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, **extra: object) -> None:
        super().__init__(message)
        if code:
            self.code = code
        self.extra = extra


class Conflict(ServiceError):
    """The change clashes with the current state (for example a SKU that exists already)."""

    status_code = 409
    code = "conflict"


class NotFound(ServiceError):
    """What the change is about does not exist (any more): another request deleted it."""

    status_code = 404
    code = "not_found"
