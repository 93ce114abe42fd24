"""Writes to webhooks and their delivery. The API, the admin and the tasks all come through here."""

from __future__ import annotations

import email.utils
import http
import json
import logging
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max
from django.utils import timezone

from fulfil.errors import Conflict
from webhooks import transport
from webhooks.events import EVENTS, TEST_EVENT, event_payload
from webhooks.headers import mask_headers, unmask_headers
from webhooks.models import Webhook, WebhookDelivery
from webhooks.signing import signature_headers

logger = logging.getLogger(__name__)

USER_AGENT = "FulFil-Webhook/1.0"
EDITABLE_FIELDS = ("url", "events", "is_active", "secret", "description", "headers", "retry_count", "timeout_seconds")
_PRUNE_BATCH = 5000

Trigger = WebhookDelivery.Trigger


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
    """Change some fields. Enabling a disabled webhook forgets its run of failures and its last error."""
    changes = _clean(changes)
    if "headers" in changes:
        changes["headers"] = unmask_headers(changes["headers"], stored=webhook.headers)
    enabling = changes.get("is_active") is True and not webhook.is_active
    for field, value in changes.items():
        setattr(webhook, field, value)
    if enabling:
        webhook.consecutive_failures = 0
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
    extra = {"consecutive_failures": 0, "last_error": ""} if active else {}
    return Webhook.objects.filter(pk__in=ids).update(is_active=active, updated_at=timezone.now(), **extra)


# --- Delivery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt came to. `retry_in` is the delay before the next attempt, or None for none."""

    log: WebhookDelivery | None
    retry_in: float | None = None


