"""The header policy of webhooks: which custom headers may be saved, and how they are shown.

Secret-looking values (and the signatures) are masked wherever headers are shown: the delivery
log, the API and the admin. A client that sends the mask back keeps the stored value.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from webhooks.transport import HEADER_NAME, HEADER_VALUE

MASK = "********"
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
_SECRET_HEADER = re.compile(r"auth|token|key|secret|passw|cookie|session|signature|credential", re.IGNORECASE)


def validate_headers(headers: object) -> None:
    """A webhook's custom headers: a few, well-formed, none that FulFil sets itself."""
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


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers fit for the log, the API and the admin: signatures keep their scheme, secret-looking
    values are hidden (a webhook's own headers are shown so, and MASK sent back keeps them)."""
    masked = {}
    for name, value in headers.items():
        if name in ("X-Webhook-Signature", "webhook-signature"):
            scheme = value.split("=", 1)[0] + "=" if name == "X-Webhook-Signature" else value.split(",", 1)[0] + ","
            masked[name] = scheme + MASK
        elif name not in ("webhook-id", "webhook-timestamp") and is_secret_header(name):
            masked[name] = MASK
        else:
            masked[name] = value
    return masked


def unmask_headers(headers: Any, *, stored: dict[str, str]) -> Any:
    """Headers as given, except that a MASK value (as responses show secret-looking headers)
    stands for the value stored under that name, which is kept; a MASK with none stored is refused."""
    if not isinstance(headers, dict):
        return headers  # validate_headers says what is wrong
    stored_by_name = {name.lower(): value for name, value in stored.items()}
    unmasked = {}
    for name, value in headers.items():
        if value == MASK and isinstance(name, str):
            if name.lower() not in stored_by_name:
                message = f"{name}: {MASK} stands for a hidden stored value, and {name} has none; give the value."
                raise ValidationError({"headers": [message]})
            value = stored_by_name[name.lower()]
        unmasked[name] = value
    return unmasked


def is_secret_header(name: str) -> bool:
    """Whether a header's name looks like it carries a credential (its value is masked)."""
    return bool(_SECRET_HEADER.search(name))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").rstrip(".").lower(), port or {"http": 80, "https": 443}.get(scheme)


def credentials_to_reenter(
    *, stored_url: str, stored_secret: str, stored_headers: dict[str, str], url: Any, secret_given: bool, headers: Any
) -> list[str]:
    """When a webhook's URL moves to another origin (scheme, host or port), the stored credentials
    that would follow it without having been entered again: "secret" unless a secret (or its
    removal) is given, and each secret-looking header kept as stored (sent as MASK, or all headers
    left out with `headers` None). So whoever may edit a webhook cannot send its credentials to a
    server of their choosing without knowing them."""
    if not isinstance(url, str) or _origin(url) == _origin(stored_url):
        return []
    missing = ["secret"] if stored_secret and not secret_given else []
    given = {str(name).lower(): value for name, value in headers.items()} if isinstance(headers, dict) else None
    for name in stored_headers:
        if is_secret_header(name) and (given is None or given.get(name.lower()) == MASK):
            missing.append(name)
    return missing


def reentry_errors(missing: list[str]) -> dict[str, list[str]]:
    """Field errors for credentials_to_reenter's answer."""
    errors = {}
    if "secret" in missing:
        errors["secret"] = ["The URL moves to another origin: enter the secret again (or remove it)."]
    names = sorted((name for name in missing if name != "secret"), key=str.lower)
    if names:
        errors["headers"] = [
            f"The URL moves to another origin: enter the values of {', '.join(names)} again (or leave them out)."
        ]
    return errors
