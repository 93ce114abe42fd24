"""Celery tasks (routed to the `webhooks` queue). Each takes plain values, calls one service, and
is safe to run twice: an attempt already logged is not sent again."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.exceptions import Retry

from webhooks import delivery, events
from webhooks.models import WebhookDelivery

# Results are not stored (one row per delivery in the result backend would double the writes);
# the delivery log is the record. The time limit bounds a receiver that trickles its answer.
_OPTIONS: dict[str, Any] = {"ignore_result": True, "acks_late": True, "soft_time_limit": 90, "time_limit": 120}


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
    returned one inline instead.
    """
    outcome = delivery.webhook_deliver(
        webhook_id=webhook_id,
        delivery_id=delivery_id,
        event=event,
        payload=payload,
        attempt=attempt,
        trigger=trigger,
        key=key,
    )
    if outcome.retry_in is not None:
        retry = {"attempt": attempt + 1, "trigger": WebhookDelivery.Trigger.RETRY.value, "key": None}
        return self.retry(countdown=outcome.retry_in, kwargs={**(self.request.kwargs or {}), **retry}, throw=False)
    return None
