"""What fires and when: event filtering, product events from the API and the admin, on-commit."""

from __future__ import annotations

import re
from datetime import UTC

import pytest
from django.db import transaction
from django.urls import reverse

from products import services as product_services
from products.models import Product
from webhooks import events

pytestmark = pytest.mark.django_db


def test_an_event_reaches_only_the_enabled_webhooks_subscribed_to_it(receiver, make_webhook, emit):
    make_webhook(url=receiver.url("/created"), events=["product.created"])
    make_webhook(url=receiver.url("/both"), events=["product.created", "product.deleted"])
    make_webhook(url=receiver.url("/deleted"), events=["product.deleted"])
    make_webhook(url=receiver.url("/off"), events=["product.created"], is_active=False)
    emit("product.created")
    assert sorted(r.path for r in receiver.wait_for(2)) == ["/both", "/created"]
    receiver.requests.clear()
    emit("product.deleted", {"id": "x", "sku": "s", "name": "n"})
    assert sorted(r.path for r in receiver.wait_for(2)) == ["/both", "/deleted"]


def test_each_webhook_gets_its_own_delivery_id(receiver, make_webhook, emit):
    make_webhook(url=receiver.url("/a"))
    make_webhook(url=receiver.url("/b"))
    emit()
    assert len({r.header("webhook-id") for r in receiver.wait_for(2)}) == 2


def test_unknown_events_cannot_be_emitted():
    with pytest.raises(ValueError, match="Unknown webhook event"):
        events.event_emit(event="product.exploded", data={})


@pytest.mark.parametrize(
    "event, data",
    [
        ("import.started", {"task_id": "t", "filename": "a.csv", "total_rows": 10}),
        ("import.completed", {"task_id": "t", "created": 5, "updated": 4, "errors": 1}),
        ("import.failed", {"task_id": "t", "error": "bad header"}),
        ("products.bulk_deleted", {"task_id": "t", "count": 1000}),
    ],
)
def test_import_and_bulk_delete_events_are_emitted_as_given(receiver, make_webhook, emit, event, data):
    make_webhook(events=[event])
    emit(event, data)
    [request] = receiver.wait_for(1)
    assert request.json["event"] == event and request.json["data"] == data


# --- Product events ----------------------------------------------------------------------


def test_creating_updating_and_deleting_through_the_api_fires_product_events(
    api, receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks
):
    make_webhook()
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/products", {"sku": "SKU-1", "name": "Mug", "description": "d"}, format="json")
    product_id = created.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        api.patch(f"/api/v1/products/{product_id}", {"name": "Big mug", "active": False}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        api.delete(f"/api/v1/products/{product_id}")
    payloads = [r.json for r in receiver.wait_for(3)]
    assert [p["event"] for p in payloads] == ["product.created", "product.updated", "product.deleted"]
    created_body = created.json()
    assert payloads[0]["data"] == {
        key: created_body[key] for key in ("id", "sku", "name", "description", "active", "created_at")
    }
    assert payloads[1]["data"]["name"] == "Big mug" and payloads[1]["data"]["active"] is False
    assert set(payloads[1]["data"]) == {"id", "sku", "name", "description", "active", "updated_at"}
    assert payloads[2]["data"] == {"id": product_id, "sku": "SKU-1", "name": "Big mug"}


def test_an_update_that_changes_nothing_fires_nothing(
    receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks
):
    make_webhook()
    product = Product.objects.create(sku="same", name="Same")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        product_services.product_update(product=product, name="Same")
    assert callbacks == [] and receiver.requests == []


def test_a_rolled_back_change_fires_nothing(receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks):
    make_webhook()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        product = product_services.product_create(sku="GONE", name="Never")
        product_services.product_update(product=product, name="Still never")
        raise RuntimeError("roll back")
    assert callbacks == []
    assert receiver.requests == [] and not Product.objects.filter(sku="GONE").exists()


def test_a_failed_create_fires_nothing(api, receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks):
    make_webhook()
    product_services.product_create(sku="DUP", name="First")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post("/api/v1/products", {"sku": "dup", "name": "Second"}, format="json")
    assert response.status_code == 409
    assert callbacks == [] and receiver.requests == []


def test_nothing_is_queued_when_no_webhook_listens(
    make_webhook, eager_celery, django_capture_on_commit_callbacks, receiver
):
    make_webhook(events=["product.deleted"])
    with django_capture_on_commit_callbacks(execute=True):
        product_services.product_create(sku="QUIET", name="q")
    assert receiver.requests == []


def test_admin_edits_and_the_activate_action_fire_product_updated(
    staff_client, receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks
):
    make_webhook(events=["product.updated"])
    red = product_services.product_create(sku="RED", name="Red")
    blue = product_services.product_create(sku="BLUE", name="Blue", active=False)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:products_product_change", args=[red.pk]),
            {"sku": "RED", "name": "Crimson", "description": "", "active": "on"},
        )
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:products_product_changelist"),
            {"action": "activate", "_selected_action": [red.pk, blue.pk]},
        )
    payloads = [r.json for r in receiver.wait_for(2)]
    assert [(p["event"], p["data"]["sku"]) for p in payloads] == [
        ("product.updated", "RED"),
        ("product.updated", "BLUE"),
    ]
    assert payloads[0]["data"]["name"] == "Crimson" and payloads[1]["data"]["active"] is True


