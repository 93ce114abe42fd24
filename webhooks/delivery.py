"""Delivery: sending one attempt, judging what came back, when to try again, logging the attempt,
and when failures disable a webhook. Every attempt comes through here: an event's tries, a
redelivery (queued by services.webhook_redeliver), a recovery (services.webhook_recover) and a test.

Retries follow WEBHOOK_RETRY_SCHEDULE. A retry due within WEBHOOK_RETRY_COUNTDOWN_MAX seconds is
queued at once as a delayed message; a later one is only recorded (its attempt's next_attempt_at)
and queued by the relay once due (webhook_retries_queue_due), since Redis would hand a message
held past its visibility timeout to a second worker. An event's tries and recoveries stop once one
of them has succeeded, and never run two at once (a lock per delivery id), so a receiver gets one
successful delivery per event (a manual redelivery sends once more whatever happened before).
"""

from __future__ import annotations

import email.utils
import http
import json
import logging
import random
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max
from django.utils import timezone

from fulfil.database import session_lock
from webhooks import transport
from webhooks.events import EVENTS, TEST_EVENT, event_payload
from webhooks.headers import mask_headers
from webhooks.models import Webhook, WebhookDelivery
from webhooks.signing import signature_headers

logger = logging.getLogger(__name__)

USER_AGENT = "FulFil-Webhook/1.0"

Trigger = WebhookDelivery.Trigger
# Triggers that belong to an event's delivery, which ends at its first success.
_ONCE = (Trigger.EVENT, Trigger.RETRY, Trigger.RECOVERY)
_LOCK_NAMESPACE = 7303  # advisory locks on delivery ids (fulfil.database.session_lock)
BUSY_WAIT = 5.0  # seconds before an attempt that found its delivery in flight elsewhere runs again


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt came to. `retry_in`: queue the next attempt after this many seconds (None:
    no retry now; a long wait is left to the relay). `again`: run this same attempt after `retry_in`."""

    log: WebhookDelivery | None
    retry_in: float | None = None
    again: bool = False


@dataclass(frozen=True)
class Verdict:
    """What an attempt's result means: success, whether another try may fare better, and the error shown."""

    success: bool
    retryable: bool
    error: str


