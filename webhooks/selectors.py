"""Reads of webhooks and their delivery log."""

from __future__ import annotations

from django.db.models import QuerySet

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
