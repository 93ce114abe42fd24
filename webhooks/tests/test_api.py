"""The webhooks API: CRUD, validation, the write-only secret, test sends, the log, redelivery."""

from __future__ import annotations

import uuid

import pytest
import yaml
from rest_framework import status

from webhooks import delivery, services
from webhooks.models import Webhook, WebhookDelivery
from webhooks.tasks import webhook_deliver_task
from webhooks.tests.conftest import legacy_signature_ok, standard_signature_ok

pytestmark = pytest.mark.django_db

LIST = "/api/v1/webhooks"


def detail(webhook, suffix: str = "") -> str:
    return f"{LIST}/{webhook.pk}{suffix}"


# --- CRUD and the secret -----------------------------------------------------------------


@pytest.mark.quickstart
def test_create_answers_201_with_defaults_and_without_the_secret(api, receiver):
    response = api.post(LIST, {"url": receiver.url(), "events": ["product.created"], "secret": "hush"}, format="json")
    assert response.status_code == status.HTTP_201_CREATED
    body = response.json()
    assert "secret" not in body and body["has_secret"] is True
    assert body["retry_count"] == 3 and body["timeout_seconds"] == 30 and body["is_active"] is True
    assert body["headers"] == {} and body["success_count"] == 0 and body["last_error"] == ""
    assert Webhook.objects.get(pk=body["id"]).secret == "hush"


def test_the_secret_is_never_returned_by_any_endpoint(api, make_webhook, receiver, eager_celery):
    webhook = make_webhook(secret="top-secret-value")
    responses = [
        api.get(LIST),
        api.get(detail(webhook)),
        api.patch(detail(webhook), {"description": "x"}, format="json"),
        api.put(detail(webhook), {"url": webhook.url, "events": ["product.created"]}, format="json"),
        api.post(detail(webhook, "/test"), {}, format="json"),
        api.get(detail(webhook, "/logs")),
        api.get("/api/schema"),
    ]
    for response in responses:
        assert response.status_code == 200, response.content
        assert b"top-secret-value" not in response.content
    assert api.get(detail(webhook)).json()["has_secret"] is True


def test_patch_without_a_secret_keeps_it_and_an_empty_one_removes_it(api, make_webhook):
    webhook = make_webhook(secret="keep")
    api.patch(detail(webhook), {"description": "changed"}, format="json")
    webhook.refresh_from_db()
    assert webhook.secret == "keep"
    assert api.patch(detail(webhook), {"secret": ""}, format="json").json()["has_secret"] is False
    assert api.patch(detail(webhook), {"secret": None}, format="json").json()["has_secret"] is False


def test_secret_looking_header_values_are_masked_in_responses_but_stored_and_sent(
    api, client_for, make_webhook, receiver, emit
):
    webhook = make_webhook(headers={"Authorization": "Bearer s3cr3t-a", "X-Api-Key": "s3cr3t-b", "X-Tenant": "acme"})
    reader = client_for("webhooks.view_webhook", username="reader")
    shown = {"Authorization": "********", "X-Api-Key": "********", "X-Tenant": "acme"}
    assert reader.get(LIST).json()["results"][0]["headers"] == shown
    assert reader.get(detail(webhook)).json()["headers"] == shown
    response = api.patch(detail(webhook), {"description": "x"}, format="json")
    assert response.json()["headers"] == shown and b"s3cr3t" not in response.content
    emit()
    [request] = receiver.wait_for(1)
    assert request.header("Authorization") == "Bearer s3cr3t-a" and request.header("X-Api-Key") == "s3cr3t-b"


