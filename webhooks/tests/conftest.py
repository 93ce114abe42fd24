"""Fixtures for webhook tests: settings for loopback receivers (the receiver fixture itself is in
the root conftest.py), eager Celery, and independent signature verifiers (plain hmac, not signing.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from scripts.receiver import Received
from webhooks import services


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    """Tests' receivers live on loopback; retries come due at once, queued as (eager) messages."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_RETRY_BACKOFF_MAX = 0
    settings.WEBHOOK_RETRY_COUNTDOWN_MAX = 600
    settings.WEBHOOK_REQUIRE_HTTPS = False
    return settings


@pytest.fixture
def make_webhook(db, receiver):
    def make(**values):
        values.setdefault("url", receiver.url())
        values.setdefault("events", ["product.created", "product.updated", "product.deleted"])
        return services.webhook_create(**values)

    return make


# --- An independent verifier, written from the two specs -------------------------------


def legacy_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


def standard_signature_ok(secret: str, received: Received, *, tolerance: int = 300) -> bool:
    msg_id, timestamp = received.header("webhook-id"), received.header("webhook-timestamp")
    signatures = received.header("webhook-signature")
    if not (msg_id and timestamp and signatures) or abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + received.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures.split(" "))


@pytest.fixture
def emit(eager_celery, django_capture_on_commit_callbacks):
    """Emit an event and run what it queues, as a committed transaction would, in this process."""
    from webhooks.events import event_emit

    def emit(event: str = "product.created", data: dict | None = None) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            event_emit(event=event, data=data if data is not None else {"id": "p-1", "sku": "SKU-1"})

    return emit
