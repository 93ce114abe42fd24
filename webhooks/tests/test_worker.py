"""End to end: a product created through the API reaches a receiver through a real Celery worker."""

from __future__ import annotations

import time

import pytest

from webhooks.events import event_emit
from webhooks.models import WebhookDelivery
from webhooks.tests.conftest import legacy_signature_ok, standard_signature_ok


@pytest.fixture
def worker(celery_worker_process):
    return celery_worker_process("webhooks,default", env={"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"})


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_product_created_through_the_api_is_delivered_by_a_real_worker(worker, api, receiver, make_webhook):
    webhook = make_webhook(secret="e2e-secret", events=["product.created"])
    started = time.monotonic()
    response = api.post("/api/v1/products", {"sku": "E2E-1", "name": "End to end"}, format="json")
    assert response.status_code == 201
    assert time.monotonic() - started < 2, "the request waited for the webhook"

    requests = receiver.wait_for(1, timeout=60)
    assert requests, "no delivery within 60 s; worker output:\n" + worker.output()
    [request] = requests
    assert request.json["event"] == "product.created"
    assert request.json["data"]["id"] == response.json()["id"] and request.json["data"]["sku"] == "E2E-1"
    assert legacy_signature_ok("e2e-secret", request.body, request.header("X-Webhook-Signature"))
    assert standard_signature_ok("e2e-secret", request)

    deadline = time.monotonic() + 15
    while not WebhookDelivery.objects.filter(webhook=webhook).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = WebhookDelivery.objects.get(webhook=webhook)
    assert log.success and log.status_code == 200 and str(log.delivery_id) == request.header("webhook-id")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_after_retry_after_and_past_celerys_default_limit(
    celery_worker_process, receiver, make_webhook
):
    worker = celery_worker_process(
        "webhooks,default", env={"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true", "WEBHOOK_RETRY_BACKOFF_MAX": "1"}
    )
    webhook = make_webhook(retry_count=4, events=["product.created"])
    receiver.reply(503, headers={"Retry-After": "1"})
    for _ in range(3):
        receiver.reply(500)
    event_emit(event="product.created", data={"id": "p-1"})  # no transaction here: queued at once

    requests = receiver.wait_for(5, timeout=60)
    assert len(requests) == 5, "worker output:\n" + worker.output()
    assert len({request.header("webhook-id") for request in requests}) == 1
    deadline = time.monotonic() + 15
    while WebhookDelivery.objects.filter(webhook=webhook).count() < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = list(webhook.deliveries.order_by("attempt"))
    assert [(log.attempt, log.trigger, log.success) for log in logs] == [
        (1, "event", False),
        (2, "retry", False),
        (3, "retry", False),
        (4, "retry", False),
        (5, "retry", True),
    ]
    assert 0.9 <= (logs[0].next_attempt_at - logs[0].created_at).total_seconds() <= 1.1
    assert (logs[1].created_at - logs[0].created_at).total_seconds() >= 0.9  # the retry waited its countdown
