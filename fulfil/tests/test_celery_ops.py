"""The Celery operations API against a real worker on Redis (and with none)."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fulfil.processes import wait_until
from imports.models import ImportJob
from products.models import Product

WORKERS = "/api/v1/celery/workers"


@pytest.mark.django_db
def test_only_superusers_may_use_it(client_for, anon, make_user):
    from rest_framework.test import APIClient

    limited = client_for("products.view_product")
    staff = APIClient()
    staff.force_authenticate(make_user("staff-only", staff=True, perms=("imports.view_importjob",)))
    for method, path in [("get", WORKERS), ("post", "/api/v1/celery/test"), ("get", "/api/v1/celery/task/x"),
                         ("delete", "/api/v1/celery/task/x")]:  # fmt: skip
        assert getattr(limited, method)(path).status_code == 403
        assert getattr(staff, method)(path).status_code == 403  # it could cancel anyone's import
        assert getattr(anon, method)(path).status_code == 401


@pytest.mark.django_db
def test_no_workers_is_an_empty_list_quickly(api):
    started = time.monotonic()
    response = api.get(WORKERS)
    assert response.status_code == 200
    assert response.json() == {"workers": [], "count": 0}
    assert time.monotonic() - started < 5


@pytest.mark.worker
def test_workers_lists_a_live_worker_with_its_queues(api, celery_worker_process):
    worker = celery_worker_process("default,webhooks", name="ops")
    body = wait_until(lambda: api.get(WORKERS).json()["workers"], 20, "the worker to answer", worker)
    [listed] = body
    assert listed["name"].startswith("ops-")
    assert listed["queues"] == ["default", "webhooks"]
    assert listed["active"] == [] and listed["reserved"] == []


@pytest.mark.worker
def test_test_task_round_trip(api, celery_worker_process):
    celery_worker_process("default")
    response = api.post("/api/v1/celery/test")
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    state = wait_until(lambda: (s := api.get(f"/api/v1/celery/task/{task_id}").json())["state"] == "SUCCESS" and s,
                     30, "the test task")  # fmt: skip
    assert state["result"] == "pong" and state["name"] == "fulfil.ping"
    assert state["date_done"] and state["error"] is None and state["job"] is None


@pytest.mark.django_db
def test_an_unknown_task_is_pending_not_an_error(api):
    body = api.get("/api/v1/celery/task/00000000-0000-0000-0000-000000000000").json()
    assert body["state"] == "PENDING" and body["result"] is None


@pytest.mark.worker
def test_revoking_a_running_import_stops_it_after_the_current_chunk(api, celery_worker_process):
    celery_worker_process("imports", env={"IMPORT_CHUNK_SIZE": "500"})
    content = ("sku,name\n" + "".join(f"R-{i},name {i}\n" for i in range(40_000))).encode()
    response = api.post("/api/v1/products/upload", {"file": SimpleUploadedFile("r.csv", content)}, format="multipart")
    job = ImportJob.objects.get(pk=response.json()["job_id"])
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).processed_rows >= 2000, 60, "progress")
    revoked = api.delete(f"/api/v1/celery/task/{job.task_id}")
    assert revoked.status_code == 202 and revoked.json()["job"]["cancel_requested"] is True
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).is_finished, 60, "the import to stop")
    job.refresh_from_db()
    assert job.status == "REVOKED" and job.phase == "Import cancelled"
    assert job.processed_rows < 40_000
    assert Product.objects.count() == job.created_count == job.processed_rows  # committed rows stay
    state = api.get(f"/api/v1/celery/task/{job.task_id}").json()
    summary = {
        "type": "importjob",
        "id": job.pk,
        "status": "REVOKED",
        "phase": "Import cancelled",
        "cancel_requested": True,
    }
    assert {key: state["job"][key] for key in summary} == summary
    assert state["job"]["current"] == job.processed_rows  # and the import's own status payload
