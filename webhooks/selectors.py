"""Reads of webhooks and their delivery log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, QuerySet

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


@dataclass(frozen=True)
class Backlog:
    """Deliveries waiting to be sent, and since when the oldest of them has been due."""

    pending: int
    oldest_due_at: datetime | None


# A retry due longer ago than this and never made is counted lost, not waiting (its message went).
BACKLOG_LOOKBACK = timedelta(days=1)


def webhook_backlog(*, now: datetime) -> Backlog:
    """What the delivery side still owes: events in the outbox not yet queued, and retries due (or
    coming due) that have not been made (a logged attempt with `next_attempt_at`, not yet queued,
    and no later attempt of its delivery), with the earliest time any of them was due.

    Index range scans: the outbox's unsent rows, the partial index on due retries (since the
    lookback), and the unique (delivery_id, attempt) index for "no later one"."""
    later = WebhookDelivery.objects.filter(delivery_id=OuterRef("delivery_id"), attempt__gt=OuterRef("attempt"))
    retries = (
        WebhookDelivery.objects.filter(next_attempt_at__gte=now - BACKLOG_LOOKBACK, retry_queued_at__isnull=True)
        .filter(~Exists(later))
        .aggregate(pending=Count("pk"), oldest=Min("next_attempt_at"))
    )
    events = WebhookEvent.objects.filter(sent_at__isnull=True).aggregate(pending=Count("pk"), oldest=Min("created_at"))
    oldest = [moment for moment in (retries["oldest"], events["oldest"]) if moment is not None]
    return Backlog(retries["pending"] + events["pending"], min(oldest) if oldest else None)


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
