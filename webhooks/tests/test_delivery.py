"""Delivery against a real local receiver: headers, signatures, retries, disabling, the log."""

from __future__ import annotations

import base64
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from email.utils import format_datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from webhooks import delivery, services
from webhooks.models import MAX_RETRY_COUNT, Webhook, WebhookDelivery
from webhooks.tasks import webhook_deliver_task
from webhooks.tests.conftest import legacy_signature_ok, standard_signature_ok
from webhooks.transport import HttpResult

pytestmark = pytest.mark.django_db

Trigger = WebhookDelivery.Trigger


def attempts(webhook: Webhook) -> list[WebhookDelivery]:
    return list(webhook.deliveries.order_by("attempt"))


# --- What is sent ------------------------------------------------------------------------


@pytest.mark.quickstart
def test_delivery_posts_the_payload_as_json_with_the_original_headers(receiver, make_webhook, emit):
    make_webhook()
    emit("product.created", {"id": "p-1", "sku": "SKU-1"})
    [request] = receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/hook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == "FulFil-Webhook/1.0"
    assert request.header("X-Webhook-Event") == "product.created"
    assert set(request.json) == {"event", "timestamp", "data"}
    assert request.json["event"] == "product.created"
    assert request.json["data"] == {"id": "p-1", "sku": "SKU-1"}


def test_both_signatures_verify_with_an_independent_verifier(receiver, make_webhook, emit):
    make_webhook(secret="s3cret-ünïcode")
    emit()
    [request] = receiver.wait_for(1)
    assert legacy_signature_ok("s3cret-ünïcode", request.body, request.header("X-Webhook-Signature"))
    assert standard_signature_ok("s3cret-ünïcode", request)
    assert not legacy_signature_ok("other", request.body, request.header("X-Webhook-Signature"))
    assert not standard_signature_ok("other", request)


def test_a_whsec_secret_is_base64_decoded_for_the_standard_signature_only(receiver, make_webhook, emit):
    secret = "whsec_" + base64.b64encode(b"raw key bytes \x00\xff").decode()
    make_webhook(secret=secret)
    emit()
    [request] = receiver.wait_for(1)
    assert standard_signature_ok(secret, request)
    assert legacy_signature_ok(secret, request.body, request.header("X-Webhook-Signature"))


def test_a_replayed_old_request_fails_the_standard_verification(receiver, make_webhook, emit):
    make_webhook(secret="k")
    emit()
    [request] = receiver.wait_for(1)
    request.headers["webhook-timestamp"] = str(int(time.time()) - 3600)
    assert not standard_signature_ok("k", request)


def test_without_a_secret_no_signature_is_sent_but_the_id_and_timestamp_are(receiver, make_webhook, emit):
    make_webhook()
    emit()
    [request] = receiver.wait_for(1)
    assert request.header("X-Webhook-Signature") is None and request.header("webhook-signature") is None
    assert uuid.UUID(request.header("webhook-id"))
    assert abs(int(request.header("webhook-timestamp")) - time.time()) < 60


def test_custom_headers_are_sent_and_secret_looking_ones_are_masked_in_the_log(receiver, make_webhook, emit):
    webhook = make_webhook(secret="k", headers={"Authorization": "Bearer abc", "X-Tenant": "acme", "X-Api-Key": "k1"})
    emit()
    [request] = receiver.wait_for(1)
    assert request.header("Authorization") == "Bearer abc"
    assert request.header("X-Tenant") == "acme" and request.header("X-Api-Key") == "k1"
    logged = webhook.deliveries.get().request_headers
    assert logged["Authorization"] == "********" and logged["X-Api-Key"] == "********"
    assert logged["X-Tenant"] == "acme"
    assert logged["X-Webhook-Signature"] == "sha256=********"
    assert logged["webhook-signature"] == "v1,********"
    assert logged["webhook-id"] == request.header("webhook-id")
    assert "Bearer abc" not in str(logged) and request.header("X-Webhook-Signature") not in str(logged)


