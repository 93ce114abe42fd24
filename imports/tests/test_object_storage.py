"""Uploads kept in S3-compatible object storage (a real S3 API server on loopback: moto), read by
workers that share nothing but PostgreSQL, Redis and the bucket."""

from __future__ import annotations

import hashlib
import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from fulfil.celery import app as celery_app
from fulfil.housekeeping import housekeeping_run
from fulfil.processes import CeleryWorker, wait_until
from imports.models import ImportJob
from imports.storage import import_file_exists, import_file_open
from imports.tests.workloads import big_csv, counts, reference, snapshot, upload

pytestmark = pytest.mark.django_db


def files_under(*folders: Path | str) -> list[str]:
    return [str(Path(root, name)) for folder in folders for root, _, names in os.walk(folder) for name in names]


def open_copies(worker: CeleryWorker, folder: Path | str) -> list[str]:
    """The files in `folder` that the worker's pool processes hold open."""
    found = []
    for pid in worker.children():
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith(f"{folder}/"):
                found.append(target)
    return found


def finished(job: ImportJob, worker: CeleryWorker, timeout: float = 60) -> ImportJob:
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).is_finished, timeout, f"import {job.pk}", worker)
    job.refresh_from_db()
    return job


def test_an_upload_is_streamed_to_the_bucket_in_parts_and_read_back_through_a_nameless_copy(
    api, object_storage, settings
):
    # Over boto3's multipart threshold (8 MiB): the upload's temporary file goes up in parts.
    content = b"sku,name,description\n" + b"".join(b"S-%d,Name %d,%s\n" % (i, i, b"d" * 1000) for i in range(9000))
    job = upload(api, content)
    assert object_storage.keys() == [job.file.name]
    head = object_storage.client.head_object(Bucket=object_storage.bucket, Key=job.file.name)
    assert head["ContentLength"] == len(content) and head["ETag"].strip('"').endswith("-2")
    assert files_under(settings.MEDIA_ROOT) == []

    with import_file_open(job) as file:
        assert Path(os.readlink(f"/proc/self/fd/{file.fileno()}")).parent == settings.IMPORT_WORK_DIR
        assert os.listdir(settings.IMPORT_WORK_DIR) == [], "the copy has no name: nothing is left if the worker dies"
        assert hashlib.sha256(file.read()).digest() == hashlib.sha256(content).digest()
    assert import_file_exists(job)

    object_storage.client.delete_object(Bucket=object_storage.bucket, Key=job.file.name)
    assert not import_file_exists(job)
    with pytest.raises(FileNotFoundError), import_file_open(job):
        pass


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_sharing_only_the_bucket_import_an_upload_and_one_resumes_what_the_other_was_killed_in(
    api, celery_worker_process, object_storage, settings, tmp_path
):
    from django_celery_results.models import TaskResult

    content = big_csv(30_000)
    expected, expected_counts = reference(content, tmp_path)
    homes = {name: tmp_path / name for name in ("left", "right")}
    workers = {
        name: celery_worker_process(
            "imports", name=name, env={**object_storage.worker_env(home), "IMPORT_CHUNK_SIZE": "500"}
        )
        for name, home in homes.items()
    }
    job = upload(api, content)
    assert object_storage.keys() == [job.file.name]

    # Whichever worker took it reads its own copy, in its own work folder.
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).processed_rows >= 3000, 60, "progress")
    (running,) = [name for name, worker in workers.items() if open_copies(worker, homes[name] / "work")]
    (other,) = set(workers) - {running}
    # It stops taking imports, and its pool process dies mid-import (as the OOM killer would): the
    # task goes back to the queue at once, and the other worker takes it.
    celery_app.control.cancel_consumer("imports", destination=[workers[running].name], reply=True)
    (child,) = workers[running].children()
    os.kill(child, signal.SIGKILL)
    killed_at = ImportJob.objects.get(pk=job.pk).processed_rows

    job = finished(job, workers[other], timeout=120)
    assert job.status == "SUCCESS", job.phase
    assert job.attempts == 2 and killed_at < job.total_rows
    assert counts(job) == expected_counts
    assert snapshot() == expected
    assert TaskResult.objects.get(task_id=job.task_id).worker == workers[other].name
    wait_until(lambda: not open_copies(workers[other], homes[other] / "work"), 10, "the copy to be closed")
    folders = [
        settings.MEDIA_ROOT,
        settings.IMPORT_WORK_DIR,
        *(home / sub for home in homes.values() for sub in ("media", "work")),
    ]
    assert files_under(*folders) == []

    report = api.get(f"/api/v1/imports/{job.pk}/errors.csv")
    assert report.status_code == 200
    assert len(b"".join(report.streaming_content).decode().splitlines()) == 1 + job.error_count

    # Housekeeping, past the retention period, removes the object from the bucket.
    housekeeping_run(now=timezone.now() + timedelta(days=settings.IMPORT_RETENTION_DAYS + 1))
    assert object_storage.keys() == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_retry_and_confirm_read_the_file_in_the_bucket_and_a_file_gone_from_it_is_not_retried(
    api, celery_worker_process, object_storage, settings, tmp_path
):
    # Two uploads cancelled while queued (no worker yet): retry is for failed or cancelled imports.
    retried, gone = upload(api, b"sku,name\nR-1,r\n"), upload(api, b"sku,name\nG-1,g\n")
    for job in (retried, gone):
        assert api.post(f"/api/v1/imports/{job.pk}/cancel").json()["status"] == "REVOKED"
    worker = celery_worker_process("imports", env=object_storage.worker_env(tmp_path / "worker"))

    assert api.post(f"/api/v1/imports/{retried.pk}/retry").status_code == 202
    retried = finished(retried, worker)
    assert (retried.status, retried.created_count) == ("SUCCESS", 1)
    object_storage.client.delete_object(Bucket=object_storage.bucket, Key=gone.file.name)
    response = api.post(f"/api/v1/imports/{gone.pk}/retry")
    assert response.status_code == 409 and "no longer stored" in response.json()["detail"]

    # A preview and the import that confirms it read one object.
    preview = finished(upload(api, b"sku,name\nP-1,p\nP-2,p\n,no sku\n", dry_run=True), worker)
    assert (preview.status, preview.created_count, preview.error_count) == ("SUCCESS", 2, 1)
    response = api.post(f"/api/v1/imports/{preview.pk}/confirm")
    assert response.status_code == 202
    job = finished(ImportJob.objects.get(pk=response.json()["job_id"]), worker)
    assert (job.status, job.created_count, job.error_count, job.file.name) == ("SUCCESS", 2, 1, preview.file.name)
    assert sorted(object_storage.keys()) == sorted([retried.file.name, preview.file.name])

    housekeeping_run(now=timezone.now() + timedelta(days=settings.IMPORT_RETENTION_DAYS + 1))
    assert object_storage.keys() == []
    assert files_under(settings.MEDIA_ROOT, tmp_path / "worker") == []
