"""Old delivery logs are removed by a periodic task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from fulfil.celery import app as celery_app
from webhooks.models import WebhookDelivery
from webhooks.tasks import webhook_delivery_log_prune_task

pytestmark = pytest.mark.django_db


def log_aged(webhook, days: float) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="product.created", url=webhook.url, payload={})
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(days=days))
    return delivery


def test_logs_older_than_the_retention_period_are_removed(make_webhook, webhook_settings, eager_celery):
    webhook_settings.WEBHOOK_LOG_RETENTION_DAYS = 7
    webhook = make_webhook()
    kept = [log_aged(webhook, 0), log_aged(webhook, 6.9)]
    for _ in range(3):
        log_aged(webhook, 7.1)
    log_aged(webhook, 400)
    assert webhook_delivery_log_prune_task.delay().get() == 4
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {log.pk for log in kept}


def test_the_prune_task_is_scheduled_by_beat_on_the_webhooks_queue():
    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].endswith("log_prune_task")]
    assert entry["task"] == webhook_delivery_log_prune_task.name
    assert celery_app.amqp.router.route({}, entry["task"])["queue"].name == "webhooks"