@pytest.mark.parametrize("value", ["€uro", " Bearer hush"])
def test_a_header_saved_before_validation_tightened_fails_once_logged_and_unsent(receiver, make_webhook, emit, value):
    webhook = make_webhook(retry_count=3)
    Webhook.objects.filter(pk=webhook.pk).update(headers={"X-Token": value})  # an old row, unvalidated
    emit()
    assert receiver.requests == []
    [log] = attempts(webhook)
    assert not log.success and log.status_code is None and log.next_attempt_at is None
    assert log.error.startswith("Not sent: the value of header X-Token is not visible ASCII")
    assert "hush" not in log.error
    webhook.refresh_from_db()
    assert webhook.failure_count == 1 and "X-Token" in webhook.last_error


def test_a_successful_attempt_is_logged_and_counted(receiver, make_webhook, emit):
    webhook = make_webhook()
    receiver.reply(201, b'{"received": true}')
    emit()
    [log] = attempts(webhook)
    assert (log.success, log.status_code, log.attempt, log.trigger) == (True, 201, 1, Trigger.EVENT)
    assert log.response_body == '{"received": true}' and log.error == "" and log.response_time_ms is not None
    assert log.url == webhook.url and log.payload["event"] == "product.created"
    webhook.refresh_from_db()
    assert (webhook.success_count, webhook.failure_count) == (1, 0)
    assert webhook.last_triggered_at is not None and webhook.last_error == ""


def test_the_response_body_is_logged_up_to_16_kb(receiver, make_webhook, emit):
    webhook = make_webhook()
    receiver.reply(200, b"x" * 40_000)
    emit()
    assert len(webhook.deliveries.get().response_body) == 16 * 1024


# --- Retries -----------------------------------------------------------------------------


def test_a_500_is_retried_up_to_retry_count_with_the_same_webhook_id(receiver, make_webhook, emit):
    webhook = make_webhook(retry_count=3, secret="k")
    for _ in range(4):
        receiver.reply(500, b"boom")
    emit()
    requests = receiver.wait_for(4)
    assert len(requests) == 4
    assert len({r.header("webhook-id") for r in requests}) == 1
    assert all(standard_signature_ok("k", r) for r in requests)
    logs = attempts(webhook)
    assert [log.attempt for log in logs] == [1, 2, 3, 4]
    assert [log.trigger for log in logs] == [Trigger.EVENT, Trigger.RETRY, Trigger.RETRY, Trigger.RETRY]
    assert all(log.next_attempt_at is not None for log in logs[:3]) and logs[3].next_attempt_at is None
    assert logs[0].error == "HTTP 500 Internal Server Error"
    webhook.refresh_from_db()
    assert (webhook.failure_count, webhook.consecutive_failures) == (4, 1)
    assert webhook.last_error == "HTTP 500 Internal Server Error" and webhook.is_active


def test_a_webhook_with_the_most_retries_gets_every_one(receiver, make_webhook, emit):
    """More retries than Celery's default max_retries (3): the webhook's retry_count decides."""
    webhook = make_webhook(retry_count=MAX_RETRY_COUNT)
    for _ in range(MAX_RETRY_COUNT + 1):
        receiver.reply(500)
    emit()
    logs = attempts(webhook)
    assert [log.attempt for log in logs] == list(range(1, MAX_RETRY_COUNT + 2))
    assert [log.trigger for log in logs] == [Trigger.EVENT] + [Trigger.RETRY] * MAX_RETRY_COUNT
    assert logs[-1].next_attempt_at is None and not any(log.success for log in logs)


def test_a_retry_that_succeeds_ends_the_delivery(receiver, make_webhook, emit):
    webhook = make_webhook(retry_count=5)
    receiver.reply(503)
    emit()
    assert len(receiver.wait_for(2)) == 2
    assert [log.success for log in attempts(webhook)] == [False, True]
    webhook.refresh_from_db()
    assert (webhook.success_count, webhook.failure_count, webhook.consecutive_failures) == (1, 1, 0)
    assert webhook.last_error == ""


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_are_not_retried(receiver, make_webhook, emit, status):
    webhook = make_webhook(retry_count=3)
    receiver.reply(status)
    emit()
    time.sleep(0.05)
    assert len(receiver.requests) == 1
    [log] = attempts(webhook)
    assert log.status_code == status and not log.success and log.next_attempt_at is None


