"""Secrets stay where they were sent: cloud metadata is never reachable, and a webhook's stored
credentials do not follow its URL to another origin unless entered again."""

from __future__ import annotations

import pytest
from django.urls import reverse

from webhooks import transport
from webhooks.headers import MASK
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db

METADATA_ADDRESSES = [
    "169.254.169.254",
    "169.254.170.2",
    "[fd00:ec2::254]",
    "100.100.100.200",
    "192.0.0.192",
    "[fd20:ce::254]",
    "[::ffff:100.100.100.200]",
]
METADATA_NAMES = ["metadata.google.internal", "metadata.google.internal.", "METADATA.goog", "instance-data"]


@pytest.mark.parametrize("host", METADATA_ADDRESSES + METADATA_NAMES)
def test_cloud_metadata_is_refused_when_connecting_even_with_private_networks_allowed(host):
    result = transport.post(f"http://{host}/latest/meta-data/", body=b"{}", headers={}, timeout=2, allow_private=True)
    assert result.outcome == "refused" and result.status_code is None
    assert "metadata" in result.error or "link-local" in result.error


@pytest.mark.parametrize("host", METADATA_ADDRESSES + METADATA_NAMES)
def test_cloud_metadata_urls_cannot_be_saved_even_with_private_networks_allowed(api, host, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    response = api.post("/api/v1/webhooks", {"url": f"http://{host}/hook", "events": ["product.created"]})
    assert response.status_code == 400
    assert "webhooks may not call it" in response.json()["url"][0]


# --- Moving a webhook to another origin ---------------------------------------------------


@pytest.fixture
def guarded(make_webhook, receiver):
    return make_webhook(secret="s3cret", headers={"Authorization": "Bearer abc", "X-Api-Key": "k1", "X-Tenant": "t"})


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.2:{port}/hook", "http://127.0.0.1:{other}/hook", "https://127.0.0.1:{port}/hook"],
    ids=["host", "port", "scheme"],
)
def test_a_url_on_another_origin_needs_the_secret_and_secret_headers_again(api, guarded, receiver, url):
    moved = url.format(port=receiver.port, other=receiver.port + 1)
    response = api.patch(f"/api/v1/webhooks/{guarded.pk}", {"url": moved})
    assert response.status_code == 400
    body = response.json()
    assert "enter the secret again" in body["secret"][0]
    assert "Authorization, X-Api-Key" in body["headers"][0] and "X-Tenant" not in body["headers"][0]
    masked = {"Authorization": MASK, "X-Api-Key": MASK, "X-Tenant": "t"}
    response = api.patch(f"/api/v1/webhooks/{guarded.pk}", {"url": moved, "secret": "new", "headers": masked})
    assert response.status_code == 400 and set(response.json()) == {"headers"}
    guarded.refresh_from_db()
    assert guarded.url == receiver.url()

    entered = {"Authorization": "Bearer new", "X-Tenant": "t"}  # X-Api-Key left out: removed
    response = api.patch(f"/api/v1/webhooks/{guarded.pk}", {"url": moved, "secret": "new", "headers": entered})
    assert response.status_code == 200, response.json()
    guarded.refresh_from_db()
    assert (guarded.url, guarded.secret, guarded.headers) == (moved, "new", entered)


def test_the_same_origin_keeps_stored_credentials_and_removing_them_is_enough(api, guarded, receiver):
    same = receiver.url("/another/path?x=1")
    assert api.patch(f"/api/v1/webhooks/{guarded.pk}", {"url": same}).status_code == 200
    explicit_port = f"http://127.0.0.1:{receiver.port}/hook"
    assert api.patch(f"/api/v1/webhooks/{guarded.pk}", {"url": explicit_port}).status_code == 200
    elsewhere = f"http://127.0.0.2:{receiver.port}/hook"
    response = api.patch(f"/api/v1/webhooks/{guarded.pk}", {"url": elsewhere, "secret": "", "headers": {}})
    assert response.status_code == 200
    guarded.refresh_from_db()
    assert guarded.secret == "" and guarded.headers == {}


def test_the_admin_asks_for_the_credentials_again_too(staff_client, guarded, receiver):
    change = reverse("admin:webhooks_webhook_change", args=[guarded.pk])
    form = {
        "url": f"http://127.0.0.2:{receiver.port}/hook",
        "description": "",
        "events": ["product.created"],
        "is_active": "on",
        "headers": '{"Authorization": "********", "X-Api-Key": "********", "X-Tenant": "t"}',
        "retry_count": "3",
        "timeout_seconds": "30",
        "secret": "",
    }
    page = staff_client.post(change, form)
    assert page.status_code == 200  # the form again, with errors
    text = page.content.decode()
    assert "enter the secret again" in text and "enter the values of Authorization, X-Api-Key again" in text
    assert Webhook.objects.get(pk=guarded.pk).url == receiver.url()
    form.update(secret="new", headers='{"Authorization": "Bearer new"}')
    assert staff_client.post(change, form).status_code == 302
    guarded.refresh_from_db()
    assert guarded.secret == "new" and guarded.headers == {"Authorization": "Bearer new"}
