"""Reads of webhooks and their delivery log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Min, OuterRef, QuerySet

from webhooks.models import Webhook, WebhookDelivery


def webhook_ids_for_event(*, event: str) -> list[int]:
    """Enabled webhooks subscribed to `event`. Filtered in Python: there are few webhooks, and
    JSON containment is not portable to the embedded SQLite default."""
    rows = Webhook.objects.filter(is_active=True).values_list("pk", "events")
    return [pk for pk, events in rows if event in events]


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
    """What the delivery workers still owe: the retries scheduled and not yet made (a logged
    attempt with `next_attempt_at` and no later attempt of its delivery).

    Outbox hook: when events are kept in an outbox table before they are sent, add its unsent
    rows here (their count, and the oldest's time), and the metrics follow.

    Two index range scans: the partial index on `next_attempt_at` (failed attempts that were to
    be retried, since the lookback) and the unique (delivery_id, attempt) index for "no later one".
    """
    later = WebhookDelivery.objects.filter(delivery_id=OuterRef("delivery_id"), attempt__gt=OuterRef("attempt"))
    waiting = WebhookDelivery.objects.filter(next_attempt_at__gte=now - BACKLOG_LOOKBACK).filter(~Exists(later))
    result = waiting.aggregate(pending=Count("pk"), oldest=Min("next_attempt_at"))
    return Backlog(result["pending"], result["oldest"])