def test_sending_a_masked_value_back_keeps_it_and_leaving_headers_out_keeps_them_all(api, make_webhook):
    webhook = make_webhook(headers={"Authorization": "Bearer s3cr3t", "X-Tenant": "acme"})
    shown = api.get(detail(webhook)).json()
    body = {"url": shown["url"], "events": shown["events"], "headers": {**shown["headers"], "X-Tenant": "globex"}}
    assert api.put(detail(webhook), body, format="json").status_code == 200
    webhook.refresh_from_db()
    assert webhook.headers == {"Authorization": "Bearer s3cr3t", "X-Tenant": "globex"}
    api.patch(detail(webhook), {"description": "changed"}, format="json")
    api.put(detail(webhook), {"url": webhook.url, "events": ["product.created"]}, format="json")
    webhook.refresh_from_db()
    assert webhook.headers == {"Authorization": "Bearer s3cr3t", "X-Tenant": "globex"}
    api.patch(detail(webhook), {"headers": {"authorization": "********"}}, format="json")  # names are case-blind
    webhook.refresh_from_db()
    assert webhook.headers == {"authorization": "Bearer s3cr3t"}


def test_a_masked_value_with_nothing_stored_under_its_name_is_a_400(api, make_webhook):
    response = api.post(
        LIST,
        {"url": "https://example.com/h", "events": ["product.created"], "headers": {"X-Api-Key": "********"}},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["headers"] and "X-Api-Key" in response.json()["headers"][0]
    webhook = make_webhook(headers={"Authorization": "Bearer s3cr3t"})
    response = api.patch(detail(webhook), {"headers": {"X-Api-Key": "********"}}, format="json")
    assert response.status_code == 400 and "X-Api-Key" in response.json()["headers"][0]


@pytest.mark.parametrize("path", [LIST, LIST + "/"])
def test_list_and_detail_paths_work_with_and_without_trailing_slash(api, make_webhook, path):
    webhook = make_webhook()
    assert api.get(path).json()["results"][0]["id"] == webhook.pk
    assert api.get(detail(webhook, "/")).status_code == 200
    assert api.get(detail(webhook, "/logs/")).status_code == 200


def test_update_and_delete(api, make_webhook, receiver):
    webhook = make_webhook()
    response = api.put(
        detail(webhook),
        {"url": receiver.url("/v2"), "events": ["import.completed"], "retry_count": 0, "timeout_seconds": 5},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["events"] == ["import.completed"] and response.json()["url"].endswith("/v2")
    assert api.delete(detail(webhook)).status_code == status.HTTP_204_NO_CONTENT
    assert api.get(detail(webhook)).status_code == status.HTTP_404_NOT_FOUND


@pytest.mark.parametrize("bad_id", ["999999", "abc"])
def test_unknown_or_malformed_id_is_a_json_404(api, bad_id):
    response = api.get(f"{LIST}/{bad_id}")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


# --- Validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"url": "ftp://example.com/hook"}, "url", "Only http:// and https:// URLs are allowed."),
        ({"url": "not a url"}, "url", "Enter a valid URL."),
        ({"url": "https://user:pw@example.com/"}, "url", "credentials"),
        ({"url": "https://example.com/" + "x" * 500}, "url", "no more than 500 characters"),
        ({"events": []}, "events", "Choose at least one event."),
        ({"events": ["product.created", "product.exploded"]}, "events", "Unknown event(s): product.exploded."),
        ({"events": ["webhook.test"]}, "events", "Unknown event(s): webhook.test."),
        ({"headers": {f"X-H{i}": "v" for i in range(21)}}, "headers", "At most 20 custom headers."),
        ({"headers": {"X-Big": "v" * 1001}}, "headers", "longer than 1000"),
        ({"headers": {f"X-H{i}": "v" * 900 for i in range(5)}}, "headers", "at most 4096 bytes"),
        ({"headers": {"Bad Name": "v"}}, "headers", "not a valid header name"),
        ({"headers": {"X-Evil": "a\r\nX-Injected: 1"}}, "headers", "line breaks"),
        ({"headers": {"X-Currency": "€uro"}}, "headers", "The value of X-Currency may hold only visible ASCII"),
        ({"headers": {"X-Bell": "a\x07b"}}, "headers", "The value of X-Bell may hold only visible ASCII"),
        ({"headers": {"Authorization": " Bearer x"}}, "headers", "The value of Authorization may not start or end"),
        ({"headers": {"X-Trailing": "v\t"}}, "headers", "The value of X-Trailing may not start or end"),
        ({"headers": {"X-Name\n": "v"}}, "headers", "'X-Name\\n' is not a valid header name"),
        ({"timeout_seconds": 0}, "timeout_seconds", "greater than or equal to 1"),
        ({"timeout_seconds": 31}, "timeout_seconds", "less than or equal to 30"),
        ({"retry_count": 11}, "retry_count", "less than or equal to 10"),
        ({"retry_count": -1}, "retry_count", "greater than or equal to 0"),
        ({"secret": "whsec_not*base64"}, "secret", "must continue with base64"),
    ],
)
def test_bad_values_are_a_400_naming_the_field(api, changes, field, message):
    response = api.post(
        LIST, {"url": "https://example.com/hook", "events": ["product.created"], **changes}, format="json"
    )
    assert response.status_code == status.HTTP_400_BAD_REQUEST, response.content
    body = response.json()
    assert list(body) == [field]
    assert message in " ".join(body[field]), body


