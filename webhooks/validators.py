"""Field validators for webhooks, shared by the model (so the admin form), the API and the services.
The headers' validator is part of the header policy, in webhooks.headers."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from webhooks.events import EVENTS
from webhooks.signing import standard_key
from webhooks.transport import host_refusal_reason, refusal_reason

# What may follow the host and port in a URL (RFC 3986): unreserved characters, percent-escapes
# and the delimiters. Anything else (spaces, non-ASCII) must be percent-encoded.
_URI_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})"
URI_TAIL = rf"(?:/{_URI_CHAR}*)?(?:\?(?:{_URI_CHAR}|\?)*)?(?:#(?:{_URI_CHAR}|\?)*)?"
_URL = re.compile(rf"https?://[^/?#]+{URI_TAIL}", re.IGNORECASE)


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
    if not (url.isascii() and _URL.fullmatch(url)):
        raise ValidationError(
            "Percent-encode spaces and characters other than ASCII letters, digits and URL punctuation.",
            code="characters",
        )
    if parts.username or parts.password:
        raise ValidationError("Put credentials in a custom header, not in the URL.", code="credentials")
    reason = host_refusal_reason(host)
    if reason:
        raise ValidationError(f"{host} is {reason}; webhooks may not call it.", code="address")
    address: str | None
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


def validate_secret(secret: str) -> None:
    try:
        standard_key(secret)
    except ValueError as exc:
        raise ValidationError(str(exc), code="secret") from None
