from __future__ import annotations

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


def test_cancel_button_cancels_a_queued_import(staff_client):
    job = ImportJob.objects.create(source="upload", original_name="q.csv", task_id="q")
    response = staff_client.post(reverse("admin:imports_importjob_cancel", args=[job.pk]), follow=True)
    assert b"Cancelling" in response.content
    job.refresh_from_db()
    assert job.status == "REVOKED"


def test_history_lists_imports_newest_first_with_counts(staff_client, run_import):
    run_import(b"sku,name\nA,a\n")
    run_import(b"sku,name\nB,b\nC,c\n")
    response = staff_client.get(reverse("admin:imports_importjob_changelist"))
    jobs = list(response.context["cl"].result_list)
    assert [j.created_count for j in jobs] == [2, 1]
    assert b"column-duration" in response.content and b"column-uploaded_by" in response.content


def test_staff_without_import_permission_cannot_upload(client, make_user):
    user = make_user("viewer", staff=True, perms=("imports.view_importjob",))
    client.force_login(user)
    assert client.get(UPLOAD).status_code == 403
