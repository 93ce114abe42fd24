from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework import status

from imports.models import ImportJob
from products.models import Product

pytestmark = pytest.mark.django_db

UPLOAD = "/api/v1/products/upload"


def upload(client, content: bytes, name: str = "products.csv"):
    return client.post(UPLOAD, {"file": SimpleUploadedFile(name, content, "text/csv")}, format="multipart")


@pytest.fixture
def uploaded(api, eager_celery, django_capture_on_commit_callbacks):
    """Upload through the API and run the queued task inline once the request commits."""

    def go(content: bytes, name: str = "products.csv"):
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(api, content, name)
        return response

    return go


@pytest.mark.quickstart
@pytest.mark.parametrize("path", [UPLOAD, UPLOAD + "/"])
def test_upload_answers_202_at_once_with_where_to_look(api, path):
    response = api.post(path, {"file": SimpleUploadedFile("cat.csv", b"sku,name\nA,a\n")}, format="multipart")
    assert response.status_code == status.HTTP_202_ACCEPTED
    body = response.json()
    assert set(body) == {"task_id", "job_id", "status", "status_url", "filename"}
    assert body["status"] == "PENDING" and body["filename"] == "cat.csv"
    assert body["status_url"].endswith(f"/api/v1/products/upload/{body['task_id']}/status")
    job = ImportJob.objects.get(pk=body["job_id"])
    assert job.task_id == body["task_id"] and job.file.read() == b"sku,name\nA,a\n"
    assert not Product.objects.exists()  # nothing imported inside the request


def test_the_file_is_stored_not_passed_in_the_task_message(api, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("imports.tasks.process_csv_upload.apply_async", lambda **kw: sent.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        body = upload(api, b"sku,name\nA,a\n").json()
    no_limits = {"time_limit": None, "soft_time_limit": None}  # the worker's own apply
    assert sent == [{"args": (body["job_id"],), "task_id": body["task_id"], **no_limits}]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "The submitted file is empty."),
        (b"\x00\x01\x02\x03binary\x00\x00\x07\x08", "binary"),
        (b"name,description\nx,y\n", "Missing required column(s): sku."),
        (b"title;price\nx;1\n", "Missing required column(s): sku, name."),
    ],
)
def test_bad_files_are_a_400_before_anything_is_queued(api, content, message):
    response = upload(api, content)
    assert response.status_code == 400
    assert message in str(response.json())
    assert not ImportJob.objects.exists()