def webhook_event_dispatch(*, event: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deliveries for emitted events: one per (enabled webhook listening for it, event).

    The delivery id is derived from the event id and the webhook, so running this twice (a
    redelivered task) yields the same deliveries, which webhook_deliver then sends once.
    """
    from webhooks.selectors import webhook_ids_for_event

    webhook_ids = webhook_ids_for_event(event=event)
    return [
        {
            "webhook_id": webhook_id,
            "delivery_id": str(uuid.uuid5(uuid.UUID(message["event_id"]), str(webhook_id))),
            "event": event,
            "payload": message["payload"],
        }
        for message in messages
        for webhook_id in webhook_ids
    ]


def webhook_deliver(
    *,
    webhook_id: int,
    delivery_id: str,
    event: str,
    payload: dict[str, Any],
    attempt: int = 1,
    trigger: str = Trigger.EVENT,
    key: str | None = None,
) -> DeliveryOutcome:
    """Make one attempt, log it, update the webhook's counters, and say whether to retry.

    `attempt` is the place in the event's own run of tries (1, then each retry), which sets the
    backoff and the limit; the number logged is given when the attempt is logged, so retries and
    redeliveries of one delivery never claim the same one. `key` names this task (a redelivery
    brings its own; an event's tries derive theirs): an attempt whose key is logged is not sent again.
    """
    key = key or _task_key(delivery_id, trigger=trigger, attempt=attempt)
    done = WebhookDelivery.objects.filter(task_key=key)
    webhook = Webhook.objects.filter(pk=webhook_id).annotate(done=Exists(done)).first()
    if webhook is None:
        return DeliveryOutcome(None)  # deleted
    if webhook.done:
        return _resume(key=key, delivery_id=delivery_id, attempt=attempt)  # the task was delivered twice
    if trigger in (Trigger.EVENT, Trigger.RETRY) and (not webhook.is_active or event not in webhook.events):
        logger.info("Webhook %s: %s attempt %s skipped, disabled or unsubscribed", webhook.pk, event, attempt)
        return DeliveryOutcome(None)

    result, sent_headers = _send(webhook, delivery_id=delivery_id, event=event, payload=payload)
    success, retryable, error = _judge(result)
    retry_in = None
    if retryable and trigger in (Trigger.EVENT, Trigger.RETRY) and attempt <= webhook.retry_count:
        retry_in = retry_delay(attempt=attempt, retry_after=result.retry_after)
    try:
        log = _record(
            webhook,
            result=result,
            success=success,
            error=error,
            final=retry_in is None,
            values={
                "event": event,
                "delivery_id": delivery_id,
                "task_key": key,
                "trigger": trigger,
                "payload": payload,
                "request_headers": sent_headers,
                "next_attempt_at": timezone.now() + timedelta(seconds=retry_in) if retry_in is not None else None,
            },
        )
    except IntegrityError:
        return DeliveryOutcome(None)  # a concurrent copy of this task recorded the attempt first
    logger.info(
        "Webhook %s: %s attempt %s (%s) %s%s",
        webhook.pk,
        event,
        log.attempt,
        trigger,
        "ok" if success else error,
        f", retry in {retry_in:.1f} s" if retry_in is not None else "",
    )
    return DeliveryOutcome(log, retry_in)


@dataclass(frozen=True)
class SendTestResult:
    success: bool
    status_code: int | None
    response_time_ms: int
    response_body: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def webhook_send_test(
    *, webhook: Webhook, event: str | None = None, data: dict[str, Any] | None = None
) -> SendTestResult:
    """Send one signed test event now, without retries; logged as a test, not counted in the stats.

    It says it is a test (`"test": true` in the signed body, `X-Webhook-Test: true`), whatever
    event it names, so a receiver need not act on a made-up product.deleted.
    """
    event = event or TEST_EVENT
    if event != TEST_EVENT and event not in EVENTS:
        raise ValidationError({"event": [f"Unknown event {event!r}."]})
    if data is None:
        data = {"webhook_id": webhook.pk, "message": "A test delivery from FulFil."}
    payload = {**event_payload(event=event, data=data), "test": True}
    result, sent_headers = _send(webhook, delivery_id=str(uuid.uuid4()), event=event, payload=payload, test=True)
    success, _, error = _judge(result)
    _record(
        webhook,
        result=result,
        success=success,
        error=error,
        final=True,
        values={
            "event": event,
            "delivery_id": sent_headers["webhook-id"],
            "trigger": Trigger.TEST,
            "payload": payload,
            "request_headers": sent_headers,
        },
    )
    return SendTestResult(success, result.status_code, result.elapsed_ms, result.body, error)


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
        "trigger": Trigger.REDELIVERY.value,
        "key": str(uuid.uuid4()),
    }
    transaction.on_commit(lambda: webhook_deliver_task.delay(**kwargs))


def retry_delay(*, attempt: int, retry_after: str | None = None, now: datetime | None = None) -> float:
    """Seconds before the next attempt: the receiver's Retry-After when it sends one, otherwise
    2**attempt plus up to 25 % jitter; never more than WEBHOOK_RETRY_BACKOFF_MAX."""
    cap = settings.WEBHOOK_RETRY_BACKOFF_MAX
    asked = _parse_retry_after(retry_after, now or timezone.now())
    if asked is not None:
        return float(min(cap, asked))
    delay = min(cap, 2**attempt)
    return float(min(cap, delay + random.uniform(0, delay / 4)))


def _parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²", which isdigit() but float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None  # unparseable: as if absent
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def webhook_delivery_log_prune(*, now: datetime | None = None) -> int:
    """Delete delivery logs older than WEBHOOK_LOG_RETENTION_DAYS, in batches; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(WebhookDelivery.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:_PRUNE_BATCH])
        if not ids:
            return deleted
        deleted += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]


# --- Internals ----------------------------------------------------------------------------


def _task_key(delivery_id: str | uuid.UUID, *, trigger: str, attempt: int) -> uuid.UUID:
    """The key of an event's try (or of a redelivery queued before redeliveries brought their own)."""
    return uuid.uuid5(uuid.UUID(str(delivery_id)), f"{trigger}-{attempt}")