@dataclass(frozen=True)
class SendTestResult:
    success: bool
    status_code: int | None
    response_time_ms: int
    response_body: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    wait and the limit; the number logged is given when the attempt is logged, so retries and
    redeliveries of one delivery never claim the same one. `key` names this task (a redelivery or
    recovery brings its own; an event's tries derive theirs): an attempt whose key is logged is not
    sent again. An event's try or a recovery is not sent once the delivery has succeeded.
    """
    task_key = key or _task_key(delivery_id, trigger=trigger, attempt=attempt)
    done = WebhookDelivery.objects.filter(task_key=task_key)
    webhook = Webhook.objects.filter(pk=webhook_id).annotate(done=Exists(done)).first()
    if webhook is None:
        return DeliveryOutcome(None)  # deleted
    if webhook.done:
        return _resume(key=task_key, delivery_id=delivery_id, attempt=attempt)  # the task was delivered twice
    if trigger in _ONCE and (not webhook.is_active or event not in webhook.events):
        logger.info("Webhook %s: %s attempt %s skipped, disabled or unsubscribed", webhook.pk, event, attempt)
        return DeliveryOutcome(None)
    values = {"task_key": task_key, "trigger": trigger}
    if trigger not in _ONCE:  # a redelivery: sent however the delivery went
        return _attempt(webhook, delivery_id=delivery_id, event=event, payload=payload, attempt=attempt, values=values)
    with session_lock(_LOCK_NAMESPACE, uuid.UUID(str(delivery_id)).int & 0x7FFFFFFF) as mine:
        if not mine:  # another attempt of this delivery is in flight
            if trigger == Trigger.RECOVERY:
                return DeliveryOutcome(None)  # that one delivers it, or leaves it to be recovered again
            return DeliveryOutcome(None, retry_in=BUSY_WAIT, again=True)
        # A manual redelivery stands apart: it neither ends the run nor is ended by it.
        if WebhookDelivery.objects.filter(delivery_id=delivery_id, success=True, trigger__in=_ONCE).exists():
            logger.info("Webhook %s: %s %s not sent, delivered already", webhook.pk, event, delivery_id)
            return DeliveryOutcome(None)
        return _attempt(webhook, delivery_id=delivery_id, event=event, payload=payload, attempt=attempt, values=values)


def _attempt(
    webhook: Webhook, *, delivery_id: str, event: str, payload: dict[str, Any], attempt: int, values: dict[str, Any]
) -> DeliveryOutcome:
    trigger = values["trigger"]
    result, sent_headers = _send(webhook, delivery_id=delivery_id, event=event, payload=payload)
    verdict = judge(result)
    in_run = trigger in (Trigger.EVENT, Trigger.RETRY)
    retry_in = None
    if verdict.retryable and in_run and attempt <= webhook.retry_count:
        retry_in = retry_delay(attempt=attempt, retry_after=result.retry_after)
    now = timezone.now()
    queued_now = retry_in is not None and retry_in <= settings.WEBHOOK_RETRY_COUNTDOWN_MAX
    try:
        log = _log_attempt(
            webhook,
            result=result,
            verdict=verdict,
            final=retry_in is None,
            values={
                "event": event,
                "delivery_id": delivery_id,
                "payload": payload,
                "request_headers": sent_headers,
                "run_attempt": attempt if in_run else None,
                "next_attempt_at": now + timedelta(seconds=retry_in) if retry_in is not None else None,
                "retry_queued_at": now if queued_now else None,
                **values,
            },
        )
    except IntegrityError:
        return DeliveryOutcome(None)  # a concurrent copy of this task recorded the attempt first
    if log is None:
        return DeliveryOutcome(None)  # the webhook was deleted meanwhile
    logger.info(
        "Webhook %s: %s attempt %s (%s) %s%s",
        webhook.pk,
        event,
        log.attempt,
        trigger,
        "ok" if verdict.success else verdict.error,
        f", retry in {retry_in:.1f} s" if retry_in is not None else "",
    )
    return DeliveryOutcome(log, retry_in if queued_now else None)


def webhook_retries_queue_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Queue the retries that have come due and were left to the relay (waits longer than
    WEBHOOK_RETRY_COUNTDOWN_MAX); returns how many. Rows another relay holds are skipped."""
    from webhooks.tasks import webhook_deliver_task

    now = now or timezone.now()
    due = (
        WebhookDelivery.objects.filter(next_attempt_at__lte=now, retry_queued_at__isnull=True)
        .order_by("next_attempt_at")
        .select_for_update(skip_locked=True)
    )
    with transaction.atomic():
        rows = list(due[:limit])
        for row in rows:
            kwargs = {
                "webhook_id": row.webhook_id,
                "delivery_id": str(row.delivery_id),
                "event": row.event,
                "payload": row.payload,
                "attempt": (row.run_attempt or row.attempt) + 1,
                "trigger": Trigger.RETRY.value,
            }
            webhook_deliver_task.apply_async(kwargs=kwargs)
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(retry_queued_at=now)
    return len(rows)


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
    # Not logged when the webhook was deleted while the request was out (see _log_attempt).
    verdict = judge(result)
    _log_attempt(
        webhook,
        result=result,
        verdict=verdict,
        final=True,
        values={
            "event": event,
            "delivery_id": sent_headers["webhook-id"],
            "trigger": Trigger.TEST,
            "payload": payload,
            "request_headers": sent_headers,
        },
    )
    return SendTestResult(verdict.success, result.status_code, result.elapsed_ms, result.body, verdict.error)


# --- The rules ----------------------------------------------------------------------------


def judge(result: transport.HttpResult) -> Verdict:
    """A 2xx is a success. Timeouts, broken connections, 429 and 5xx may fare better later; other
    answers (4xx, redirects, which are not followed) and refused or unsendable requests will not."""
    status = result.status_code
    if status is None:
        return Verdict(False, result.outcome in ("timeout", "connection"), result.error)
    phrase = _phrase(status)
    if 200 <= status < 300:
        return Verdict(True, False, "")
    if 300 <= status < 400:
        error = f"HTTP {status} {phrase}: redirect to {result.location or '(no Location)'} not followed."
        return Verdict(False, False, error)
    return Verdict(False, status == 429 or status >= 500, f"HTTP {status} {phrase}".rstrip())


def retry_delay(*, attempt: int, retry_after: str | None = None, now: datetime | None = None) -> float:
    """Seconds before the retry after failed attempt number `attempt`: the receiver's Retry-After
    when it sends one, otherwise the schedule's wait for that retry (its last past its end) plus up
    to 10 % jitter; never more than WEBHOOK_RETRY_BACKOFF_MAX."""
    cap = settings.WEBHOOK_RETRY_BACKOFF_MAX
    asked = _parse_retry_after(retry_after, now or timezone.now())
    if asked is not None:
        return float(min(cap, asked))
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    delay = schedule[min(max(attempt, 1), len(schedule)) - 1]
    return float(min(cap, delay + random.uniform(0, delay / 10)))


def webhook_disable_reason(
    *, webhook: Webhook, status_code: int | None, error: str, now: datetime | None = None
) -> str | None:
    """Why a failed attempt disables its webhook (the reason becomes its last error), or None.

    A 410 Gone disables at once: the receiver says it wants no more events. Otherwise an enabled
    webhook is disabled once every attempt has failed for WEBHOOK_DISABLE_AFTER (since
    `failing_since`, which a success clears); 0 never disables.
    """
    if status_code == http.HTTPStatus.GONE:
        return "Disabled: the receiver answered 410 Gone (it no longer wants these events)."
    limit = settings.WEBHOOK_DISABLE_AFTER
    since = webhook.failing_since
    if not (limit and webhook.is_active and since):
        return None
    failing = (now or timezone.now()) - since
    if failing < timedelta(seconds=limit):
        return None
    return (
        f"Disabled: every attempt has failed since {since:%Y-%m-%d %H:%M} UTC ({_span(failing)}). Last error: {error}"
    )


def _span(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


# --- Internals ----------------------------------------------------------------------------


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


def storable(value: Any) -> Any:
    """JSON as PostgreSQL can store it: no NUL characters, no lone surrogates (a test send's data is
    whatever the sender typed); both become U+FFFD. What was sent is not changed, only its record."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _task_key(delivery_id: str | uuid.UUID, *, trigger: str, attempt: int) -> uuid.UUID:
    """The key of an event's try (or of a redelivery queued before redeliveries brought their own)."""
    return uuid.uuid5(uuid.UUID(str(delivery_id)), f"{trigger}-{attempt}")


def _resume(*, key: str | uuid.UUID, delivery_id: str, attempt: int) -> DeliveryOutcome:
    """An attempt already logged. If it was to be retried and that retry has not run, the worker
    may have died before queueing it, so say again to retry (a retry queued twice sends once)."""
    log = WebhookDelivery.objects.filter(task_key=key).first()
    if log is None or log.next_attempt_at is None or log.retry_queued_at is None:
        return DeliveryOutcome(None)  # no retry, or one the relay queues when due
    if WebhookDelivery.objects.filter(
        task_key=_task_key(delivery_id, trigger=Trigger.RETRY, attempt=attempt + 1)
    ).exists():
        return DeliveryOutcome(None)
    logger.info("Webhook %s: %s attempt %s ran already; queueing its retry again", log.webhook_id, log.event, attempt)
    return DeliveryOutcome(log, max(0.0, (log.next_attempt_at - timezone.now()).total_seconds()))


def _send(
    webhook: Webhook, *, delivery_id: str, event: str, payload: dict[str, Any], test: bool = False
) -> tuple[transport.HttpResult, dict[str, str]]:
    """POST the signed payload once; the result and the headers as they may be logged."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        **webhook.headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Event": event,
        **({"X-Webhook-Test": "true"} if test else {}),
        **signature_headers(secret=webhook.secret, message_id=str(delivery_id), timestamp=int(time.time()), body=body),
    }
    started = time.monotonic()
    try:
        result = transport.post(
            webhook.url,
            body=body,
            headers=headers,
            timeout=webhook.timeout_seconds,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
        )
    except SoftTimeLimitExceeded:
        # The worker's soft time limit: a failed attempt, logged and retried like a timeout.
        elapsed = round((time.monotonic() - started) * 1000)
        error = f"Stopped by the worker's time limit after {elapsed / 1000:.1f} s."
        result = transport.HttpResult(elapsed_ms=elapsed, error=error, outcome="timeout")
    return result, mask_headers(headers)


def _log_attempt(
    webhook: Webhook,
    *,
    result: transport.HttpResult,
    verdict: Verdict,
    final: bool,
    values: dict[str, Any],
) -> WebhookDelivery | None:
    """Log the attempt and, except for tests, count it on the webhook (see webhook_disable_reason).

    The webhook's row is locked before the attempt is numbered (the last number of its delivery,
    plus one), so two attempts of one delivery logged at once never take the same number. None
    when the webhook was deleted while the attempt was out (its log went with it).
    """
    now = timezone.now()

    def create_log() -> WebhookDelivery:
        last = WebhookDelivery.objects.filter(delivery_id=values["delivery_id"]).aggregate(n=Max("attempt"))["n"]
        return WebhookDelivery.objects.create(
            webhook=webhook,
            url=webhook.url,
            attempt=(last or 0) + 1,
            success=verdict.success,
            status_code=result.status_code,
            response_body=result.body,
            response_time_ms=result.elapsed_ms,
            error=verdict.error,
            **{**values, "payload": storable(values["payload"])},
        )

    with transaction.atomic():
        if values["trigger"] == Trigger.TEST:
            if not Webhook.objects.select_for_update().filter(pk=webhook.pk).exists():
                return None
            return create_log()  # a fresh delivery id: nothing to number against
        if verdict.success:  # the common case: no decision to take; the update takes the row lock
            found = Webhook.objects.filter(pk=webhook.pk).update(
                success_count=F("success_count") + 1,
                consecutive_failures=0,
                failing_since=None,
                last_error="",
                last_triggered_at=now,
            )
            return create_log() if found else None
        locked = Webhook.objects.select_for_update().filter(pk=webhook.pk).first()
        if locked is None:
            return None
        log = create_log()
        locked.last_triggered_at = now
        locked.failure_count += 1
        locked.last_error = verdict.error
        locked.failing_since = locked.failing_since or now
        if final and result.status_code != http.HTTPStatus.GONE:  # a 410 ends the run by disabling
            locked.consecutive_failures += 1
        reason = webhook_disable_reason(webhook=locked, status_code=result.status_code, error=verdict.error, now=now)
        if reason:
            locked.is_active = False
            locked.last_error = reason
        if not locked.is_active and webhook.is_active:
            logger.warning("Webhook %s disabled: %s", webhook.pk, locked.last_error)
        fields = ["last_triggered_at", "failure_count", "consecutive_failures", "failing_since", "last_error"]
        locked.save(update_fields=[*fields, "is_active"])
    return log