def test_no_file_is_a_400_naming_the_field(api):
    response = api.post(UPLOAD, {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()


def test_json_body_is_a_415(api):
    assert api.post(UPLOAD, {"file": "x"}, format="json").status_code == 415


def test_an_oversized_file_is_a_413(api, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    response = upload(api, b"sku,name\n" + b"A,a\n" * 100)
    assert response.status_code == status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    assert "limit of 100 bytes" in response.json()["detail"]
    assert not ImportJob.objects.exists()


def test_an_upload_over_the_limit_is_stopped_while_reading_not_stored_whole(api, settings, monkeypatch):
    """Below the Content-Length pre-check's margin, the upload handler stops reading at the limit."""
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    stored = []
    monkeypatch.setattr("imports.services.import_job_create", lambda **kw: stored.append(kw))
    response = upload(api, b"sku,name\n" + b"A,a\n" * 2000)
    assert response.status_code == 413
    assert stored == []


def test_status_through_a_run(uploaded, api):
    body = uploaded(b"sku,name,active\nA,a,yes\nB,b,maybe\na,again,no\n").json()
    response = api.get(body["status_url"])
    assert response.status_code == 200
    status_body = response.json()
    assert {k: status_body[k] for k in ("status", "phase", "current", "total", "created", "updated", "errors")} == {
        "status": "SUCCESS", "phase": "Import complete", "current": 3, "total": 3, "created": 1, "updated": 1,
        "errors": 1,
    }  # fmt: skip
    assert status_body["percent"] == 100.0
    assert status_body["rows_per_second"] > 0
    assert status_body["row_errors"] == [{"line": 3, "row": 2, "sku": "B", "column": "active", "reason": status_body[
        "row_errors"][0]["reason"]}]  # fmt: skip
    # Absolute, as status_url is, from the API and from the admin's page alike.
    assert status_body["error_report_url"] == f"http://testserver/api/v1/imports/{body['job_id']}/errors.csv"
    assert status_body["outcome"] == "Completed with 1 error" and status_body["tone"] == "warning"
    assert status_body["elapsed_seconds"] >= 0 and status_body["seconds_left"] is None


def test_status_while_queued_and_for_an_unknown_task(api):
    body = upload(api, b"sku,name\nA,a\n").json()  # on_commit never runs: still queued
    queued = api.get(body["status_url"]).json()
    assert (queued["status"], queued["phase"], queued["percent"], queued["total"]) == ("PENDING", "Queued", 0.0, None)
    assert (queued["outcome"], queued["elapsed_seconds"], queued["cancel_requested"]) == ("Queued", None, False)
    assert api.get(f"{UPLOAD}/no-such-task/status").status_code == 404


def test_a_failed_import_reports_its_reason(uploaded, api):
    job = ImportJob.objects.create(source="upload", original_name="x.csv", task_id="gone")
    job.file.save("x.csv", io.BytesIO(b"sku,name\n"), save=True)
    job.file.storage.delete(job.file.name)
    from imports.run import import_job_run

    import_job_run(job=job)
    body = api.get(f"{UPLOAD}/gone/status").json()
    assert body["status"] == "FAILURE"
    assert body["phase"] == "Import failed: the uploaded file is no longer stored"


def test_errors_csv_streams_every_rejected_row(uploaded, api):
    rows = "".join(f",no sku {i}\n" for i in range(30))
    body = uploaded(("sku,name\nOK,fine\n" + rows).encode()).json()
    response = api.get(f"/api/v1/imports/{body['job_id']}/errors.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    report = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert report[0] == ["line", "row", "sku", "column", "reason"]
    assert len(report) == 31 and report[1] == ["3", "2", "", "sku", "SKU is empty."]


def test_import_list_and_detail(uploaded, api):
    body = uploaded(b"sku,name\nA,a\n", "first.csv").json()
    listing = api.get("/api/v1/imports").json()
    assert listing["count"] == 1
    detail = api.get(f"/api/v1/imports/{body['job_id']}/").json()
    assert detail["filename"] == "first.csv" and detail["status"] == "SUCCESS" and detail["uploaded_by"] == "admin"
    assert detail["created"] == 1 and detail["columns"] == ["sku", "name"]


def test_cancel_and_retry_endpoints(api, eager_celery, django_capture_on_commit_callbacks):
    body = upload(api, b"sku,name\nA,a\n").json()  # queued, not run
    url = f"/api/v1/imports/{body['job_id']}"
    cancelled = api.post(f"{url}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "REVOKED"
    assert api.post(f"{url}/cancel").status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        retried = api.post(f"{url}/retry/")
    assert retried.status_code == 202
    assert api.get(url).json()["status"] == "SUCCESS"
    assert Product.objects.filter(sku="A").exists()
    assert api.post(f"{url}/retry").status_code == 409


def test_importing_needs_the_import_and_product_permissions(client_for):
    viewer = client_for("imports.view_importjob", username="viewer")
    assert upload(viewer, b"sku,name\nA,a\n").status_code == 403
    importer = client_for("imports.add_importjob", "products.add_product", "products.change_product",
                          username="importer")  # fmt: skip
    assert upload(importer, b"sku,name\nA,a\n").status_code == 202
    assert importer.get("/api/v1/imports").status_code == 403  # history needs the view permission


def test_anonymous_upload_is_a_401(anon):
    assert upload(anon, b"sku,name\nA,a\n").status_code == 401


def test_an_upload_while_the_broker_is_down_fails_with_the_reason_and_can_be_retried(
    api, django_capture_on_commit_callbacks, monkeypatch, eager_celery
):
    from kombu.exceptions import OperationalError

    from imports.tasks import process_csv_upload

    real = process_csv_upload.apply_async

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(process_csv_upload, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api, b"sku,name\nA,a\n")
    assert response.status_code == 202
    status = api.get(response.json()["status_url"]).json()
    assert status["status"] == "FAILURE"
    assert status["phase"] == "Import failed: the task queue is unreachable"  # not "Queued" forever
    assert "Connection refused" in status["error_message"]

    monkeypatch.setattr(process_csv_upload, "apply_async", real)  # the broker is back
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/imports/{response.json()['job_id']}/retry").status_code == 202
    assert Product.objects.filter(sku="A").exists()


def test_time_left_is_estimated_from_the_pace_so_far():
    from datetime import timedelta

    from django.utils import timezone

    started = timezone.now() - timedelta(seconds=10)
    job = ImportJob(status="PROGRESS", started_at=started, processed_rows=2_000, total_rows=10_000)
    assert 39 < job.seconds_left < 41  # 8,000 rows to go at 200 rows/s
    assert ImportJob(status="PROGRESS", started_at=started, processed_rows=0, total_rows=10).seconds_left is None
    assert ImportJob(status="SUCCESS", started_at=started, processed_rows=10, total_rows=10).seconds_left is None
