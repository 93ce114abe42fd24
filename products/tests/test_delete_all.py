"""Delete all products: the API, the admin pages, progress, permissions and concurrent runs."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.urls import reverse

from products import services
from products.models import Product, ProductDeletion

pytestmark = pytest.mark.django_db

DELETE_ALL = "/api/v1/products/all"


def fill(count: int) -> None:
    Product.objects.bulk_create(Product(sku=f"D-{i}", name="n") for i in range(count))


@pytest.mark.quickstart
@pytest.mark.parametrize("path", [DELETE_ALL, DELETE_ALL + "/"])
def test_delete_all_answers_202_and_deletes_in_the_background(
    api, path, eager_celery, django_capture_on_commit_callbacks, settings
):
    settings.PRODUCT_DELETE_BATCH_SIZE = 7
    fill(30)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(path)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"task_id", "job_id", "status", "status_url"}
    assert body["status_url"].endswith(f"/api/v1/products/delete/{body['task_id']}/status")
    assert not Product.objects.exists()
    status = api.get(body["status_url"]).json()
    assert (status["status"], status["deleted"], status["total"], status["percent"]) == ("SUCCESS", 30, 30, 100.0)
    assert status["phase"] == "Deleted 30 products"


def test_status_while_queued_and_for_an_unknown_task(api):
    fill(3)
    body = api.delete(DELETE_ALL).json()  # on_commit never runs here: still queued
    status = api.get(body["status_url"]).json()
    assert (status["status"], status["deleted"], status["percent"]) == ("PENDING", 0, 0.0)
    assert Product.objects.count() == 3
    assert api.get("/api/v1/products/delete/nope/status").status_code == 404


def test_progress_is_reported_after_every_batch(settings):
    settings.PRODUCT_DELETE_BATCH_SIZE = 10
    fill(25)
    job = ProductDeletion.objects.create(task_id="t")
    seen = []
    services.product_delete_all_run(job=job, on_progress=lambda j: seen.append((j.status, j.deleted, j.percent)))
    assert seen == [("PROGRESS", 0, 0.0), ("PROGRESS", 10, 40.0), ("PROGRESS", 20, 80.0), ("PROGRESS", 25, 100.0),
                    ("PROGRESS", 25, 100.0), ("SUCCESS", 25, 100.0)]  # fmt: skip


def test_only_users_with_the_delete_permission_may_delete_all(client_for):
    fill(2)
    assert client_for("products.view_product", "products.change_product").delete(DELETE_ALL).status_code == 403
    deleter = client_for("products.delete_product", username="deleter")
    assert deleter.delete(DELETE_ALL).status_code == 202
    assert ProductDeletion.objects.count() == 1


def test_anonymous_is_a_401(anon):
    assert anon.delete(DELETE_ALL).status_code == 401


def test_cancel_stops_after_the_current_batch(settings):
    from fulfil.jobs import background_job_cancel

    settings.PRODUCT_DELETE_BATCH_SIZE = 10
    fill(50)
    job = ProductDeletion.objects.create(task_id="c")

    def cancel_once(current):
        if current.deleted == 20 and not current.cancel_requested:
            current.cancel_requested = True
            background_job_cancel(job=current)

    job = services.product_delete_all_run(job=job, on_progress=cancel_once)
    assert job.status == "REVOKED" and job.phase == "Cancelled after deleting 20 products"
    assert Product.objects.count() == 30


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_share_the_work_without_waiting_on_each_other(settings):
    settings.PRODUCT_DELETE_BATCH_SIZE = 50
    fill(2000)
    jobs = [ProductDeletion.objects.create(task_id=f"parallel-{n}") for n in range(2)]
    results, errors = [], []

    def run(job):
        try:
            results.append(services.product_delete_all_run(job=job))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert [job.status for job in results] == ["SUCCESS", "SUCCESS"]
    assert sum(job.deleted for job in results) == 2000
    assert not Product.objects.exists()


# --- Admin ---------------------------------------------------------------------------------------

PAGE = reverse("admin:products_product_delete_all")


@pytest.mark.quickstart
def test_the_admin_page_is_linked_from_the_product_list_and_shows_the_count(staff_client):
    fill(12)
    assert PAGE.encode() in staff_client.get(reverse("admin:products_product_changelist")).content
    page = staff_client.get(PAGE).content.decode()
    assert 'id="product-count">12<' in page and "This cannot be undone." in page


@pytest.mark.parametrize("typed", ["", "delete", "11", "yes"])
def test_the_admin_page_refuses_anything_but_delete_or_the_count(staff_client, typed):
    fill(12)
    response = staff_client.post(PAGE, {"confirm": typed})
    assert response.status_code == 200
    assert not ProductDeletion.objects.exists() and Product.objects.count() == 12


@pytest.mark.parametrize("typed", ["DELETE", "12"])
def test_confirming_starts_it_and_shows_live_progress(staff_client, typed, eager_celery,
                                                      django_capture_on_commit_callbacks):  # fmt: skip
    fill(12)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(PAGE, {"confirm": typed})
    job = ProductDeletion.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:products_product_delete_all_progress", args=[job.pk])
    page = staff_client.get(response.url).content.decode()
    assert "Deleted 12 products" in page
    status = staff_client.get(reverse("admin:products_product_delete_all_status", args=[job.pk])).json()
    assert (status["status"], status["deleted"]) == ("SUCCESS", 12)
    assert not Product.objects.exists()


def test_staff_without_the_delete_permission_cannot_open_it(client, make_user):
    client.force_login(make_user("editor", staff=True, perms=("products.view_product", "products.change_product")))
    assert client.get(PAGE).status_code == 403
