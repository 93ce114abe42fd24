"""Old delivery logs are removed by the periodic clean-up (see fulfil/tests/test_housekeeping.py)."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest
from django.utils import timezone

from fulfil.database import delete_in_batches
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_delivery_log_prune

pytestmark = pytest.mark.django_db


def log_aged(webhook, days: float) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="product.created", url=webhook.url, payload={})
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(days=days))
    return delivery


def test_logs_older_than_the_retention_period_are_removed(make_webhook, webhook_settings, monkeypatch):
    webhook_settings.WEBHOOK_LOG_RETENTION_DAYS = 7
    monkeypatch.setattr("webhooks.services.delete_in_batches", functools.partial(delete_in_batches, batch=2))
    webhook = make_webhook()
    kept = [log_aged(webhook, 0), log_aged(webhook, 6.9)]
    for _ in range(3):
        log_aged(webhook, 7.1)
    log_aged(webhook, 400)
    assert webhook_delivery_log_prune() == 4
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {log.pk for log in kept}
