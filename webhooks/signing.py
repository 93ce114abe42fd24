"""Request signatures. Pure functions: no settings, no I/O.

Two schemes are sent side by side:

- Legacy, as the original service: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, body)>`,
  keyed with the secret's UTF-8 bytes.
- Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
  `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`. Because the id and
  the time are signed, a receiver can reject replays (old timestamps) and duplicates (seen ids).
  The key is the secret's UTF-8 bytes, like the legacy scheme, except that a secret written in the
  spec's own form, `whsec_<base64>`, is base64-decoded as the spec says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

STANDARD_PREFIX = "whsec_"


def standard_key(secret: str) -> bytes:
    """The HMAC key for the Standard Webhooks signature; ValueError for a malformed whsec_ secret."""
    if secret.startswith(STANDARD_PREFIX):
        try:
            key = base64.b64decode(secret[len(STANDARD_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("A secret starting with whsec_ must continue with base64.") from None
        if not key:
            raise ValueError("A secret starting with whsec_ must continue with base64.")
        return key
    return secret.encode()


def legacy_signature(*, secret: str, body: bytes) -> str:
    """`sha256=<hex>`, the original service's X-Webhook-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>`, the Standard Webhooks webhook-signature."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The identity headers, plus both signatures when there is a secret."""
    headers = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secret:
        headers["X-Webhook-Signature"] = legacy_signature(secret=secret, body=body)
        headers["webhook-signature"] = standard_signature(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        )
    return headers
