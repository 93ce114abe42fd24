"""Celery tasks (routed to the `webhooks` queue). Each takes plain values, calls one service, and
is safe to run twice: an attempt already logged is not sent again."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from webhooks import delivery, events

# Results are not stored (one row per delivery in the result backend would double the writes);
# the delivery log is the record. The time limit bounds a receiver that trickles its answer.
_OPTIONS = {"ignore_result": True, "acks_late": True, "soft_time_limit": 90, "time_limit": 120}


@shared_task(**_OPTIONS)
def webhook_event_dispatch_task(*, event: str, messages: list[dict[str, Any]]) -> int:
    """Fan emitted events out into one delivery task per (webhook, event)."""
    deliveries = events.webhook_event_dispatch(event=event, messages=messages)
    for kwargs in deliveries:
        webhook_deliver_task.delay(**kwargs)
    return len(deliveries)


@shared_task(**_OPTIONS)
def webhook_deliver_task(
    *,
    webhook_id: int,
    delivery_id: str,
    event: str,
    payload: dict[str, Any],
    attempt: int = 1,
    trigger: str = "event",
    key: str | None = None,
) -> None:
    """One attempt; when the service says to retry, queue the next attempt after its delay."""
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
        webhook_deliver_task.apply_async(
            kwargs={
                "webhook_id": webhook_id,
                "delivery_id": delivery_id,
                "event": event,
                "payload": payload,
                "attempt": attempt + 1,
                "trigger": "retry",
            },
            countdown=outcome.retry_in,
        )