def test_deleting_in_the_admin_fires_product_deleted(
    staff_client, receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks
):
    make_webhook(events=["product.deleted"])
    product = product_services.product_create(sku="BIN", name="Bin me")
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("admin:products_product_delete", args=[product.pk]), {"post": "yes"})
    [request] = receiver.wait_for(1)
    assert request.json["data"] == {"id": str(product.pk), "sku": "BIN", "name": "Bin me"}


@pytest.mark.parametrize("event", [events.PRODUCT_CREATED, events.PRODUCT_UPDATED, events.PRODUCT_DELETED])
def test_a_product_events_data_is_the_apis_product_json_with_the_events_keys(api, event):
    product = product_services.product_create(sku="SAME-1", name="Same", description="d")
    product = product_services.product_update(product=product, name="Same again", active=False)
    body = api.get(f"/api/v1/products/{product.pk}").json()
    expected = {key: body[key] for key in events.EVENTS[event]}
    # As the services pass it (in memory, just saved) and as read back from the database.
    assert events.product_data(event=event, products=[product]) == [expected]
    assert events.product_data(event=event, products=[Product.objects.get(pk=product.pk)]) == [expected]


def test_product_event_timestamps_are_utc_with_a_z_whatever_the_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    product = product_services.product_create(sku="TZ-1", name="Zoned")
    product.refresh_from_db()
    [data] = events.product_data(event=events.PRODUCT_CREATED, products=[product])
    assert data["created_at"] == product.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", data["created_at"])


# --- Import events ---------------------------------------------------------------------------


def _import(tmp_path, content: bytes, django_capture_on_commit_callbacks):
    from imports.models import ImportJob
    from imports.run import import_job_run

    path = tmp_path / "import.csv"
    path.write_bytes(content)
    job = ImportJob.objects.create(source="command", source_path=str(path), original_name="import.csv", task_id="t-9")
    with django_capture_on_commit_callbacks(execute=True):
        return import_job_run(job=job)


def test_an_import_fires_started_and_completed_and_never_one_event_per_row(
    tmp_path, receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks
):
    make_webhook(events=[*events.EVENTS])
    product_services.product_create(sku="OLD", name="o")
    receiver.requests.clear()
    job = _import(tmp_path, b"sku,name\nold,updated\nNEW-1,a\nNEW-2,b\nOLD,updated\n,bad\n",
                  django_capture_on_commit_callbacks)  # fmt: skip
    bodies = [r.json for r in receiver.wait_for(2)]
    completed = {"task_id": "t-9", "job_id": job.pk, "filename": "import.csv", "created": 2, "updated": 1,
                 "unchanged": 1, "errors": 1}  # fmt: skip
    assert [(b["event"], b["data"]) for b in bodies] == [
        ("import.started", {"task_id": "t-9", "filename": "import.csv", "total_rows": 5}),
        ("import.completed", completed),
    ]


def test_an_import_that_cannot_run_fires_failed(tmp_path, receiver, make_webhook, eager_celery,
                                                  django_capture_on_commit_callbacks):  # fmt: skip
    make_webhook(events=["import.started", "import.failed"])
    _import(tmp_path, b"title\nnothing\n", django_capture_on_commit_callbacks)
    [request] = receiver.wait_for(1)
    assert request.json["event"] == "import.failed"
    assert request.json["data"]["task_id"] == "t-9"
    assert "Missing required column(s): sku, name." in request.json["data"]["error"]


def test_delete_all_fires_one_bulk_deleted_event_and_no_product_events(
    api, receiver, make_webhook, eager_celery, django_capture_on_commit_callbacks, settings
):
    settings.PRODUCT_DELETE_BATCH_SIZE = 4
    Product.objects.bulk_create(Product(sku=f"B-{i}", name="n") for i in range(10))
    make_webhook(events=[*events.EVENTS])
    with django_capture_on_commit_callbacks(execute=True):
        task_id = api.delete("/api/v1/products/all").json()["task_id"]
    [request] = receiver.wait_for(1)
    assert request.json["event"] == "products.bulk_deleted"
    assert request.json["data"] == {"task_id": task_id, "count": 10}
