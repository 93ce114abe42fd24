"""Delivery: sending one attempt, judging what came back, when to try again, logging the attempt,
and when failures disable a webhook. Every attempt comes through here: an event's tries, a
redelivery (queued by services.webhook_redeliver) and a test.
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

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max
from django.utils import timezone

from webhooks import transport
from webhooks.events import EVENTS, TEST_EVENT, event_payload
from webhooks.headers import mask_headers
from webhooks.models import Webhook, WebhookDelivery
from webhooks.signing import signature_headers

logger = logging.getLogger(__name__)

USER_AGENT = "FulFil-Webhook/1.0"

Trigger = WebhookDelivery.Trigger


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt came to. `retry_in` is the delay before the next attempt, or None for none."""

    log: WebhookDelivery | None
    retry_in: float | None = None


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
    backoff and the limit; the number logged is given when the attempt is logged, so retries and
    redeliveries of one delivery never claim the same one. `key` names this task (a redelivery
    brings its own; an event's tries derive theirs): an attempt whose key is logged is not sent again.
    """
    task_key = key or _task_key(delivery_id, trigger=trigger, attempt=attempt)
    done = WebhookDelivery.objects.filter(task_key=task_key)
    webhook = Webhook.objects.filter(pk=webhook_id).annotate(done=Exists(done)).first()
    if webhook is None:
        return DeliveryOutcome(None)  # deleted
    if webhook.done:
        return _resume(key=task_key, delivery_id=delivery_id, attempt=attempt)  # the task was delivered twice
    if trigger in (Trigger.EVENT, Trigger.RETRY) and (not webhook.is_active or event not in webhook.events):
        logger.info("Webhook %s: %s attempt %s skipped, disabled or unsubscribed", webhook.pk, event, attempt)
        return DeliveryOutcome(None)

    result, sent_headers = _send(webhook, delivery_id=delivery_id, event=event, payload=payload)
    verdict = judge(result)
    retry_in = None
    if verdict.retryable and trigger in (Trigger.EVENT, Trigger.RETRY) and attempt <= webhook.retry_count:
        retry_in = retry_delay(attempt=attempt, retry_after=result.retry_after)
    try:
        log = _log_attempt(
            webhook,
            result=result,
            verdict=verdict,
            final=retry_in is None,
            values={
                "event": event,
                "delivery_id": delivery_id,
                "task_key": task_key,
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
        "ok" if verdict.success else verdict.error,
        f", retry in {retry_in:.1f} s" if retry_in is not None else "",
    )
    return DeliveryOutcome(log, retry_in)


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
    """Seconds before the next attempt: the receiver's Retry-After when it sends one, otherwise
    2**attempt plus up to 25 % jitter; never more than WEBHOOK_RETRY_BACKOFF_MAX."""
    cap = settings.WEBHOOK_RETRY_BACKOFF_MAX
    asked = _parse_retry_after(retry_after, now or timezone.now())
    if asked is not None:
        return float(min(cap, asked))
    delay = min(cap, 2**attempt)
    return float(min(cap, delay + random.uniform(0, delay / 4)))


def webhook_disable_reason(*, webhook: Webhook, status_code: int | None, final: bool, error: str) -> str | None:
    """Why a failed attempt disables its webhook (the reason becomes its last error), or None.

    A 410 Gone disables at once: the receiver says it wants no more events. Otherwise an enabled
    webhook is disabled when a failed delivery (`final`: its last attempt, with no retry to come)
    brings its run of them, `consecutive_failures` with this one counted, to
    WEBHOOK_DISABLE_AFTER_FAILURES; 0 never disables. A success ends the run.
    """
    if status_code == http.HTTPStatus.GONE:
        return "Disabled: the receiver answered 410 Gone (it no longer wants these events)."
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    if final and limit and webhook.is_active and webhook.consecutive_failures >= limit:
        return f"Disabled after {webhook.consecutive_failures} consecutive failed deliveries. Last error: {error}"
    return None


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
    result = transport.post(
        webhook.url,
        body=body,
        headers=headers,
        timeout=webhook.timeout_seconds,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    )
    return result, mask_headers(headers)


def _log_attempt(
    webhook: Webhook,
    *,
    result: transport.HttpResult,
    verdict: Verdict,
    final: bool,
    values: dict[str, Any],
) -> WebhookDelivery:
    """Log the attempt and, except for tests, count it on the webhook (see webhook_disable_reason).

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
            success=verdict.success,
            status_code=result.status_code,
            response_body=result.body,
            response_time_ms=result.elapsed_ms,
            error=verdict.error,
            **values,
        )

    with transaction.atomic():
        if values["trigger"] == Trigger.TEST:
            return create_log()  # a fresh delivery id: nothing to number against
        if verdict.success:  # the common case: no decision to take; the update takes the row lock
            Webhook.objects.filter(pk=webhook.pk).update(
                success_count=F("success_count") + 1, consecutive_failures=0, last_error="", last_triggered_at=now
            )
            return create_log()
        locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
        log = create_log()
        locked.last_triggered_at = now
        locked.failure_count += 1
        locked.last_error = verdict.error
        if final and result.status_code != http.HTTPStatus.GONE:  # a 410 ends the run by disabling
            locked.consecutive_failures += 1
        reason = webhook_disable_reason(
            webhook=locked, status_code=result.status_code, final=final, error=verdict.error
        )
        if reason:
            locked.is_active = False
            locked.last_error = reason
        if not locked.is_active and webhook.is_active:
            logger.warning("Webhook %s disabled: %s", webhook.pk, locked.last_error)
        fields = ["last_triggered_at", "failure_count", "consecutive_failures", "last_error", "is_active"]
        locked.save(update_fields=fields)
    return log
