from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imports.models import ImportJob
from products.models import Product

pytestmark = pytest.mark.django_db

UPLOAD = reverse("admin:imports_importjob_upload")


def post_file(client, content: bytes, name="shop.csv"):
    return client.post(UPLOAD, {"file": SimpleUploadedFile(name, content, "text/csv")})


@pytest.mark.quickstart
def test_import_page_is_linked_from_the_index_and_the_product_list(staff_client):
    assert UPLOAD.encode() in staff_client.get(reverse("admin:index")).content
    assert UPLOAD.encode() in staff_client.get(reverse("admin:products_product_changelist")).content
    page = staff_client.get(UPLOAD)
    assert page.status_code == 200 and b'type="file"' in page.content


def test_upload_then_watch_progress(staff_client, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(staff_client, b"sku,name\nA,a\n,bad\n")
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:imports_importjob_progress", args=[job.pk])
    page = staff_client.get(response.url)
    assert page.status_code == 200
    assert b"Import complete" in page.content and b"SKU is empty." in page.content
    assert reverse("v1:import-errors", args=[job.pk]).encode() in page.content  # the report download
    status = staff_client.get(reverse("admin:imports_importjob_status", args=[job.pk])).json()
    assert (status["status"], status["created"], status["errors"], status["percent"]) == ("SUCCESS", 1, 1, 100.0)
    assert status["error_report_url"] == f"http://testserver/api/v1/imports/{job.pk}/errors.csv"
    assert Product.objects.get().sku == "A"


def test_a_bad_file_is_refused_on_the_form_with_its_reason(staff_client):
    response = post_file(staff_client, b"title,price\nx,1\n")
    assert response.status_code == 200
    assert "Missing required column(s): sku, name." in response.content.decode()
    assert not ImportJob.objects.exists()


def test_failure_shows_the_reason_and_a_retry_button(staff_client, run_import):
    job = run_import(b"name\nonly\n")
    page = staff_client.get(reverse("admin:imports_importjob_progress", args=[job.pk])).content.decode()
    assert "Import failed: Missing required column(s): sku." in page
    retry = reverse("admin:imports_importjob_retry", args=[job.pk])
    assert f'action="{retry}" id="retry-form">' in page  # shown, not hidden


def test_cancel_of_a_queued_import_says_cancelled_never_cancelling(staff_client):
    job = ImportJob.objects.create(source="upload", original_name="q.csv", task_id="q")
    response = staff_client.post(reverse("admin:imports_importjob_cancel", args=[job.pk]), follow=True)
    page = response.content.decode()
    assert '<p id="outcome" class="outcome" role="status" data-field="outcome">Cancelled</p>' in page
    assert "Cancelling" not in page and 'class="module fulfil-progress tone-neutral' in page
    job.refresh_from_db()
    assert job.status == "REVOKED"


def test_cancel_of_a_running_import_says_cancelling_until_it_has_stopped(staff_client):
    job = ImportJob.objects.create(original_name="r.csv", task_id="r", status="PROGRESS", total_rows=10)
    response = staff_client.post(reverse("admin:imports_importjob_cancel", args=[job.pk]), follow=True)
    assert "Cancelling: it stops after the current chunk" in response.content.decode()
    status = staff_client.get(reverse("admin:imports_importjob_status", args=[job.pk])).json()
    assert (status["cancel_requested"], status["tone"]) == (True, "running")
    ImportJob.objects.filter(pk=job.pk).update(status="REVOKED")
    status = staff_client.get(reverse("admin:imports_importjob_status", args=[job.pk])).json()
    assert (status["outcome"], status["tone"]) == ("Cancelled", "neutral")


def test_the_cancel_button_asks_for_confirmation(staff_client):
    job = ImportJob.objects.create(original_name="r.csv", task_id="r", status="PROGRESS")
    page = staff_client.get(reverse("admin:imports_importjob_progress", args=[job.pk])).content.decode()
    assert 'data-confirm="Cancel this import? It stops after the chunk being written' in page


def test_history_lists_imports_newest_first_with_outcomes_counts_and_duration(staff_client, run_import):
    run_import(b"sku,name\nA,a\n")
    run_import(b"sku,name\nB,b\nC,c\n,no sku\n")
    response = staff_client.get(reverse("admin:imports_importjob_changelist"))
    jobs = list(response.context["cl"].result_list)
    assert [j.created_count for j in jobs] == [2, 1]
    page = response.content.decode()
    for column in ("file_name", "who", "when", "outcome_display", "created", "updated", "unchanged", "errors",
                   "rows", "duration"):  # fmt: skip
        assert f"column-{column}" in page
    assert 'tone-warning" title="Completed with 1 error">' in page
    assert 'tone-success" title="Completed">' in page
    assert "Import jobs" not in page and "<h1>Select import to view</h1>" in page


@pytest.mark.parametrize(
    "fields, outcome",
    [
        ({"status": "SUCCESS"}, ("Completed", "success")),
        ({"status": "SUCCESS", "error_count": 20}, ("Completed with 20 errors", "warning")),
        ({"status": "FAILURE", "error_message": "the file is binary"}, ("Failed: the file is binary", "error")),
        ({"status": "REVOKED"}, ("Cancelled", "neutral")),
        ({"status": "PROGRESS", "processed_rows": 459, "total_rows": 1000}, ("Running 45%", "running")),
        ({"status": "PENDING"}, ("Queued", "running")),
        ({"status": "SUCCESS", "dry_run": True}, ("Preview", "preview")),
        ({"status": "SUCCESS", "dry_run": True, "error_count": 1}, ("Preview with 1 error", "warning")),
    ],
)
def test_an_import_says_how_it_went_in_a_few_words(fields, outcome):
    assert ImportJob(original_name="f.csv", **fields).outcome == outcome


def test_an_imports_page_is_its_summary(staff_client, run_import):
    content = b"sku,name,colour\n" + b"".join(b"S-%d,n%d,red\n" % (i, i) for i in range(3000)) + b",x,y\n"
    job = run_import(content, size_bytes=len(content))
    change = staff_client.get(reverse("admin:imports_importjob_change", args=[job.pk]))
    page_url = reverse("admin:imports_importjob_progress", args=[job.pk])
    assert change.status_code == 302 and change.url == page_url
    page = staff_client.get(page_url).content.decode()
    assert "Completed with 1 error" in page and 'class="module fulfil-progress tone-warning' in page
    assert '<dd id="file-size" title="48801 bytes">47.7\xa0KB</dd>' in page
    assert '<dd id="file-layout">UTF-8, comma-separated</dd>' in page
    assert '<dd id="file-columns">sku, name</dd>' in page
    assert "Ignored unknown column(s): colour." in page
    assert reverse("v1:import-errors", args=[job.pk]) in page and reverse("v1:import-rejected", args=[job.pk]) in page
    assert re.search(r'<dd id="finished">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</dd>', page)
    assert "<td>3002</td><td>3001</td><td></td><td>sku</td>" in page  # line and row of the rejected row


def test_staff_without_import_permission_cannot_upload(client, make_user):
    user = make_user("viewer", staff=True, perms=("imports.view_importjob",))
    client.force_login(user)
    assert client.get(UPLOAD).status_code == 403