def _resume(*, key: str | uuid.UUID, delivery_id: str, attempt: int) -> DeliveryOutcome:
    """An attempt already logged. If it was to be retried and that retry has not run, the worker
    may have died before queueing it, so say again to retry (a retry queued twice sends once)."""
    log = WebhookDelivery.objects.filter(task_key=key).first()
    if log is None or log.next_attempt_at is None:
        return DeliveryOutcome(None)
    if WebhookDelivery.objects.filter(
        task_key=_task_key(delivery_id, trigger=Trigger.RETRY, attempt=attempt + 1)
    ).exists():
        return DeliveryOutcome(None)
    logger.info("Webhook %s: %s attempt %s ran already; queueing its retry again", log.webhook_id, log.event, attempt)
    return DeliveryOutcome(log, max(0.0, (log.next_attempt_at - timezone.now()).total_seconds()))


def _send(
    webhook: Webhook, *, delivery_id: str, event: str, payload: dict[str, Any], test: bool = False
) -> tuple[transport.HttpResult, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        **webhook.headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Event": event,
        **({"X-Webhook-Test": "true"} if test else {}),
        **signature_headers(secret=webhook.secret, message_id=str(delivery_id), timestamp=int(time.time()), body=body),
    }
    result = transport.post(
        webhook.url,
        body=body,
        headers=headers,
        timeout=webhook.timeout_seconds,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    )
    return result, mask_headers(headers)


def _judge(result: transport.HttpResult) -> tuple[bool, bool, str]:
    """(success, worth retrying, error message)."""
    status = result.status_code
    if status is None:
        return False, result.outcome in ("timeout", "connection"), result.error
    phrase = _phrase(status)
    if 200 <= status < 300:
        return True, False, ""
    if 300 <= status < 400:
        return False, False, f"HTTP {status} {phrase}: redirect to {result.location or '(no Location)'} not followed."
    return False, status == 429 or status >= 500, f"HTTP {status} {phrase}".rstrip()


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _record(
    webhook: Webhook,
    *,
    result: transport.HttpResult,
    success: bool,
    error: str,
    final: bool,
    values: dict[str, Any],
) -> WebhookDelivery:
    """Log the attempt and, except for tests, update the counters and maybe disable the webhook.

    The webhook's row is locked before the attempt is numbered (the last number of its delivery,
    plus one), so two attempts of one delivery logged at once never take the same number.
    """
    now = timezone.now()

    def create_log() -> WebhookDelivery:
        last = WebhookDelivery.objects.filter(delivery_id=values["delivery_id"]).aggregate(n=Max("attempt"))["n"]
        return WebhookDelivery.objects.create(
            webhook=webhook,
            url=webhook.url,
            attempt=(last or 0) + 1,
            success=success,
            status_code=result.status_code,
            response_body=result.body,
            response_time_ms=result.elapsed_ms,
            error=error,
            **values,
        )

    with transaction.atomic():
        if values["trigger"] == Trigger.TEST:
            return create_log()  # a fresh delivery id: nothing to number against
        if success:  # the common case: no decision to take; the update takes the row lock
            Webhook.objects.filter(pk=webhook.pk).update(
                success_count=F("success_count") + 1, consecutive_failures=0, last_error="", last_triggered_at=now
            )
            return create_log()
        locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
        log = create_log()
        locked.last_triggered_at = now
        locked.failure_count += 1
        locked.last_error = error
        if result.status_code == http.HTTPStatus.GONE:
            locked.is_active = False
            locked.last_error = "Disabled: the receiver answered 410 Gone (it no longer wants these events)."
        elif final:
            locked.consecutive_failures += 1
            limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
            if limit and locked.consecutive_failures >= limit and locked.is_active:
                locked.is_active = False
                locked.last_error = (
                    f"Disabled after {locked.consecutive_failures} consecutive failed deliveries. Last error: {error}"
                )
        if not locked.is_active and webhook.is_active:
            logger.warning("Webhook %s disabled: %s", webhook.pk, locked.last_error)
        fields = ["last_triggered_at", "failure_count", "consecutive_failures", "last_error", "is_active"]
        locked.save(update_fields=fields)
    return log
