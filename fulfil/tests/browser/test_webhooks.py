"""Webhooks in the admin: create one and send a test to a real receiver on loopback."""

from __future__ import annotations

import re

import pytest

from webhooks.events import EVENTS
from webhooks.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.browser


def test_a_webhook_created_in_the_admin_sends_a_test_and_shows_status_and_time(page, shot, staff, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # the receiver is on loopback; the live server reads this
    receiver.reply(200, b'{"received": true}')
    page.goto("/admin/webhooks/webhook/")
    shot("webhook-list-empty")
    page.click(".object-tools >> text=Add webhook")
    page.wait_for_selector("#webhook_form")
    assert page.locator("input[name=clear_secret]").count() == 0  # no secret to remove yet
    page.fill("#id_url", receiver.url("/e2e-hook"))
    page.fill("#id_description", "Browser test receiver")
    page.fill("#id_secret", "browser-test-secret")
    page.locator("input[name=headers-name]").first.fill("X-Tenant")
    page.locator("input[name=headers-value]").first.fill("acme")
    page.click("button.add-header-row")
    assert page.locator("input[name=headers-name]").count() == 3
    page.locator("input[name=headers-name]").last.fill("Authorization")
    page.locator("input[name=headers-value]").last.fill("Bearer s3cr3t")
    page.click("input[name=_continue]")  # no event chosen: the form comes back
    page.wait_for_selector(".errornote")
    shot("webhook-add-error")
    assert "Choose at least one event, or All events." in page.inner_text(".field-events")
    assert page.input_value("#id_secret") == "browser-test-secret"  # what was typed is still there
    page.check("#id_all_events")  # ticks every event
    assert page.locator("input[name=events]:checked").count() == len(EVENTS)
    page.uncheck("input[name=events][value='products.bulk_deleted']")
    assert not page.is_checked("#id_all_events")
    shot("webhook-add-filled")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    shot("webhook-saved")
    assert "was added successfully" in page.inner_text(".messagelist .success")
    webhook = Webhook.objects.get()
    assert (webhook.url, webhook.events) == (
        receiver.url("/e2e-hook"),
        [e for e in EVENTS if e != "products.bulk_deleted"],
    )
    assert webhook.headers == {"X-Tenant": "acme", "Authorization": "Bearer s3cr3t"}
    assert webhook.secret == "browser-test-secret"
    assert "A secret is set." in page.inner_text(".field-secret") and page.input_value("#id_secret") == ""
    assert page.locator("input[name=clear_secret]").is_visible()
    assert page.locator("input[name=headers-value]").nth(1).input_value() == "********"

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


def test_a_failed_test_send_looks_like_a_failure_and_bad_json_says_where(page, shot, staff, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook = Webhook.objects.create(url=receiver.url("/down"), events=["product.created"], timeout_seconds=5)
    receiver.reply(503, b"Service Unavailable")
    page.goto(f"/admin/webhooks/webhook/{webhook.pk}/send-test/")
    page.fill("#id_payload", '{"sku": "A-1",\n "name" "Mug"}')
    page.click("input[name=_send]")
    page.wait_for_selector(".errorlist")
    shot("send-test-bad-json")
    assert page.inner_text(".errorlist") == "Not valid JSON: line 2, column 9: Expecting ':' delimiter."
    assert receiver.requests == []

    page.fill("#id_payload", "")
    page.click("input[name=_send]")
    page.wait_for_selector("#test-result")
    shot("send-test-failed")
    assert page.inner_text("#test-result h2") == "Failed"
    header = page.eval_on_selector("#test-result h2", "el => getComputedStyle(el).backgroundColor")
    assert header == "rgb(186, 33, 33)", header  # red, not the blue of a success
    assert page.inner_text("#test-failure").startswith("The test was not delivered: HTTP 503")
    assert page.inner_text("#test-status") == "503"
