"""Writes to webhooks and their delivery log that send nothing themselves: create, change and
delete webhooks, queue a redelivery, prune the log. Sending is webhooks.delivery's.
The API and the admin come through here."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from fulfil.database import delete_in_batches
from fulfil.errors import Conflict
from webhooks.headers import credentials_to_reenter, reentry_errors, unmask_headers
from webhooks.models import Webhook, WebhookDelivery
from webhooks.selectors import webhook_undelivered

EDITABLE_FIELDS = ("url", "events", "is_active", "secret", "description", "headers", "retry_count", "timeout_seconds")

# --- Webhooks -----------------------------------------------------------------------------


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    cleaned = dict(values)
    if "url" in cleaned and isinstance(cleaned["url"], str):
        cleaned["url"] = cleaned["url"].strip()
    if "events" in cleaned and isinstance(cleaned["events"], list):
        cleaned["events"] = list(dict.fromkeys(cleaned["events"]))  # once each, in the order given
    for field in ("secret", "description"):
        if field in cleaned and cleaned[field] is None:
            cleaned[field] = ""
    if "headers" in cleaned and cleaned["headers"] is None:
        cleaned["headers"] = {}
    return cleaned


def webhook_create(*, url: str, events: list[str], **values: Any) -> Webhook:
    """Create a webhook; bad values are a ValidationError by field."""
    values = _clean({"url": url, "events": events, **values})
    if "headers" in values:
        values["headers"] = unmask_headers(values["headers"], stored={})
    webhook = Webhook(**values)
    webhook.full_clean()
    webhook.save()
    return webhook


def webhook_update(*, webhook: Webhook, **changes: Any) -> Webhook:
    """Change some fields. Enabling a disabled webhook forgets its run of failures and its last error.
    A URL on another origin needs the secret and secret-looking headers entered again."""
    changes = _clean(changes)
    missing = credentials_to_reenter(
        stored_url=webhook.url,
        stored_secret=webhook.secret,
        stored_headers=webhook.headers,
        url=changes.get("url"),
        secret_given="secret" in changes,
        headers=changes.get("headers") if "headers" in changes else None,
    )
    if missing:
        raise ValidationError(reentry_errors(missing))
    if "headers" in changes:
        changes["headers"] = unmask_headers(changes["headers"], stored=webhook.headers)
    enabling = changes.get("is_active") is True and not webhook.is_active
    for field, value in changes.items():
        setattr(webhook, field, value)
    if enabling:
        webhook.consecutive_failures = 0
        webhook.failing_since = None
        webhook.last_error = ""
    webhook.full_clean()
    webhook.save()
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete a webhook and its delivery log; its pending retries find nothing and stop."""
    webhook.delete()


def webhook_set_active(*, webhooks: Iterable[Webhook], active: bool) -> int:
    """Enable or disable webhooks; returns how many changed. Enabling starts afresh, as in webhook_update."""
    ids = [webhook.pk for webhook in webhooks if webhook.is_active != active]
    if not ids:
        return 0
    extra = {"consecutive_failures": 0, "failing_since": None, "last_error": ""} if active else {}
    return Webhook.objects.filter(pk__in=ids).update(is_active=active, updated_at=timezone.now(), **extra)


# --- The delivery log ---------------------------------------------------------------------


def webhook_redeliver(*, delivery: WebhookDelivery) -> None:
    """Queue one more attempt of a logged delivery: the same payload and webhook-id, no retries.

    Every call sends once more (two clicks, two sends); the attempt is numbered when it is logged,
    after whatever ran before it, so it never takes the number of a pending retry.
    """
    from webhooks.tasks import webhook_deliver_task

    webhook = delivery.webhook
    if not webhook.is_active:
        raise Conflict("The webhook is disabled; enable it before redelivering.", code="webhook_disabled")
    kwargs = {
        "webhook_id": webhook.pk,
        "delivery_id": str(delivery.delivery_id),
        "event": delivery.event,
        "payload": delivery.payload,
        "trigger": WebhookDelivery.Trigger.REDELIVERY.value,
        "key": str(uuid.uuid4()),
    }
    transaction.on_commit(lambda: webhook_deliver_task.delay(**kwargs))


def webhook_recover(*, webhook: Webhook, since: datetime) -> int:
    """Queue one more attempt of every event of `webhook` since `since` that it never received
    (failed, or skipped while it was disabled), each with its own webhook-id; returns how many.

    Each is one attempt, sent only if the delivery has not succeeded by then and no other attempt
    of it is in flight, so a receiver gets each event once however often this is asked.
    """
    from webhooks.tasks import webhook_deliver_task

    if not webhook.is_active:
        raise Conflict("The webhook is disabled; enable it before resending.", code="webhook_disabled")
    deliveries = webhook_undelivered(webhook=webhook, since=since)
    recovery = {"trigger": WebhookDelivery.Trigger.RECOVERY.value}

    def queue() -> None:
        for kwargs in deliveries:
            webhook_deliver_task.delay(**kwargs, **recovery, key=str(uuid.uuid4()))

    transaction.on_commit(queue)
    return len(deliveries)


def webhook_delivery_log_prune(*, now: datetime | None = None) -> int:
    """Delete delivery logs older than WEBHOOK_LOG_RETENTION_DAYS, in batches; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    return delete_in_batches(WebhookDelivery.objects.filter(created_at__lt=cutoff))
