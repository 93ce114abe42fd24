"""Webhooks in the admin: create one and send a test to a real receiver on loopback."""

from __future__ import annotations

import re

import pytest

from webhooks.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.browser


def test_a_webhook_created_in_the_admin_sends_a_test_and_shows_status_and_time(page, shot, staff, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # the receiver is on loopback; the live server reads this
    receiver.reply(200, b'{"received": true}')
    page.goto("/admin/webhooks/webhook/")
    shot("webhook-list-empty")
    page.click(".object-tools >> text=Add webhook")
    page.wait_for_selector("#webhook_form")
    page.fill("#id_url", receiver.url("/e2e-hook"))
    page.fill("#id_description", "Browser test receiver")
    page.check("input[name=events][value='product.created']")
    page.check("input[name=events][value='product.updated']")
    page.fill("#id_secret", "browser-test-secret")
    shot("webhook-add-filled")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    shot("webhook-saved")
    assert "was added successfully" in page.inner_text(".messagelist .success")
    webhook = Webhook.objects.get()
    assert (webhook.url, webhook.events) == (receiver.url("/e2e-hook"), ["product.created", "product.updated"])
    assert "A secret is set." in page.inner_text(".field-secret")

    page.click("#send-test")
    page.wait_for_selector("input[name=_send]")
    shot("send-test-form")
    assert page.input_value("#id_event") == "webhook.test"
    assert page.input_value("#id_payload") == ""  # empty sends the short test message
    page.click("input[name=_send]")
    page.wait_for_selector("#test-result")
    shot("send-test-result")

    assert page.inner_text("#test-result h2") == "Delivered"
    assert page.inner_text("#test-status") == "200"
    assert re.fullmatch(r"\d+ ms", page.inner_text("#test-time")), page.inner_text("#test-time")
    assert page.inner_text("#test-body") == '{"received": true}'
    assert len(receiver.requests) == 1
    received = receiver.requests[0]
    assert (received.method, received.path) == ("POST", "/e2e-hook")
    assert received.header("X-Webhook-Event") == "webhook.test"
    assert received.json["event"] == "webhook.test"
    assert received.header("X-Webhook-Signature").startswith("sha256=")

    # The delivery log has the attempt, marked as a test.
    page.click("#test-result >> text=Delivery log")
    page.wait_for_selector("#result_list")
    shot("delivery-log")
    row = page.locator("#result_list tbody tr")
    assert row.count() == 1
    assert row.locator(".field-event").inner_text() == "webhook.test"
    status = row.locator(".field-status_code")
    assert status.inner_text() == "200"
    # On screen, not scrolled out of the table's view (the columns after it may be).
    text_right = status.evaluate("cell => { const r = document.createRange(); r.selectNodeContents(cell); "
                                 "return r.getBoundingClientRect().right; }")  # fmt: skip
    table = page.locator("#changelist .results").bounding_box()
    assert text_right <= table["x"] + table["width"], "the status code is scrolled out of view"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.trigger, delivery.status_code, delivery.success) == ("test", 200, True)
