"""Error reporting: with SENTRY_DSN, an unhandled error in a view reaches Sentry (here a local HTTP
server that records what it gets); without it, the SDK is never set up (test_settings.py)."""

from __future__ import annotations

import gzip
import json
from urllib.parse import urlsplit

import pytest
import sentry_sdk
from django.test import Client
from django.urls import path

from fulfil.sentry import sentry_init


def boom(request):
    raise RuntimeError("boom from a view")


urlpatterns = [path("boom", boom)]


@pytest.fixture
def sentry(receiver):
    """Sentry, reporting to the receiver, for this test only."""
    port = urlsplit(receiver.url()).port
    assert sentry_init(dsn=f"http://public-key@127.0.0.1:{port}/42", environment="test")
    yield receiver
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)


@pytest.mark.urls(__name__)
def test_an_unhandled_error_in_a_view_reaches_sentry(sentry, db):
    response = Client(raise_request_exception=False).get("/boom")
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    (received,) = sentry.wait_for(1)
    assert received.path == "/api/42/envelope/"
    assert "sentry_key=public-key" in (received.header("X-Sentry-Auth") or "")
    body = gzip.decompress(received.body) if received.header("Content-Encoding") == "gzip" else received.body
    items = [json.loads(line) for line in body.splitlines() if line.startswith(b"{")]
    (event,) = [item for item in items if "exception" in item]
    (error,) = event["exception"]["values"]
    assert (error["type"], error["value"]) == ("RuntimeError", "boom from a view")
    assert (event["transaction"], event["environment"]) == ("/boom", "test")
    assert event["release"].startswith("fulfil@") and "user" not in event


def test_without_a_dsn_nothing_is_set_up():
    assert sentry_init(dsn="", environment="production") is False
    assert not sentry_sdk.get_client().is_active()
