"""The back-office: webhook list and form, the "Send test" button, the read-only delivery log."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from webhooks.events import EVENTS
from webhooks.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:webhooks_webhook_changelist")
ADD = reverse("admin:webhooks_webhook_add")
LOG = reverse("admin:webhooks_webhookdelivery_changelist")


def change_url(webhook: Webhook) -> str:
    return reverse("admin:webhooks_webhook_change", args=[webhook.pk])


def send_test_url(webhook: Webhook) -> str:
    return reverse("admin:webhooks_webhook_send_test", args=[webhook.pk])


def form_data(receiver, **changes) -> dict:
    data = {
        "url": receiver.url(),
        "description": "ERP",
        "events": ["product.created", "product.deleted"],
        "is_active": "on",
        "secret": "",
        "headers": "{}",
        "retry_count": "3",
        "timeout_seconds": "10",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.quickstart
def test_index_links_to_webhooks(staff_client):
    assert CHANGELIST.encode() in staff_client.get(reverse("admin:index")).content


def test_changelist_shows_url_events_enabled_success_rate_last_triggered_and_last_error(staff_client, make_webhook):
    webhook = make_webhook()
    Webhook.objects.filter(pk=webhook.pk).update(
        success_count=3, failure_count=1, last_error="HTTP 503 Service Unavailable"
    )
    content = staff_client.get(CHANGELIST).content.decode()
    for column in ("url", "events_display", "is_active", "success_rate_display", "last_triggered_at", "error_display"):
        assert f"column-{column}" in content
    assert "75% of 4" in content and "HTTP 503 Service Unavailable" in content
    assert "product.created, product.updated, product.deleted" in content


def test_the_form_offers_every_event_as_a_checkbox_and_creates_through_the_service(staff_client, receiver):
    content = staff_client.get(ADD).content.decode()
    for event in EVENTS:
        assert f'type="checkbox" name="events" value="{event}"' in content
    response = staff_client.post(ADD, form_data(receiver, secret="hush", headers='{"X-Tenant": "acme"}'))
    assert response.status_code == 302, response.context["adminform"].form.errors
    webhook = Webhook.objects.get()
    assert webhook.events == ["product.created", "product.deleted"] and webhook.secret == "hush"
    assert webhook.headers == {"X-Tenant": "acme"} and webhook.timeout_seconds == 10


def test_saving_with_an_empty_secret_keeps_it_and_remove_clears_it(staff_client, make_webhook, receiver):
    webhook = make_webhook(secret="keep-me")
    page = staff_client.get(change_url(webhook)).content.decode()
    assert "keep-me" not in page and "A secret is set" in page
    staff_client.post(change_url(webhook), form_data(receiver, description="changed"))
    webhook.refresh_from_db()
    assert webhook.secret == "keep-me" and webhook.description == "changed"
    staff_client.post(change_url(webhook), form_data(receiver, clear_secret="on"))
    webhook.refresh_from_db()
    assert webhook.secret == ""


def header_rows(*rows: tuple[str, str]) -> dict:
    """The header rows as the form posts them (two empty rows at the end, as the page has)."""
    rows = (*rows, ("", ""), ("", ""))
    return {"headers-name": [name for name, _ in rows], "headers-value": [value for _, value in rows]}


def test_the_form_masks_secret_looking_header_values_and_saving_them_back_keeps_them(
    staff_client, make_webhook, receiver
):
    webhook = make_webhook(headers={"Authorization": "Bearer s3cr3t", "X-Tenant": "acme"})
    page = staff_client.get(change_url(webhook)).content.decode()
    assert "s3cr3t" not in page
    assert 'name="headers-name" value="Authorization"' in page and 'name="headers-value" value="********"' in page
    rows = header_rows(("Authorization", "********"), ("X-Tenant", "globex"))
    response = staff_client.post(change_url(webhook), {**form_data(receiver, headers=None), **rows})
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.headers == {"Authorization": "Bearer s3cr3t", "X-Tenant": "globex"}
    rows = header_rows(("X-Api-Key", "********"))
    response = staff_client.post(change_url(webhook), {**form_data(receiver, headers=None), **rows})
    assert "X-Api-Key: ******** stands for a hidden stored value" in response.content.decode()


def test_extra_headers_are_rows_of_name_and_value(staff_client, receiver):
    page = staff_client.get(ADD).content.decode()
    assert page.count('name="headers-name"') == 2 and "Add a header" in page and "webhook-form.js" in page
    rows = header_rows(("X-Tenant", " acme "), ("", ""), ("X-Region", "eu"))
    response = staff_client.post(ADD, {**form_data(receiver, headers=None), **rows})
    assert response.status_code == 302
    assert Webhook.objects.get().headers == {"X-Tenant": "acme", "X-Region": "eu"}
    response = staff_client.post(ADD, {**form_data(receiver, headers=None), **header_rows(("", "orphan"))})
    assert "The value &#x27;orphan&#x27; has no header name." in response.content.decode()


def test_all_events_subscribes_to_every_event(staff_client, receiver):
    page = staff_client.get(ADD).content.decode()
    assert 'name="all_events"' in page
    response = staff_client.post(ADD, form_data(receiver, events=None, all_events="on"))
    assert response.status_code == 302
    assert Webhook.objects.get().events == list(EVENTS)
    response = staff_client.post(ADD, form_data(receiver, events=None))
    assert "Choose at least one event, or All events." in response.content.decode()


def test_remove_the_secret_is_offered_only_when_there_is_one(staff_client, make_webhook):
    assert 'name="clear_secret"' not in staff_client.get(ADD).content.decode()
    assert 'name="clear_secret"' not in staff_client.get(change_url(make_webhook())).content.decode()
    assert 'name="clear_secret"' in staff_client.get(change_url(make_webhook(secret="k"))).content.decode()


def test_a_typed_secret_survives_a_form_error_and_a_stored_one_is_never_shown(staff_client, make_webhook, receiver):
    response = staff_client.post(ADD, form_data(receiver, secret="typed-secret", events=None))
    assert response.status_code == 200
    assert 'type="password" name="secret" value="typed-secret"' in response.content.decode()
    webhook = make_webhook(secret="stored-secret")
    assert "stored-secret" not in staff_client.get(change_url(webhook)).content.decode()


def test_a_viewer_sees_neither_the_secret_nor_secret_looking_header_values(client, make_user, make_webhook):
    webhook = make_webhook(secret="s3cr3t-signing", headers={"Authorization": "Bearer s3cr3t", "X-Tenant": "acme"})
    client.force_login(make_user("viewer", staff=True, perms=("webhooks.view_webhook",)))
    response = client.get(change_url(webhook))
    assert response.status_code == 200
    assert b"s3cr3t" not in response.content and b"acme" in response.content


def test_the_form_shows_validation_errors(staff_client, receiver):
    response = staff_client.post(ADD, form_data(receiver, headers='{"User-Agent": "me"}', events=None))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"headers", "events"}
    assert "User-Agent is set by FulFil and cannot be overridden." in errors["headers"]


def test_the_send_test_button_shows_status_time_and_body_on_the_page(staff_client, make_webhook, receiver):
    webhook = make_webhook(secret="k")
    assert send_test_url(webhook).encode() in staff_client.get(change_url(webhook)).content
    form_page = staff_client.get(send_test_url(webhook)).content.decode()
    assert "Send test" in form_page
    assert re.search(r'<textarea name="payload"[^>]*>\s*</textarea>', form_page)  # starts empty, not "null"
    receiver.reply(418, b"I am a receiver, short and stout")
    response = staff_client.post(send_test_url(webhook), {"event": "webhook.test", "payload": ""})
    assert response.status_code == 200
    content = response.content.decode()
    assert '<td id="test-status">418</td>' in content
    assert 'class="module test-failed"' in content and ">Failed</h2>" in content
    assert '<p class="errornote" id="test-failure">The test was not delivered: HTTP 418' in content
    assert " ms</td>" in content and "I am a receiver, short and stout" in content
    assert "HTTP 418" in content
    [request] = receiver.requests
    assert request.json["event"] == "webhook.test"
    assert request.json["test"] is True and request.header("X-Webhook-Test") == "true"
    assert WebhookDelivery.objects.get().trigger == WebhookDelivery.Trigger.TEST


def test_the_send_test_page_sends_a_chosen_event_and_payload(staff_client, make_webhook, receiver):
    webhook = make_webhook()
    staff_client.post(send_test_url(webhook), {"event": "product.created", "payload": '{"sku": "A"}'})
    assert receiver.requests[0].json["data"] == {"sku": "A"}
    response = staff_client.post(send_test_url(webhook), {"event": "product.created", "payload": "[1]"})
    assert "Give a JSON object." in response.content.decode() and len(receiver.requests) == 1
    response = staff_client.post(send_test_url(webhook), {"event": "product.created", "payload": '{"sku": "A",\n "x"}'})
    assert "Not valid JSON: line 2, column 5: Expecting &#x27;:&#x27; delimiter." in response.content.decode()
    assert len(receiver.requests) == 1


def test_send_test_needs_the_change_permission(client, make_user, make_webhook, receiver):
    webhook = make_webhook()
    client.force_login(make_user("viewer", staff=True, perms=("webhooks.view_webhook",)))
    assert send_test_url(webhook).encode() not in client.get(change_url(webhook)).content
    assert client.post(send_test_url(webhook), {"event": "webhook.test"}).status_code == 403
    assert receiver.requests == []


def test_enable_and_disable_actions(staff_client, make_webhook):
    on, off = make_webhook(), make_webhook(is_active=False)
    staff_client.post(CHANGELIST, {"action": "disable", "_selected_action": [on.pk, off.pk]})
    assert not Webhook.objects.filter(is_active=True).exists()
    response = staff_client.post(CHANGELIST, {"action": "enable", "_selected_action": [on.pk, off.pk]}, follow=True)
    assert Webhook.objects.filter(is_active=True).count() == 2
    assert "2 webhooks enabled." in response.content.decode()


def test_the_delivery_log_is_read_only_with_signatures_masked(staff_client, make_webhook, emit):
    webhook = make_webhook(secret="k")
    emit()
    delivery = WebhookDelivery.objects.get()
    content = staff_client.get(LOG, {"webhook__id__exact": webhook.pk}).content.decode()
    assert "product.created" in content and reverse("admin:webhooks_webhookdelivery_add") not in content
    page = staff_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert b"sha256=********" in page.content and b"v1,********" in page.content
    assert staff_client.get(reverse("admin:webhooks_webhookdelivery_add")).status_code == 403


def test_the_redeliver_action_sends_again_with_the_same_webhook_id(
    staff_client, make_webhook, receiver, emit, django_capture_on_commit_callbacks
):
    make_webhook()
    emit()
    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(LOG, {"action": "redeliver", "_selected_action": [delivery.pk]}, follow=True)
    assert "1 delivery queued again." in response.content.decode()
    first, again = receiver.wait_for(2)
    assert again.header("webhook-id") == first.header("webhook-id") == str(delivery.delivery_id)
    assert WebhookDelivery.objects.filter(trigger=WebhookDelivery.Trigger.REDELIVERY, attempt=2).exists()


def test_viewers_see_the_log_but_cannot_redeliver(client, make_user, make_webhook, emit, receiver):
    make_webhook()
    emit()
    client.force_login(make_user("viewer", staff=True, perms=("webhooks.view_webhook",)))
    response = client.get(LOG)
    assert response.status_code == 200 and b"product.created" in response.content
    assert b'value="redeliver"' not in response.content


def test_the_add_form_has_no_empty_status_section(staff_client):
    page = staff_client.get(reverse("admin:webhooks_webhook_add")).content.decode()
    assert "Signing and headers" in page
    assert ">Status</h2>" not in page and "Leave empty to keep" not in page
