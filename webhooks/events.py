"""What fires, when, and to whom: the event names, their payloads, `event_emit`, and the fan-out.

An emitted event is written to the outbox (webhooks.outbox) in the surrounding transaction, so it
exists exactly when the change does (a rolled-back change fires nothing) and survives a broker
outage. After the commit it is queued as one small task; the worker fans it out into one
delivery task per webhook, so a request pays for a query, an insert and at most one broker
message whatever the number of webhooks. Nothing is written when no webhook subscribes to it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

if TYPE_CHECKING:
    from products.models import Product

logger = logging.getLogger(__name__)

PRODUCT_CREATED = "product.created"
PRODUCT_UPDATED = "product.updated"
PRODUCT_DELETED = "product.deleted"
IMPORT_STARTED = "import.started"
IMPORT_COMPLETED = "import.completed"
IMPORT_FAILED = "import.failed"
PRODUCTS_BULK_DELETED = "products.bulk_deleted"

# Every event a webhook can subscribe to, and the keys of its `data`.
EVENTS: dict[str, tuple[str, ...]] = {
    PRODUCT_CREATED: ("id", "sku", "name", "description", "active", "created_at"),
    PRODUCT_UPDATED: ("id", "sku", "name", "description", "active", "updated_at"),
    PRODUCT_DELETED: ("id", "sku", "name"),
    IMPORT_STARTED: ("task_id", "filename", "total_rows"),
    IMPORT_COMPLETED: ("task_id", "job_id", "filename", "created", "updated", "unchanged", "errors"),
    IMPORT_FAILED: ("task_id", "error"),
    PRODUCTS_BULK_DELETED: ("task_id", "count"),
}
# Sent only by the test endpoint and the admin's "Send test" button.
TEST_EVENT = "webhook.test"


def isoformat(moment: datetime | None) -> str | None:
    """ISO 8601 as the API writes it (UTC as Z)."""
    if moment is None:
        return None
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def event_payload(*, event: str, data: Mapping[str, Any], timestamp: str | None = None) -> dict[str, Any]:
    """The body every receiver gets: {"event", "timestamp", "data"}, as the original service."""
    return {"event": event, "timestamp": timestamp or isoformat(timezone.now()), "data": dict(data)}


def event_emit(*, event: str, data: Mapping[str, Any]) -> None:
    """Send `event` with `data` (JSON-ready) to the webhooks listening for it, once the transaction commits."""
    event_emit_many(event=event, data_list=[data])


def event_emit_many(*, event: str, data_list: Iterable[Mapping[str, Any]]) -> None:
    """`event_emit` for several changes at once: one query, one insert, one on-commit kick."""
    from webhooks.models import WebhookEvent
    from webhooks.outbox import webhook_outbox_kick
    from webhooks.selectors import webhook_subscribed

    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}")
    data_list = list(data_list)
    if not data_list or not webhook_subscribed(event=event):
        return
    timestamp = isoformat(timezone.now())
    rows = WebhookEvent.objects.bulk_create(
        WebhookEvent(event=event, payload=event_payload(event=event, data=data, timestamp=timestamp))
        for data in data_list
    )
    event_ids = [row.pk for row in rows]

    def kick() -> None:  # a function of its own: Django logs a robust callback's __qualname__
        webhook_outbox_kick(event_ids=event_ids)

    transaction.on_commit(kick, robust=True)


def webhook_delivery_id(*, event_id: str | uuid.UUID, webhook_id: int) -> uuid.UUID:
    """The delivery id (webhook-id header) of an event for a webhook: the same however often the
    event is queued, retried, redelivered or recovered."""
    return uuid.uuid5(uuid.UUID(str(event_id)), str(webhook_id))


def webhook_event_dispatch(*, event: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deliveries for emitted events (the worker's side of the outbox): one per (enabled webhook
    listening for it, event), as the keyword arguments of webhooks.delivery.webhook_deliver.

    The delivery id is derived from the event id and the webhook, so running this twice (a
    redelivered task) yields the same deliveries, which webhook_deliver then sends once.
    """
    from webhooks.selectors import webhook_ids_for_event

    webhook_ids = webhook_ids_for_event(event=event)
    return [
        {
            "webhook_id": webhook_id,
            "delivery_id": str(webhook_delivery_id(event_id=message["event_id"], webhook_id=webhook_id)),
            "event": event,
            "payload": message["payload"],
        }
        for message in messages
        for webhook_id in webhook_ids
    ]


def product_data(*, event: str, products: Iterable[Product]) -> list[dict[str, Any]]:
    """The `data` of a product event for each product: the API's product JSON, with the event's keys.

    Timestamps are always UTC (as Z), as receivers have always had them, whatever TIME_ZONE says.
    """
    # Imported here, as Product is only for typing: webhooks.models loads this module (through
    # validators), and products.services imports it, so it keeps clear of the products app.
    from products.serializers import ProductSerializer

    with timezone.override(UTC):
        rows = ProductSerializer(products, many=True).data
    return [{key: row[key] for key in EVENTS[event]} for row in rows]


def product_event_emit(*, event: str, products: Iterable[Product]) -> None:
    """Emit a product.* event for each product (call it before a delete: the data is taken now)."""
    event_emit_many(event=event, data_list=product_data(event=event, products=products))