def test_a_429_is_retried_after_the_delay_in_its_retry_after(receiver, make_webhook, emit, settings):
    settings.WEBHOOK_RETRY_BACKOFF_MAX = 3600
    webhook = make_webhook(retry_count=1)
    receiver.reply(429, headers={"Retry-After": "120"})
    emit()
    first, second = attempts(webhook)
    assert first.status_code == 429 and second.success
    due = (first.next_attempt_at - first.created_at).total_seconds()
    assert 119 <= due <= 121


@pytest.mark.parametrize("retry_after", ["²", "Mon, 99 Foo 99999 99:99:99 GMT", "-5"])
def test_an_unparseable_retry_after_is_ignored_and_the_attempt_still_logged(receiver, make_webhook, emit, retry_after):
    webhook = make_webhook(retry_count=1)
    receiver.reply(503, headers={"Retry-After": retry_after})
    emit()
    first, second = attempts(webhook)
    assert first.status_code == 503 and first.next_attempt_at is not None and second.success


def test_a_timeout_is_retried(receiver, make_webhook, emit):
    webhook = make_webhook(retry_count=1, timeout_seconds=1)
    receiver.reply(200, delay=1.5)
    emit()
    first, second = attempts(webhook)
    assert first.status_code is None and "No response within 1 s" in first.error
    assert second.success and second.trigger == Trigger.RETRY


def test_a_refused_connection_is_retried_then_given_up(make_webhook, emit):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    webhook = make_webhook(url=f"http://127.0.0.1:{port}/hook", retry_count=2)
    emit()
    logs = attempts(webhook)
    assert len(logs) == 3
    assert all(log.status_code is None and log.error.startswith("Connection failed") for log in logs)


def test_redirects_are_not_followed_and_count_as_failures(receiver, make_webhook, emit):
    webhook = make_webhook(retry_count=3)
    receiver.reply(302, headers={"Location": receiver.url("/elsewhere")})
    emit()
    time.sleep(0.05)
    assert [r.path for r in receiver.requests] == ["/hook"]
    [log] = attempts(webhook)
    assert not log.success and log.status_code == 302
    assert "not followed" in log.error and "/elsewhere" in log.error


@pytest.mark.parametrize(
    "result, verdict",
    [
        (HttpResult(status_code=204), (True, False, "")),
        (HttpResult(status_code=429), (False, True, "HTTP 429 Too Many Requests")),
        (HttpResult(status_code=503), (False, True, "HTTP 503 Service Unavailable")),
        (HttpResult(status_code=599), (False, True, "HTTP 599")),
        (HttpResult(status_code=404), (False, False, "HTTP 404 Not Found")),
        (
            HttpResult(status_code=301, location="https://elsewhere.example/"),
            (False, False, "HTTP 301 Moved Permanently: redirect to https://elsewhere.example/ not followed."),
        ),
        (HttpResult(error="No response within 5 s.", outcome="timeout"), (False, True, "No response within 5 s.")),
        (HttpResult(error="Connection failed: x", outcome="connection"), (False, True, "Connection failed: x")),
        (HttpResult(error="Refused: private.", outcome="refused"), (False, False, "Refused: private.")),
        (HttpResult(error="Not sent: bad header.", outcome="invalid"), (False, False, "Not sent: bad header.")),
    ],
)
def test_what_a_result_means(result, verdict):
    assert delivery.judge(result) == delivery.Verdict(*verdict)


