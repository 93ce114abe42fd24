"""The transactional outbox: no event is lost when the broker is down.

`event_emit` writes each event as a WebhookEvent row in the transaction of the change it reports,
so the event exists exactly when the change does. After the commit a kick tries to queue it at
once; whatever the kick could not queue (the broker was down, the process died) the relay queues
on its next run (beat, every WEBHOOK_RELAY_INTERVAL seconds). An event is marked sent in the same
transaction that queued it; if that commit is lost after the message went out, the event is
queued again, and the deliveries it fans out to keep their ids, which webhook_deliver sends once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from fulfil.database import delete_in_batches
from webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

BATCH = 200  # events per dispatch message
RELAY_BATCH = 1000  # events locked and queued per transaction by the relay


def webhook_outbox_kick(*, event_ids: Iterable[UUID]) -> None:
    """Queue these just-committed events now if the broker takes them; never raises (the relay
    queues what this could not). Neither connecting nor publishing is retried, so a broker that is
    down costs the request a refused connection, not seconds of waiting."""
    from fulfil.celery import app

    options = {**(app.conf.broker_transport_options or {}), "max_retries": 0}
    try:
        with app.connection_for_write(transport_options=options) as connection:
            _queue(WebhookEvent.objects.filter(pk__in=list(event_ids)), connection=connection)
    except Exception as exc:  # kombu and redis raise their own connection errors
        logger.warning("webhook events not queued yet (the relay will): %s", exc)


def webhook_outbox_relay(*, limit: int = 100 * RELAY_BATCH) -> int:
    """Queue pending events, oldest first, a batch per transaction; returns how many."""
    queued = 0
    while queued < limit:
        count = _queue(WebhookEvent.objects.all(), limit=RELAY_BATCH)
        queued += count
        if count < RELAY_BATCH:
            break
    if queued:
        logger.info("relay queued %s webhook events", queued)
    return queued


def webhook_relay() -> dict[str, int]:
    """What beat runs every WEBHOOK_RELAY_INTERVAL seconds: pending events, then due retries."""
    from webhooks.delivery import webhook_retries_queue_due

    return {"events": webhook_outbox_relay(), "retries": webhook_retries_queue_due()}


def webhook_outbox_backlog(*, now: datetime | None = None) -> dict[str, Any]:
    """Events not yet queued, and the age in seconds of the oldest (None when there are none)."""
    stats = WebhookEvent.objects.filter(sent_at__isnull=True).aggregate(pending=Count("pk"), oldest=Min("created_at"))
    oldest = stats["oldest"]
    age = round(((now or timezone.now()) - oldest).total_seconds(), 1) if oldest else None
    return {"pending": stats["pending"], "oldest_age_seconds": age}


def webhook_events_prune(*, now: datetime | None = None) -> int:
    """Delete events older than WEBHOOK_LOG_RETENTION_DAYS (recovery reads them until then)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    return delete_in_batches(WebhookEvent.objects.filter(created_at__lt=cutoff))


def _queue(events: QuerySet[WebhookEvent], *, limit: int | None = None, connection: Any = None) -> int:
    """Lock the pending ones of `events` (skipping any another relay holds), oldest first, queue
    them in order (a message per run of one event name), and mark them sent."""
    from webhooks.tasks import webhook_event_dispatch_task

    pending = events.filter(sent_at__isnull=True).order_by("created_at").select_for_update(skip_locked=True)
    with transaction.atomic():
        rows = list(pending[:limit] if limit else pending)
        if not rows:
            return 0
        for event, group in groupby(rows, key=lambda row: row.event):
            messages = [{"event_id": str(row.pk), "payload": row.payload} for row in group]
            for start in range(0, len(messages), BATCH):
                webhook_event_dispatch_task.apply_async(
                    kwargs={"event": event, "messages": messages[start : start + BATCH]},
                    connection=connection,
                    retry=connection is None,
                )
        WebhookEvent.objects.filter(pk__in=[row.pk for row in rows]).update(sent_at=timezone.now())
    return len(rows)
