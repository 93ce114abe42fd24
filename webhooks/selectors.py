"""Reads of webhooks and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from webhooks.events import webhook_delivery_id
from webhooks.models import Webhook, WebhookDelivery, WebhookEvent


def webhook_ids_for_event(*, event: str) -> list[int]:
    """Enabled webhooks subscribed to `event`. Filtered in Python: there are few webhooks, and
    JSON containment is not portable to the embedded SQLite default."""
    rows = Webhook.objects.filter(is_active=True).values_list("pk", "events")
    return [pk for pk, events in rows if event in events]


def webhook_subscribed(*, event: str) -> bool:
    """Whether any webhook, enabled or not, subscribes to `event` (a disabled one may recover it later)."""
    return any(event in events for events in Webhook.objects.values_list("events", flat=True))


def webhook_list() -> QuerySet[Webhook]:
    return Webhook.objects.all()


def webhook_delivery_list(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """A webhook's delivery log, newest first (webhooks.filters narrows it for the API)."""
    return WebhookDelivery.objects.filter(webhook=webhook).order_by("-created_at", "-id")


def webhook_undelivered(*, webhook: Webhook, since: datetime) -> list[dict[str, Any]]:
    """Every event of `webhook` since `since` that it has not received, oldest first, as keyword
    arguments of webhook_deliver: the events it subscribes to from the outbox (queued, emitted
    after it was created), and the deliveries in its log, less those with a successful attempt."""
    found: dict[str, tuple[str, Any]] = {}
    events = WebhookEvent.objects.filter(
        created_at__gte=max(since, webhook.created_at), sent_at__isnull=False, event__in=webhook.events
    )
    for event_id, event, payload in events.order_by("created_at").values_list("pk", "event", "payload").iterator():
        found.setdefault(str(webhook_delivery_id(event_id=event_id, webhook_id=webhook.pk)), (event, payload))
    logged = WebhookDelivery.objects.filter(webhook=webhook, created_at__gte=since, event__in=webhook.events).exclude(
        trigger=WebhookDelivery.Trigger.TEST
    )
    for delivery_id, event, payload in logged.order_by("created_at").values_list("delivery_id", "event", "payload"):
        found.setdefault(str(delivery_id), (event, payload))
    delivered = {
        str(delivery_id)
        for delivery_id in WebhookDelivery.objects.filter(delivery_id__in=list(found), success=True).values_list(
            "delivery_id", flat=True
        )
    }
    return [
        {"webhook_id": webhook.pk, "delivery_id": delivery_id, "event": event, "payload": payload}
        for delivery_id, (event, payload) in found.items()
        if delivery_id not in delivered
    ]
