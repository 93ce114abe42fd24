"""Field validators for webhooks, shared by the model (so the admin form), the API and the services."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from webhooks.events import EVENTS
from webhooks.signing import standard_key
from webhooks.transport import HEADER_NAME, HEADER_VALUE, refusal_reason

MAX_HEADERS = 20
MAX_HEADER_NAME_LENGTH = 100
MAX_HEADER_VALUE_LENGTH = 1000
MAX_HEADERS_TOTAL_BYTES = 4096
# Set by FulFil on every request, or framing headers the HTTP client must own.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "host",
        "user-agent",
        "x-webhook-event",
        "x-webhook-signature",
        "x-webhook-test",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)


def validate_webhook_url(url: str) -> None:
    """http or https (https only with WEBHOOK_REQUIRE_HTTPS), a host, and no address known to be internal.

    Names are resolved when delivering, on every attempt; here only what the URL itself says
    (an IP literal, localhost) is checked, since DNS answers may change after saving.
    """
    parts = urlsplit(url)
    allowed = ("https",) if settings.WEBHOOK_REQUIRE_HTTPS else ("http", "https")
    if parts.scheme not in allowed:
        raise ValidationError(
            "Only https:// URLs are allowed."
            if allowed == ("https",)
            else "Only http:// and https:// URLs are allowed.",
            code="scheme",
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationError("The URL needs a host.", code="host")
    if parts.username or parts.password:
        raise ValidationError("Put credentials in a custom header, not in the URL.", code="credentials")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        address = "127.0.0.1" if host == "localhost" or host.endswith(".localhost") else None
    if address:
        reason = refusal_reason(address, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
        if reason:
            raise ValidationError(f"{host} is {reason}; webhooks may not call it.", code="address")


def validate_events(events: object) -> None:
    if not isinstance(events, list) or not all(isinstance(event, str) for event in events):
        raise ValidationError("Give a list of event names.", code="type")
    if not events:
        raise ValidationError("Choose at least one event.", code="empty")
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise ValidationError(
            "Unknown event(s): %(unknown)s. Known: %(known)s.",
            code="unknown",
            params={"unknown": ", ".join(unknown), "known": ", ".join(EVENTS)},
        )


def validate_headers(headers: object) -> None:
    if not isinstance(headers, dict):
        raise ValidationError("Give an object of header names and values.", code="type")
    if len(headers) > MAX_HEADERS:
        raise ValidationError(f"At most {MAX_HEADERS} custom headers.", code="too_many")
    seen: set[str] = set()
    total = 0
    for name, value in headers.items():
        if not isinstance(name, str) or not HEADER_NAME.fullmatch(name) or len(name) > MAX_HEADER_NAME_LENGTH:
            raise ValidationError(f"{name!r} is not a valid header name.", code="name")
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError(f"{name} is set by FulFil and cannot be overridden.", code="reserved")
        if name.lower() in seen:
            raise ValidationError(f"{name} is given twice.", code="duplicate")
        seen.add(name.lower())
        if not isinstance(value, str):
            raise ValidationError(f"The value of {name} must be a string.", code="value")
        if len(value) > MAX_HEADER_VALUE_LENGTH:
            raise ValidationError(
                f"The value of {name} is longer than {MAX_HEADER_VALUE_LENGTH} characters.", code="too_long"
            )
        if any(char in value for char in "\r\n\x00"):
            raise ValidationError(f"The value of {name} may not contain line breaks.", code="value")
        if value != value.strip(" \t"):
            raise ValidationError(f"The value of {name} may not start or end with a space or tab.", code="value")
        if not HEADER_VALUE.fullmatch(value):
            raise ValidationError(
                f"The value of {name} may hold only visible ASCII characters, spaces and tabs.", code="value"
            )
        total += len(name) + len(value.encode())
    if total > MAX_HEADERS_TOTAL_BYTES:
        raise ValidationError(f"Custom headers may total at most {MAX_HEADERS_TOTAL_BYTES} bytes.", code="too_large")


def validate_secret(secret: str) -> None:
    try:
        standard_key(secret)
    except ValueError as exc:
        raise ValidationError(str(exc), code="secret") from None
