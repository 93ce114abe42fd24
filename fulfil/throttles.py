"""Request throttles (DRF): per address for anonymous callers, per user for writes, uploads and
webhook test sends. Rates come from settings.API_THROTTLE_RATES when a request is counted, so a
test (or an operator's settings) can change them; counts live in the default cache.

A cache that cannot be reached lets the request through: a Redis outage must not turn every
write into an error (the outbox keeps the events; see webhooks.outbox).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _FailOpen(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope) if self.scope else None

    def allow_request(self, request: Request, view: Any) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache's client raises its own connection errors
            logger.warning("throttle %s not applied: the cache is unreachable (%s)", self.scope, exc)
            return True


class AnonThrottle(_FailOpen, AnonRateThrottle):
    """Anonymous callers (the health check, the schema), counted per client address."""

    scope = "anon"


class WriteThrottle(_FailOpen, UserRateThrottle):
    """Writes (POST, PUT, PATCH, DELETE) by a signed-in user, counted per user."""

    scope = "write"

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method not in WRITE_METHODS or not request.user.is_authenticated:
            return True
        return super().allow_request(request, view)


# Actions with a rate of their own, on top of the write throttle: (router basename, action) to scope.
ACTION_SCOPES = {
    ("upload", "create"): "upload",  # CSV uploads
    ("webhook", "test"): "webhook_test",  # each may hold a web worker for the webhook's timeout
}


class ActionThrottle(WriteThrottle):
    """The actions in ACTION_SCOPES, per user, each at its scope's rate."""

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = ACTION_SCOPES.get((str(getattr(view, "basename", "")), str(getattr(view, "action", ""))), "")
        if not self.scope:
            return True
        return super().allow_request(request, view)
