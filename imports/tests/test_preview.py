"""Previews (dry runs): the counts a real import would give, a sample of the changes, nothing
written; then confirming imports the same stored file."""

from __future__ import annotations

import csv
import io
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imports import services
from imports.models import ImportJob
from imports.run import import_job_run
from imports.storage import import_file_exists
from products import services as product_services
from products.models import Product

pytestmark = pytest.mark.django_db

UPLOAD = "/api/v1/products/upload"


def catalogue() -> dict[str, tuple]:
    return {p.sku: (p.name, p.description, p.active) for p in Product.objects.all()}


def counts(job: ImportJob) -> tuple[int, ...]:
    return job.created_count, job.updated_count, job.unchanged_count, job.error_count, job.processed_rows


@pytest.mark.parametrize("skip_unchanged", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_a_dry_run_counts_exactly_what_the_import_then_does(seed, skip_unchanged, csv_file, settings):
    """Random files over an existing catalogue: SKUs repeated within and across chunks, in other
    cases, with equal and different values, some columns missing; unchanged rows skipped or
    (IMPORT_SKIP_UNCHANGED=false) written and counted updated."""
    settings.IMPORT_SKIP_UNCHANGED = skip_unchanged
    rng = random.Random(seed)
    for n in range(0, 60, 3):
        product_services.product_create(sku=f"K-{n}", name=f"name {n % 4}", active=n % 2 == 0)
    columns = rng.choice([("sku", "name"), ("sku", "name", "active"), ("sku", "name", "description", "active")])
    lines = [",".join(columns)]
    for _ in range(rng.randrange(50, 300)):
        n = rng.randrange(80)
        values = {"sku": rng.choice([f"K-{n}", f"k-{n}"]), "name": f"name {rng.randrange(4)}",
                  "description": rng.choice(["", "d"]), "active": rng.choice(["yes", "no", "maybe"])}  # fmt: skip
        lines.append(",".join(values[c] for c in columns))
    data = "\n".join(lines) + "\n"
    before = catalogue()
    path = csv_file(data)
    preview = import_job_run(job=services.import_job_create_from_path(path=path, chunk_size=17, dry_run=True))
    assert catalogue() == before, "a dry run writes nothing"
    real = import_job_run(job=services.import_job_create_from_path(path=path, chunk_size=17))
    assert counts(preview) == counts(real)
    assert preview.phase == "Preview complete" and real.phase == "Import complete"


def test_an_upload_with_dry_run_previews_and_confirm_imports_the_same_file(
    api, eager_celery, django_capture_on_commit_callbacks
):
    product_services.product_create(sku="OLD", name="Old name", description="keep")
    product_services.product_create(sku="SAME", name="Same")
    data = b"sku,name\nold,New name\nsame,Same\nNEW-1,Fresh\n,broken\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(UPLOAD, {"file": SimpleUploadedFile("p.csv", data), "dry_run": "true"}, format="multipart")
    assert response.status_code == 202
    status = api.get(response.json()["status_url"]).json()
    assert status["dry_run"] is True and status["status"] == "SUCCESS" and status["phase"] == "Preview complete"
    assert (status["created"], status["updated"], status["unchanged"], status["errors"]) == (1, 1, 1, 1)
    assert status["changes"] == {
        "created": ["NEW-1"],
        "updated": [{"sku": "old", "changes": {"name": ["Old name", "New name"]}}],
    }
    assert not Product.objects.filter(sku="NEW-1").exists(), "the preview wrote nothing"
    preview_id = response.json()["job_id"]
    assert api.get(f"/api/v1/imports/{preview_id}").json()["changes"] == status["changes"]

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = api.post(f"/api/v1/imports/{preview_id}/confirm")
    assert confirmed.status_code == 202
    body = confirmed.json()
    assert {"task_id", "job_id", "status", "status_url"} <= set(body) and body["job_id"] != preview_id
    job = ImportJob.objects.get(pk=body["job_id"])
    assert (job.status, job.dry_run, job.confirms_id) == ("SUCCESS", False, preview_id)
    assert (job.created_count, job.updated_count, job.unchanged_count, job.error_count) == (1, 1, 1, 1)
    assert catalogue()["OLD"] == ("New name", "keep", True) and "NEW-1" in catalogue()
    assert api.get(f"/api/v1/imports/{job.pk}").json()["confirms"] == preview_id

    assert api.post(f"/api/v1/imports/{preview_id}/confirm").status_code == 409, "confirmed twice"
    assert api.post(f"/api/v1/imports/{job.pk}/confirm").status_code == 409, "not a preview"


def test_a_preview_that_has_not_finished_cannot_be_confirmed(api):
    response = api.post(
        UPLOAD, {"file": SimpleUploadedFile("p.csv", b"sku,name\nA,a\n"), "dry_run": "1"}, format="multipart"
    )
    assert response.status_code == 202  # queued, not run (no on-commit here)
    assert api.post(f"/api/v1/imports/{response.json()['job_id']}/confirm").status_code == 409


def test_confirming_needs_the_import_permissions(client_for, csv_file):
    preview = ImportJob.objects.create(source="upload", original_name="p.csv", dry_run=True, status="SUCCESS")
    viewer = client_for("imports.view_importjob", username="viewer")
    assert viewer.post(f"/api/v1/imports/{preview.pk}/confirm").status_code == 403


def test_the_admin_previews_then_imports_the_file(staff_client, eager_celery, django_capture_on_commit_callbacks):
    product_services.product_create(sku="OLD", name="Old name")
    upload = SimpleUploadedFile("p.csv", b"sku,name\nOLD,New name\nNEW-1,Fresh\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:imports_importjob_upload"), {"file": upload, "_preview": "Preview"})
    preview = ImportJob.objects.get()
    assert preview.dry_run and response.url == reverse("admin:imports_importjob_progress", args=[preview.pk])
    page = staff_client.get(response.url).content.decode()
    assert "A preview:" in page and 'id="confirm-form"' in page
    assert "<del>Old name</del>" in page and "<ins>New name</ins>" in page and "NEW-1" in page
    assert Product.objects.get(sku="OLD").name == "Old name"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:imports_importjob_confirm", args=[preview.pk]))
    job = ImportJob.objects.exclude(pk=preview.pk).get()
    assert response.url == reverse("admin:imports_importjob_progress", args=[job.pk])
    assert job.status == "SUCCESS" and Product.objects.get(sku="OLD").name == "New name"
    page = staff_client.get(reverse("admin:imports_importjob_progress", args=[preview.pk])).content.decode()
    assert f"import #{job.pk}" in page and 'id="confirm-form"' not in page