def test_retries_wait_the_schedule_with_jitter_its_last_step_repeating_and_a_cap(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = (5, 300, 1800, 7200)
    settings.WEBHOOK_RETRY_BACKOFF_MAX = 3600
    for attempt, base in [(1, 5), (2, 300), (3, 1800)]:
        delays = {delivery.retry_delay(attempt=attempt) for _ in range(20)}
        assert all(base <= delay <= base * 1.1 for delay in delays)
        assert len(delays) > 1  # jitter
    assert delivery.retry_delay(attempt=4) == 3600  # 7200 capped
    assert delivery.retry_delay(attempt=9) == 3600  # past the end: the last step again (capped)


def test_retry_after_is_understood_in_seconds_and_as_an_http_date_and_capped(settings):
    settings.WEBHOOK_RETRY_BACKOFF_MAX = 600
    now = timezone.now()
    assert delivery.retry_delay(attempt=1, retry_after="30", now=now) == 30
    http_date = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert 89 <= delivery.retry_delay(attempt=1, retry_after=http_date, now=now) <= 90
    assert delivery.retry_delay(attempt=1, retry_after="86400", now=now) == 600
    first = settings.WEBHOOK_RETRY_SCHEDULE[0]  # unparseable: the schedule's wait
    assert first <= delivery.retry_delay(attempt=1, retry_after="soon", now=now) <= first * 1.1
    assert first <= delivery.retry_delay(attempt=1, retry_after="²", now=now) <= first * 1.1


# --- Disabling ---------------------------------------------------------------------------


def test_a_410_gone_disables_the_webhook_at_once(receiver, make_webhook, emit):
    webhook = make_webhook(retry_count=3)
    receiver.reply(410)
    emit()
    emit()
    assert len(receiver.requests) == 1
    webhook.refresh_from_db()
    assert not webhook.is_active and "410 Gone" in webhook.last_error


def test_a_webhook_failing_for_longer_than_disable_after_is_disabled_with_the_reason(
    receiver, make_webhook, emit, settings
):
    settings.WEBHOOK_DISABLE_AFTER = 3600
    webhook = make_webhook(retry_count=1)
    for _ in range(3):
        receiver.reply(500)
    emit()  # two failed attempts: failing since the first, not for long enough
    webhook.refresh_from_db()
    assert webhook.is_active and webhook.failing_since is not None and webhook.consecutive_failures == 1
    Webhook.objects.filter(pk=webhook.pk).update(failing_since=timezone.now() - timedelta(hours=1, minutes=1))
    emit()
    webhook.refresh_from_db()
    assert not webhook.is_active
    assert webhook.last_error.startswith("Disabled: every attempt has failed since ")
    assert webhook.last_error.endswith("(1 hour). Last error: HTTP 500 Internal Server Error")
    emit()
    assert len(receiver.requests) == 3


def test_a_success_between_failures_resets_the_run(receiver, make_webhook, emit, settings):
    settings.WEBHOOK_DISABLE_AFTER = 3600
    webhook = make_webhook(retry_count=0)
    receiver.reply(500)
    emit()
    emit()  # 200
    webhook.refresh_from_db()
    assert webhook.failing_since is None
    receiver.reply(500)
    emit()
    webhook.refresh_from_db()
    assert webhook.is_active and webhook.consecutive_failures == 1 and webhook.failing_since is not None


@pytest.mark.parametrize(
    "status_code, failing_for, active, reason",
    [
        (410, None, True, "Disabled: the receiver answered 410 Gone (it no longer wants these events)."),
        (500, timedelta(days=5), True, "Disabled: every attempt has failed since 2026-01-01 00:00 UTC (5 days)."),
        (
            None,
            timedelta(days=6, hours=3),
            True,
            "Disabled: every attempt has failed since 2026-01-01 00:00 UTC (6 days).",
        ),
        (500, timedelta(days=4, hours=23), True, None),  # not long enough yet
        (500, None, True, None),  # the first failure
        (500, timedelta(days=9), False, None),  # disabled already
    ],
)
def test_the_disable_rule(settings, status_code, failing_for, active, reason):
    settings.WEBHOOK_DISABLE_AFTER = 5 * 86400
    since = timezone.datetime(2026, 1, 1, tzinfo=UTC)
    webhook = Webhook(is_active=active, failing_since=since if failing_for else None)
    now = since + (failing_for or timedelta())
    got = delivery.webhook_disable_reason(webhook=webhook, status_code=status_code, error="boom", now=now)
    assert got == (reason if reason is None or "410" in reason else reason + " Last error: boom")


def test_a_disable_after_of_zero_never_disables_for_failures_but_a_410_still_does(settings):
    settings.WEBHOOK_DISABLE_AFTER = 0
    webhook = Webhook(is_active=True, failing_since=timezone.now() - timedelta(days=1000))
    assert delivery.webhook_disable_reason(webhook=webhook, status_code=500, error="boom") is None
    assert delivery.webhook_disable_reason(webhook=webhook, status_code=410, error="boom")


def _enable_by_update(webhook, **_):
    services.webhook_update(webhook=webhook, is_active=True)


def _enable_by_set_active(webhook, **_):
    services.webhook_set_active(webhooks=[webhook], active=True)


def _enable_by_api(webhook, api, **_):
    assert api.patch(f"/api/v1/webhooks/{webhook.pk}", {"is_active": True}, format="json").status_code == 200


def _enable_by_admin_action(webhook, staff_client, **_):
    changelist = reverse("admin:webhooks_webhook_changelist")
    staff_client.post(changelist, {"action": "enable", "_selected_action": [webhook.pk]})


@pytest.mark.parametrize("enable", [_enable_by_update, _enable_by_set_active, _enable_by_api, _enable_by_admin_action])
def test_enabling_a_disabled_webhook_forgets_its_failures_and_the_reason(make_webhook, api, staff_client, enable):
    webhook = make_webhook()
    reason = "Disabled: every attempt has failed since 2026-01-01 00:00 UTC (5 days). Last error: HTTP 500"
    failing_since = timezone.now() - timedelta(days=5)
    Webhook.objects.filter(pk=webhook.pk).update(
        is_active=False, consecutive_failures=7, failing_since=failing_since, last_error=reason
    )
    webhook.refresh_from_db()
    enable(webhook, api=api, staff_client=staff_client)
    webhook.refresh_from_db()
    assert webhook.is_active and webhook.consecutive_failures == 0 and webhook.last_error == ""
    assert webhook.failing_since is None


def test_a_pending_retry_of_a_webhook_disabled_meanwhile_is_not_sent(receiver, make_webhook, eager_celery):
    webhook = make_webhook()
    webhook.is_active = False
    webhook.save()
    webhook_deliver_task.delay(
        webhook_id=webhook.pk, delivery_id=str(uuid.uuid4()), event="product.created", payload={}, attempt=2
    )
    assert receiver.requests == [] and not webhook.deliveries.exists()


def test_a_task_delivered_twice_sends_its_attempt_once(receiver, make_webhook, eager_celery):
    webhook = make_webhook()
    kwargs = {"webhook_id": webhook.pk, "delivery_id": str(uuid.uuid4()), "event": "product.created", "payload": {}}
    webhook_deliver_task.delay(**kwargs)
    webhook_deliver_task.delay(**kwargs)
    assert len(receiver.requests) == 1 and webhook.deliveries.count() == 1


def test_a_task_redelivered_after_its_worker_died_before_queueing_the_retry_queues_it(
    receiver, make_webhook, eager_celery
):
    webhook = make_webhook(retry_count=3)
    kwargs = {"webhook_id": webhook.pk, "delivery_id": str(uuid.uuid4()), "event": "product.created", "payload": {}}
    receiver.reply(500)
    delivery.webhook_deliver(**kwargs)  # attempt 1 logged, retry due; the worker dies before queueing it
    webhook_deliver_task.delay(**kwargs)  # the broker hands the unacknowledged task out again
    assert len(receiver.requests) == 2
    assert [(log.attempt, log.trigger, log.success) for log in attempts(webhook)] == [
        (1, Trigger.EVENT, False),
        (2, Trigger.RETRY, True),
    ]
    webhook_deliver_task.delay(**kwargs)  # once more: its retry has run, so nothing happens
    assert len(receiver.requests) == 2 and webhook.deliveries.count() == 2


def test_a_task_for_a_deleted_webhook_does_nothing(receiver, eager_celery):
    webhook_deliver_task.delay(webhook_id=999_999, delivery_id=str(uuid.uuid4()), event="product.created", payload={})
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_attempts_of_one_delivery_logged_at_once_get_distinct_numbers(receiver, make_webhook):
    webhook = make_webhook()
    delivery_id = str(uuid.uuid4())
    for _ in range(6):
        receiver.reply(200, delay=0.2)  # all six are in flight together, then log together

    def redeliver(_: int) -> None:
        try:
            delivery.webhook_deliver(
                webhook_id=webhook.pk,
                delivery_id=delivery_id,
                event="product.created",
                payload={},
                trigger=Trigger.REDELIVERY,
                key=str(uuid.uuid4()),
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(redeliver, range(6)))
    assert sorted(webhook.deliveries.values_list("attempt", flat=True)) == [1, 2, 3, 4, 5, 6]
