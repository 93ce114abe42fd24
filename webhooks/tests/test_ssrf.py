"""The SSRF guard: internal addresses are refused when connecting, on every attempt, and when saving."""

from __future__ import annotations

import socket

import pytest
from rest_framework import status

from webhooks import transport
from webhooks.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db


def post(url: str, *, allow_private: bool = False) -> transport.HttpResult:
    return transport.post(url, body=b"{}", headers={}, timeout=2, allow_private=allow_private)


@pytest.mark.parametrize(
    "host, kind",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("[fd00::1]", "private"),
        ("100.64.0.1", "shared"),
        ("169.254.169.254", "link-local"),
        ("[fe80::1]", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("[64:ff9b::a00:1]", "private"),  # NAT64 of 10.0.0.1
        ("[2002:a9fe:a9fe::]", "link-local"),  # 6to4 of 169.254.169.254
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_literal_internal_addresses_are_refused_before_connecting(host, kind):
    result = post(f"http://{host}:9/hook")
    assert result.outcome == "refused" and result.status_code is None
    assert kind in result.error
    # What the setting would allow, the message names it; what it never allows, it does not.
    assert ("WEBHOOK_ALLOW_PRIVATE_NETWORKS=true" in result.error) == (kind in ("loopback", "private", "shared"))


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(receiver):
    result = post(f"http://localhost:{receiver.port}/hook")
    assert result.outcome == "refused"
    assert result.error == (
        "Refused: localhost resolves to 127.0.0.1, which is a loopback address "
        "(allowed only with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true)."
    )
    assert receiver.requests == []


def test_a_name_that_rebinds_to_a_private_address_after_saving_is_refused_when_delivering(
    receiver, make_webhook, emit, settings, monkeypatch
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    webhook = make_webhook(url=f"http://rebind.example:{receiver.port}/hook", retry_count=2)  # saved: a public name
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # the attacker's DNS now answers with loopback
        return real("127.0.0.1" if host == "rebind.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    emit()
    [log] = webhook.deliveries.all()
    assert not log.success and "rebind.example resolves to 127.0.0.1" in log.error
    assert log.next_attempt_at is None  # refused, not retried
    assert receiver.requests == []


def test_allowing_private_networks_reaches_loopback_but_never_link_local(receiver):
    assert post(receiver.url(), allow_private=True).status_code == 200
    assert post(f"http://localhost:{receiver.port}/hook", allow_private=True).status_code == 200
    assert post("http://169.254.169.254/latest/meta-data/", allow_private=True).outcome == "refused"
    assert post("http://[::ffff:169.254.169.254]/", allow_private=True).outcome == "refused"


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"])
def test_public_addresses_are_allowed(address):
    assert transport.refusal_reason(address, allow_private=False) is None


def test_the_guard_applies_to_every_attempt_not_only_when_saving(receiver, make_webhook, emit, settings):
    webhook = make_webhook(retry_count=3)  # saved while private networks were allowed
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    emit()
    [log] = WebhookDelivery.objects.filter(webhook=webhook)
    assert "loopback" in log.error and receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8000/hook",
        "http://localhost:8000/hook",
        "http://api.localhost/hook",
    ],
)
def test_saving_a_url_that_names_an_internal_address_is_a_400(api, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    response = api.post("/api/v1/webhooks", {"url": url, "events": ["product.created"]}, format="json")
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    assert "may not call it" in response.json()["url"][0]
    assert not Webhook.objects.exists()