def test_a_preview_and_its_import_share_the_file_until_both_are_pruned(api, settings, eager_celery,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    from datetime import timedelta

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=True):
        body = api.post(
            UPLOAD, {"file": SimpleUploadedFile("p.csv", b"sku,name\nA,a\n"), "dry_run": "true"}, format="multipart"
        ).json()
    preview = ImportJob.objects.get(pk=body["job_id"])
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_confirm(preview=preview)
    assert job.file.name == preview.file.name and import_file_exists(job)
    ImportJob.objects.filter(pk=preview.pk).update(created_at=timezone.now() - timedelta(days=40))
    assert services.import_jobs_prune() == 1
    assert import_file_exists(job), "the confirming import still needs it"
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=40))
    assert services.import_jobs_prune() == 1
    assert not import_file_exists(job)


# --- Rejected rows, fixed and uploaded again ----------------------------------------------------


def test_rejected_rows_come_back_as_the_file_had_them_and_import_once_fixed(
    api, eager_celery, django_capture_on_commit_callbacks
):
    data = (
        "Name;SKU;Description;Colour\r\n"
        'Fine;OK-1;"two\r\nlines";red\r\n'
        ";NO-NAME;x;blue\r\n"
        'Broken;BAD-1;"multi\r\nline";\r\n'
        "Too;many;fields;here;extra\r\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        body = api.post(UPLOAD, {"file": SimpleUploadedFile("s.csv", data.encode())}, format="multipart").json()
    job = ImportJob.objects.get(pk=body["job_id"])
    assert (job.created_count, job.error_count) == (2, 2)
    response = api.get(f"/api/v1/imports/{job.pk}/rejected.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Name", "SKU", "Description", "Colour", "error", "line", "row"]
    assert rows[1] == ["", "NO-NAME", "x", "blue", "Name is empty.", "4", "2"]
    assert rows[2][:5] == ["Too", "many", "fields", "here", "extra"] and rows[2][-2:] == ["7", "4"]

    fixed = text.replace(";NO-NAME;", "Named now;NO-NAME;").replace("Too;many;fields;here;extra", "Too;MANY;f;x")
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(UPLOAD, {"file": SimpleUploadedFile("fixed.csv", fixed.encode())}, format="multipart")
    second = ImportJob.objects.get(pk=again.json()["job_id"])
    assert (second.status, second.created_count, second.error_count) == ("SUCCESS", 2, 0)
    assert "Ignored unknown column(s): Colour, error, line, row." in second.warnings
    assert Product.objects.get(sku="NO-NAME").name == "Named now"


def test_errors_csv_and_the_status_give_line_and_row(api, csv_file):
    job = import_job_run(job=services.import_job_create_from_path(path=csv_file('sku,name\nA,"x\ny"\n,bad\n')))
    row_error = ImportJob.objects.get(pk=job.pk).row_errors.get()
    assert (row_error.line, row_error.row) == (4, 2)
