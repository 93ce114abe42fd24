"""A receiver that is down for a while loses nothing: retries on a schedule (long waits queued by the
relay), no disabling before WEBHOOK_DISABLE_AFTER, and recover for what ran out of retries."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fulfil.processes import wait_until
from products import services as product_services
from scripts.receiver import Reply
from webhooks import services
from webhooks.models import Webhook, WebhookDelivery


def delivered_ids(webhook: Webhook) -> set[str]:
    return {str(i) for i in webhook.deliveries.filter(success=True).values_list("delivery_id", flat=True)}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_receiver_down_for_a_while_loses_nothing_and_recover_resends_exactly_what_failed(
    celery_worker_process, api, receiver, make_webhook
):
    worker = celery_worker_process(
        "webhooks,default",
        beat=True,
        env={
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "WEBHOOK_RETRY_SCHEDULE": "1s,2s",  # the 2 s waits go through the relay
            "WEBHOOK_RETRY_COUNTDOWN_MAX": "1",
            "WEBHOOK_RELAY_INTERVAL": "1",
        },
    )
    steady = make_webhook(url=receiver.url("/steady"), events=["product.created"], retry_count=3)
    fragile = make_webhook(url=receiver.url("/fragile"), events=["product.created"], retry_count=0)
    since = timezone.now()
    receiver.default = Reply(500)  # down...
    for number in range(10):
        assert api.post("/api/v1/products", {"sku": f"DOWN-{number}", "name": "n"}).status_code == 201
    time.sleep(2)
    receiver.default = Reply(200)  # ...and back

    wait_until(lambda: len(delivered_ids(steady)) == 10, 60, "the retries to deliver all ten", worker)
    attempts = steady.deliveries.order_by("created_at")
    assert {log.trigger for log in attempts} == {"event", "retry"}
    assert attempts.filter(trigger="retry", run_attempt=3).exists(), "no retry came through the relay"
    time.sleep(1)
    assert len(delivered_ids(fragile)) == 0 and fragile.deliveries.count() == 10
    for webhook in (steady, fragile):
        webhook.refresh_from_db()
        assert webhook.is_active, webhook.last_error
    failed = {str(i) for i in fragile.deliveries.values_list("delivery_id", flat=True)}

    response = api.post(f"/api/v1/webhooks/{fragile.pk}/recover", {"since": since.isoformat()})
    assert response.status_code == 202 and response.json()["queued"] == 10
    wait_until(lambda: len(delivered_ids(fragile)) == 10, 30, "the recovered deliveries", worker)
    assert delivered_ids(fragile) == failed  # each event with its own webhook-id
    resent = [r for r in receiver.requests if r.path == "/fragile" and r.header("webhook-id") in failed]
    assert len(resent) == 20  # ten failures, then each event once more
    assert api.post(f"/api/v1/webhooks/{fragile.pk}/recover", {"since": since.isoformat()}).json()["queued"] == 0
    assert api.post(f"/api/v1/webhooks/{steady.pk}/recover", {"since": since.isoformat()}).json()["queued"] == 0


# --- Recovery without a worker ------------------------------------------------------------


@pytest.mark.django_db
def test_recover_sends_events_missed_while_disabled_and_failed_ones_once_each(
    api, receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks
):
    webhook = make_webhook(events=["product.created"], retry_count=0)
    since = timezone.now()
    receiver.reply(500)
    with django_capture_on_commit_callbacks(execute=True):
        product_services.product_create(sku="FAILED", name="f")
    services.webhook_set_active(webhooks=[webhook], active=False)
    with django_capture_on_commit_callbacks(execute=True):
        product_services.product_create(sku="MISSED", name="m")
    with django_capture_on_commit_callbacks(execute=True):
        product_services.product_create(sku="BEFORE", name="b")
    assert len(receiver.requests) == 1

    assert api.post(f"/api/v1/webhooks/{webhook.pk}/recover", {"since": since.isoformat()}).status_code == 409
    webhook.refresh_from_db()
    services.webhook_set_active(webhooks=[webhook], active=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/webhooks/{webhook.pk}/recover", {"since": since.isoformat()})
    assert response.status_code == 202 and response.json()["queued"] == 3
    skus = sorted(r.json["data"]["sku"] for r in receiver.requests[1:])
    assert skus == ["BEFORE", "FAILED", "MISSED"]
    assert receiver.requests[0].header("webhook-id") in {r.header("webhook-id") for r in receiver.requests[1:]}
    assert set(webhook.deliveries.values_list("trigger", flat=True)) == {"event", "recovery"}
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(f"/api/v1/webhooks/{webhook.pk}/recover", {"since": since.isoformat()})
    assert again.json()["queued"] == 0 and len(receiver.requests) == 4


@pytest.mark.django_db
def test_recover_needs_a_time_and_the_change_permission(api, client_for, make_webhook):
    webhook = make_webhook()
    assert api.post(f"/api/v1/webhooks/{webhook.pk}/recover", {}).status_code == 400
    assert api.post(f"/api/v1/webhooks/{webhook.pk}/recover", {"since": "yesterday"}).status_code == 400
    viewer = client_for("webhooks.view_webhook")
    since = timezone.now().isoformat()
    assert viewer.post(f"/api/v1/webhooks/{webhook.pk}/recover", {"since": since}).status_code == 403


@pytest.mark.django_db
def test_a_recovery_and_a_retry_do_not_deliver_an_event_twice(receiver, make_webhook, eager_celery):
    webhook = make_webhook(retry_count=3)
    kwargs = {"webhook_id": webhook.pk, "delivery_id": str(WebhookDelivery().delivery_id), "event": "product.created"}
    from webhooks import delivery

    receiver.reply(500)
    first = delivery.webhook_deliver(**kwargs, payload={})
    assert first.retry_in is not None
    delivery.webhook_deliver(**kwargs, payload={}, trigger="recovery", key="00000000-0000-0000-0000-000000000001")
    delivery.webhook_deliver(**kwargs, payload={}, attempt=2, trigger="retry")  # the retry comes due
    assert len(receiver.requests) == 2
    assert [(log.trigger, log.success) for log in webhook.deliveries.order_by("attempt")] == [
        ("event", False),
        ("recovery", True),
    ]


@pytest.mark.django_db
def test_a_long_retry_waits_in_the_database_until_the_relay_queues_it_when_due(
    receiver, make_webhook, eager_celery, settings
):
    from webhooks import delivery

    settings.WEBHOOK_RETRY_BACKOFF_MAX = 36000
    settings.WEBHOOK_RETRY_SCHEDULE = (300,)
    settings.WEBHOOK_RETRY_COUNTDOWN_MAX = 60
    webhook = make_webhook(retry_count=2)
    receiver.reply(503)
    outcome = delivery.webhook_deliver(
        webhook_id=webhook.pk, delivery_id=str(WebhookDelivery().delivery_id), event="product.created", payload={}
    )
    assert outcome.retry_in is None  # not a delayed message
    log = outcome.log
    assert 300 <= (log.next_attempt_at - log.created_at).total_seconds() <= 330 and log.retry_queued_at is None
    assert delivery.webhook_retries_queue_due() == 0  # not due yet
    assert delivery.webhook_retries_queue_due(now=log.next_attempt_at + timedelta(seconds=1)) == 1
    assert [(log.run_attempt, log.trigger, log.success) for log in webhook.deliveries.order_by("attempt")] == [
        (1, "event", False),
        (2, "retry", True),
    ]
    assert delivery.webhook_retries_queue_due(now=log.next_attempt_at + timedelta(seconds=2)) == 0


@pytest.mark.django_db
def test_the_admin_resends_failed_deliveries_and_offers_it_when_enabling(staff_client, make_webhook, eager_celery):
    webhook = make_webhook()
    Webhook.objects.filter(pk=webhook.pk).update(is_active=False, last_error="Disabled: every attempt has failed")
    page = staff_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk]))
    assert "This webhook is disabled. Disabled: every attempt has failed" in page.content.decode()
    changelist = reverse("admin:webhooks_webhook_changelist")
    response = staff_client.post(changelist, {"action": "enable", "_selected_action": [webhook.pk]}, follow=True)
    resend = reverse("admin:webhooks_webhook_resend", args=[webhook.pk])
    assert f'href="{resend}"' in response.content.decode()
    form = staff_client.get(resend)
    assert form.status_code == 200 and b"Resend failed since" in form.content
    done = staff_client.post(resend, {"since": "2026-01-01 00:00"}, follow=True)
    assert "0 events queued to be sent again." in done.content.decode()
