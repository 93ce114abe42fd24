"""Celery tasks (routed to the `webhooks` queue). Each takes plain values, calls one service, and
is safe to run twice: an attempt already logged is not sent again."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings

from webhooks import delivery, events, outbox
from webhooks.models import WebhookDelivery

logger = logging.getLogger(__name__)

# Results are not stored (one row per delivery in the result backend would double the writes);
# the delivery log is the record. An attempt ends by its own deadline (timeout_seconds, at most
# 30 s); the time limits are a backstop, never above the worker-wide ones.
_OPTIONS: dict[str, Any] = {
    "ignore_result": True,
    "acks_late": True,
    "soft_time_limit": min(90, settings.CELERY_TASK_SOFT_TIME_LIMIT),
    "time_limit": min(120, settings.CELERY_TASK_TIME_LIMIT),
}
_SOFT_LIMIT_RETRY = 5.0  # seconds before an attempt stopped outside its request is run again


@shared_task(ignore_result=True)
def webhook_relay_task() -> dict[str, int]:
    """Beat, every WEBHOOK_RELAY_INTERVAL seconds: queue outbox events and retries that have come due."""
    return outbox.webhook_relay()


@shared_task(**_OPTIONS)
def webhook_event_dispatch_task(*, event: str, messages: list[dict[str, Any]]) -> int:
    """Fan emitted events out into one delivery task per (webhook, event)."""
    deliveries = events.webhook_event_dispatch(event=event, messages=messages)
    for kwargs in deliveries:
        webhook_deliver_task.delay(**kwargs)
    return len(deliveries)


# max_retries=None: webhook_deliver says whether to retry, from the webhook's retry_count as it
# is when each attempt runs (up to MAX_RETRY_COUNT). Celery's own count would be a second limit,
# and its default (3) would cut a longer schedule short.
@shared_task(bind=True, max_retries=None, **_OPTIONS)
def webhook_deliver_task(
    self: Task,
    *,
    webhook_id: int,
    delivery_id: str,
    event: str,
    payload: dict[str, Any],
    attempt: int = 1,
    trigger: str = WebhookDelivery.Trigger.EVENT.value,
    key: str | None = None,
) -> Retry | None:
    """One attempt; when the service says to retry, the same task again after its delay as the
    next attempt (whose key derives from the delivery and the attempt, as every retry's does).

    The retry is returned, not raised (throw=False): the worker has queued it either way, and a
    raised Retry would escape an eager run with task_eager_propagates, where apply() runs a
    returned one inline instead. A soft time limit during the request is a failed attempt (the
    service logs it); one anywhere else runs the same attempt again, so none is lost unlogged.
    """
    kwargs = dict(self.request.kwargs or {})
    try:
        outcome = delivery.webhook_deliver(
            webhook_id=webhook_id,
            delivery_id=delivery_id,
            event=event,
            payload=payload,
            attempt=attempt,
            trigger=trigger,
            key=key,
        )
    except SoftTimeLimitExceeded:
        logger.warning(
            "Webhook %s: %s attempt %s stopped by the time limit; running it again", webhook_id, event, attempt
        )
        return self.retry(countdown=_SOFT_LIMIT_RETRY, kwargs=kwargs, throw=False)
    if outcome.retry_in is None:
        return None
    if not outcome.again:
        kwargs.update({"attempt": attempt + 1, "trigger": WebhookDelivery.Trigger.RETRY.value, "key": None})
    return self.retry(countdown=outcome.retry_in, kwargs=kwargs, throw=False)
