"""One deadline per attempt: a receiver that trickles its answer or never answers holds nothing past
timeout_seconds, and a worker's soft time limit during a delivery is a logged, retried attempt."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from fulfil.processes import wait_until
from scripts.receiver import Reply
from webhooks import transport
from webhooks.events import event_emit

pytestmark = pytest.mark.django_db

TRICKLE = {"trickle": 0.3}  # a byte every 0.3 s: each read is quick, the answer takes a minute
SILENT = {"delay": 60}  # accepts the connection, never answers


@pytest.mark.parametrize("receiver_does", [TRICKLE, SILENT], ids=["trickles", "never-answers"])
def test_an_attempt_ends_at_its_deadline_whatever_the_receiver_does(receiver, receiver_does):
    receiver.reply(200, body=b"x" * 200, **receiver_does)
    started = time.monotonic()
    result = transport.post(receiver.url(), body=b"{}", headers={}, timeout=1.5, allow_private=True)
    assert time.monotonic() - started < 2.5
    assert result.status_code is None and result.outcome == "timeout"
    assert result.error == "No response within 1.5 s."


@pytest.mark.parametrize("receiver_does", [TRICKLE, SILENT], ids=["trickles", "never-answers"])
def test_send_test_in_the_api_and_the_admin_answers_within_the_timeout_and_a_second(
    api, staff_client, receiver, make_webhook, receiver_does
):
    webhook = make_webhook(timeout_seconds=1)
    receiver.default = Reply(200, b"x" * 200, (), receiver_does.get("delay", 0.0), receiver_does.get("trickle", 0.0))
    started = time.monotonic()
    response = api.post(f"/api/v1/webhooks/{webhook.pk}/test", {})
    assert time.monotonic() - started < 2
    assert response.status_code == 200
    assert response.json()["success"] is False and response.json()["error"] == "No response within 1 s."

    started = time.monotonic()
    page = staff_client.post(reverse("admin:webhooks_webhook_send_test", args=[webhook.pk]), {"event": "webhook.test"})
    assert time.monotonic() - started < 2
    assert "No response within 1 s." in page.content.decode()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_soft_time_limit_during_a_delivery_is_a_failed_attempt_that_is_retried(
    celery_worker_process, receiver, make_webhook
):
    worker = celery_worker_process(
        "webhooks,default",
        env={
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "CELERY_TASK_SOFT_TIME_LIMIT": "5",
            "CELERY_TASK_TIME_LIMIT": "15",
            "WEBHOOK_RETRY_SCHEDULE": "1s",
        },
    )
    webhook = make_webhook(timeout_seconds=30, retry_count=2, events=["product.created"])
    receiver.reply(200, trickle=1.0)  # past the 5 s soft limit, well inside the 30 s deadline
    event_emit(event="product.created", data={"id": "p-1"})  # no transaction here: queued at once
    wait_until(lambda: webhook.deliveries.filter(success=True).exists(), 40, "the retry after the time limit", worker)
    first, second = webhook.deliveries.order_by("attempt")
    assert not first.success and first.error.startswith("Stopped by the worker's time limit after 5.")
    assert first.next_attempt_at is not None
    assert second.success and second.trigger == "retry" and second.delivery_id == first.delivery_id