@pytest.mark.parametrize(
    "header",
    [
        "Content-Type",
        "content-type",
        "Host",
        "User-Agent",
        "X-Webhook-Event",
        "X-Webhook-Signature",
        "X-Webhook-Test",
        "webhook-id",
        "Webhook-Timestamp",
        "webhook-signature",
        "Content-Length",
    ],
)
def test_custom_headers_cannot_override_ours(api, header):
    response = api.post(
        LIST, {"url": "https://example.com/h", "events": ["product.created"], "headers": {header: "x"}}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"headers": [f"{header} is set by FulFil and cannot be overridden."]}


def test_https_only_when_the_setting_says_so(api, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    response = api.post(LIST, {"url": "http://example.com/hook", "events": ["product.created"]}, format="json")
    assert response.json() == {"url": ["Only https:// URLs are allowed."]}
    response = api.post(LIST, {"url": "https://example.com/hook", "events": ["product.created"]}, format="json")
    assert response.status_code == 201


def test_events_are_stored_once_each(api):
    response = api.post(
        LIST, {"url": "https://example.com/h", "events": ["product.created", "product.created"]}, format="json"
    )
    assert response.json()["events"] == ["product.created"]


# --- Test endpoint -----------------------------------------------------------------------


def test_the_test_endpoint_sends_a_signed_webhook_test_and_reports_the_answer(api, make_webhook, receiver):
    webhook = make_webhook(secret="k", retry_count=3)
    receiver.reply(202, b"thanks")
    response = api.post(detail(webhook, "/test"), format="json")
    assert response.status_code == 200
    result = response.json()
    assert set(result) == {"success", "status_code", "response_time_ms", "response_body", "error"}
    assert result["success"] is True and result["status_code"] == 202 and result["response_body"] == "thanks"
    assert result["error"] == "" and result["response_time_ms"] >= 0
    [request] = receiver.requests
    assert request.json["event"] == "webhook.test" and request.header("X-Webhook-Event") == "webhook.test"
    assert legacy_signature_ok("k", request.body, request.header("X-Webhook-Signature"))
    assert standard_signature_ok("k", request)
    [log] = WebhookDelivery.objects.all()
    assert log.trigger == WebhookDelivery.Trigger.TEST and log.success and log.event == "webhook.test"
    webhook.refresh_from_db()
    assert (webhook.success_count, webhook.failure_count, webhook.last_triggered_at) == (0, 0, None)


def test_the_test_endpoint_sends_the_given_event_and_payload(api, make_webhook, receiver):
    webhook = make_webhook()
    data = {"id": "p-9", "sku": "X"}
    api.post(detail(webhook, "/test"), {"event": "product.deleted", "payload": data}, format="json")
    [request] = receiver.requests
    assert request.json["event"] == "product.deleted" and request.json["data"] == data


def test_a_test_send_says_it_is_a_test_in_the_signed_body_and_a_header(api, make_webhook, receiver, emit):
    webhook = make_webhook(secret="k")
    api.post(detail(webhook, "/test"), {"event": "product.deleted", "payload": {"id": "p-9"}}, format="json")
    [request] = receiver.requests
    assert request.header("X-Webhook-Test") == "true" and request.header("X-Webhook-Event") == "product.deleted"
    assert request.json["test"] is True and set(request.json) == {"event", "timestamp", "data", "test"}
    assert legacy_signature_ok("k", request.body, request.header("X-Webhook-Signature"))
    assert standard_signature_ok("k", request)
    log = WebhookDelivery.objects.get()
    assert log.payload["test"] is True and log.request_headers["X-Webhook-Test"] == "true"
    emit("product.deleted")  # a real event says nothing of the kind
    real = receiver.wait_for(2)[1]
    assert real.header("X-Webhook-Test") is None and "test" not in real.json


def test_a_failing_test_is_reported_once_without_retries_or_disabling(api, make_webhook, receiver):
    webhook = make_webhook(retry_count=3)
    receiver.reply(410, b"gone")
    result = api.post(detail(webhook, "/test"), format="json").json()
    assert result == {
        "success": False,
        "status_code": 410,
        "response_time_ms": result["response_time_ms"],
        "response_body": "gone",
        "error": "HTTP 410 Gone",
    }
    assert len(receiver.requests) == 1
    webhook.refresh_from_db()
    assert webhook.is_active and webhook.failure_count == 0


def test_an_unreachable_test_reports_the_error(api, make_webhook, settings):
    webhook = make_webhook()
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    result = api.post(detail(webhook, "/test"), format="json").json()
    assert result["success"] is False and result["status_code"] is None
    assert (
        result["error"]
        == "Refused: 127.0.0.1 is a loopback address (allowed only with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true)."
    )


def test_a_test_of_a_header_saved_before_validation_tightened_reports_the_error(api, make_webhook, receiver):
    webhook = make_webhook()
    Webhook.objects.filter(pk=webhook.pk).update(headers={"X-Currency": "€uro"})
    response = api.post(detail(webhook, "/test"), format="json")
    assert response.status_code == 200
    result = response.json()
    assert result["success"] is False and result["status_code"] is None
    assert "X-Currency" in result["error"] and receiver.requests == []


def test_the_test_endpoint_refuses_unknown_events(api, make_webhook, receiver):
    webhook = make_webhook()
    response = api.post(detail(webhook, "/test"), {"event": "nope"}, format="json")
    assert response.status_code == 400 and "event" in response.json()
    assert receiver.requests == []


# --- Logs and redelivery -----------------------------------------------------------------


@pytest.fixture
def logged(make_webhook, receiver, emit):
    """A webhook with four attempts logged: created ok, updated failed then ok, deleted ok."""
    webhook = make_webhook(retry_count=1)
    emit("product.created")
    receiver.reply(500)
    emit("product.updated")
    emit("product.deleted")
    return webhook


def test_logs_are_paginated_newest_first(api, logged, django_assert_max_num_queries):
    # 10: a filtered list is counted within EXACT_COUNT_TIMEOUT_MS (a savepoint, the setting, the
    # count, the setting back, the release), a fixed number however many logs there are.
    with django_assert_max_num_queries(10):
        body = api.get(detail(logged, "/logs"), {"limit": 3}).json()
    assert body["count"] == 4 and len(body["results"]) == 3 and body["next"]
    events = [entry["event"] for entry in body["results"]]
    assert events == ["product.deleted", "product.updated", "product.updated"]
    assert [entry["attempt"] for entry in body["results"][1:]] == [2, 1]
    assert set(body["results"][0]) >= {"delivery_id", "trigger", "status_code", "response_time_ms", "payload"}


def test_logs_filter_by_event_and_success(api, logged):
    failed = api.get(detail(logged, "/logs"), {"success": "false"}).json()["results"]
    assert [(e["event"], e["status_code"]) for e in failed] == [("product.updated", 500)]
    updated = api.get(detail(logged, "/logs"), {"event": "product.updated", "success": "true"}).json()
    assert updated["count"] == 1 and updated["results"][0]["attempt"] == 2
    assert api.get(detail(logged, "/logs"), {"success": "maybe"}).status_code == 400


@pytest.mark.parametrize("value", ["maybe", "2", "truthy"])
def test_a_success_filter_that_is_not_true_or_false_is_a_400_naming_it(api, logged, value):
    response = api.get(detail(logged, "/logs"), {"success": value})
    assert response.status_code == status.HTTP_400_BAD_REQUEST
    [message] = response.json()["success"]
    assert message.startswith("Must be true or false") and repr(value) in message


def test_the_success_filter_reads_true_and_false_as_every_other_filter_does(api, logged):
    for word, count in [("TRUE", 3), (" false ", 1), ("yes", 3), ("0", 1), ("", 4)]:
        assert api.get(detail(logged, "/logs"), {"success": word}).json()["count"] == count, word


def test_the_schema_documents_the_log_filters(anon):
    logs = yaml.safe_load(anon.get("/api/schema").content)["paths"][LIST + "/{id}/logs"]["get"]
    query = {p["name"]: p for p in logs["parameters"] if p["in"] == "query"}
    assert query["event"]["schema"] == {"type": "string"}
    assert query["success"]["schema"] == {"type": "boolean"}
    assert query["success"]["description"] == "Only successful (true) or failed attempts."


def test_logs_show_only_this_webhooks_deliveries(api, logged, make_webhook):
    other = make_webhook()
    assert api.get(detail(other, "/logs")).json()["count"] == 0


def test_redelivery_answers_202_with_the_delivery_id(api, logged):
    original = logged.deliveries.get(event="product.updated", attempt=1)
    response = api.post(detail(logged, f"/logs/{original.pk}/redeliver"))
    assert response.status_code == status.HTTP_202_ACCEPTED
    assert response.json() == {"detail": "Redelivery queued.", "delivery_id": str(original.delivery_id)}


def test_redelivery_reaches_the_receiver_with_the_same_id_and_body(
    api, logged, receiver, eager_celery, django_capture_on_commit_callbacks
):
    original = logged.deliveries.get(event="product.created")
    first = next(r for r in receiver.requests if r.json["event"] == "product.created")
    receiver.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        api.post(detail(logged, f"/logs/{original.pk}/redeliver/"))
    [again] = receiver.requests
    assert again.header("webhook-id") == first.header("webhook-id") == str(original.delivery_id)
    assert again.body == first.body
    redelivered = logged.deliveries.get(event="product.created", attempt=2)
    assert redelivered.trigger == WebhookDelivery.Trigger.REDELIVERY and redelivered.success


def test_two_redeliver_clicks_send_twice_numbered_after_each_other(
    api, logged, receiver, eager_celery, django_capture_on_commit_callbacks
):
    original = logged.deliveries.get(event="product.created")
    receiver.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        api.post(detail(logged, f"/logs/{original.pk}/redeliver"))
        api.post(detail(logged, f"/logs/{original.pk}/redeliver"))
    assert len(receiver.requests) == 2
    again = logged.deliveries.filter(delivery_id=original.delivery_id).order_by("attempt")
    assert [(log.attempt, log.trigger) for log in again] == [(1, "event"), (2, "redelivery"), (3, "redelivery")]


def test_a_redelivery_while_a_retry_is_pending_does_not_swallow_the_retry(
    api, make_webhook, receiver, eager_celery, django_capture_on_commit_callbacks
):
    webhook = make_webhook(retry_count=3)
    kwargs = {"webhook_id": webhook.pk, "delivery_id": str(uuid.uuid4()), "event": "product.created", "payload": {}}
    receiver.reply(500)
    outcome = delivery.webhook_deliver(**kwargs)  # attempt 1 fails; its retry is due later
    assert outcome.retry_in is not None
    with django_capture_on_commit_callbacks(execute=True):
        api.post(detail(webhook, f"/logs/{outcome.log.pk}/redeliver"))
    webhook_deliver_task.delay(**kwargs, attempt=2, trigger="retry")  # the retry comes due
    assert len(receiver.requests) == 3
    logs = webhook.deliveries.order_by("attempt")
    assert [(log.attempt, log.trigger, log.success) for log in logs] == [
        (1, "event", False),
        (2, "redelivery", True),
        (3, "retry", True),
    ]


def test_a_redelivery_task_delivered_twice_sends_once(make_webhook, receiver, eager_celery):
    webhook = make_webhook()
    kwargs = {
        "webhook_id": webhook.pk,
        "delivery_id": str(uuid.uuid4()),
        "event": "product.created",
        "payload": {},
        "trigger": "redelivery",
        "key": str(uuid.uuid4()),
    }
    webhook_deliver_task.delay(**kwargs)
    webhook_deliver_task.delay(**kwargs)
    assert len(receiver.requests) == 1 and webhook.deliveries.count() == 1


def test_redelivering_for_a_disabled_webhook_is_a_409(api, logged):
    services.webhook_set_active(webhooks=[logged], active=False)
    log = logged.deliveries.first()
    response = api.post(detail(logged, f"/logs/{log.pk}/redeliver"))
    assert response.status_code == 409 and response.json()["code"] == "webhook_disabled"


def test_redelivering_another_webhooks_log_is_a_404(api, logged, make_webhook):
    other = make_webhook()
    log = logged.deliveries.first()
    assert api.post(detail(other, f"/logs/{log.pk}/redeliver")).status_code == 404
    assert api.post(detail(logged, "/logs/abc/redeliver")).status_code == 404


# --- Permissions and schema --------------------------------------------------------------


def test_reading_needs_view_and_sending_needs_change(client_for, make_webhook, receiver):
    webhook = make_webhook()
    reader = client_for("webhooks.view_webhook", username="reader")
    assert reader.get(LIST).status_code == 200
    assert reader.get(detail(webhook, "/logs")).status_code == 200
    assert reader.post(detail(webhook, "/test")).status_code == 403
    assert reader.post(LIST, {"url": receiver.url(), "events": ["product.created"]}, format="json").status_code == 403
    adder = client_for("webhooks.view_webhook", "webhooks.add_webhook", username="adder")
    assert adder.post(detail(webhook, "/test")).status_code == 403
    changer = client_for("webhooks.view_webhook", "webhooks.change_webhook", username="changer")
    assert changer.post(detail(webhook, "/test")).status_code == 200
    nobody = client_for(username="nobody")
    assert nobody.get(LIST).status_code == 403


def test_anonymous_requests_are_a_401(anon, make_webhook):
    assert anon.get(LIST).status_code == 401


def test_the_schema_documents_the_webhook_paths(anon):
    paths = yaml.safe_load(anon.get("/api/schema").content)["paths"]
    assert set(paths[LIST]) == {"get", "post"}
    assert set(paths[LIST + "/{id}"]) == {"get", "put", "patch", "delete"}
    assert "post" in paths[LIST + "/{id}/test"]
    assert "get" in paths[LIST + "/{id}/logs"]
    assert "post" in paths[LIST + "/{id}/logs/{log_id}/redeliver"]


@pytest.mark.django_db(transaction=True)
def test_a_webhook_deleted_while_its_test_send_is_in_flight_is_no_500(api, make_webhook, receiver, monkeypatch):
    from webhooks import transport

    webhook = make_webhook()
    real = transport.post

    def post_while_deleted(*args, **kwargs):
        Webhook.objects.filter(pk=webhook.pk).delete()  # another request, meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(transport, "post", post_while_deleted)
    response = api.post(f"/api/v1/webhooks/{webhook.pk}/test", {})
    assert response.status_code == 200 and response.json()["success"] is True
    assert len(receiver.requests) == 1 and not WebhookDelivery.objects.exists()
