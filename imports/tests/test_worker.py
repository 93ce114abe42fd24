"""The import on a real Celery worker over Redis, including a worker killed mid-import."""

from __future__ import annotations

import os
import signal
import time

import pytest

from fulfil.processes import wait_until
from imports.models import ImportJob
from imports.tests.workloads import big_csv, counts, reference, snapshot, upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_upload_is_imported_by_the_worker_with_progress_in_the_task_state(api, celery_worker_process):
    from django_celery_results.models import TaskResult

    worker = celery_worker_process("imports")
    job = upload(api, b"sku,name\nA,a\nB,b\n,bad\n")
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).is_finished, 30, "the import", worker)
    job.refresh_from_db()
    assert (job.status, job.created_count, job.error_count) == ("SUCCESS", 2, 1)
    status = api.get(f"/api/v1/products/upload/{job.task_id}/status").json()
    assert status["status"] == "SUCCESS" and status["percent"] == 100.0
    result = wait_until(lambda: TaskResult.objects.filter(task_id=job.task_id, status="SUCCESS").first(), 10, "result")
    assert '"created": 2' in result.result


def test_a_worker_process_killed_mid_import_is_replaced_and_the_import_resumes_exactly(
    api, celery_worker_process, tmp_path
):
    content = big_csv(30_000)
    expected, expected_counts = reference(content, tmp_path)
    worker = celery_worker_process("imports", env={"IMPORT_CHUNK_SIZE": "500"})
    job = upload(api, content)
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).processed_rows >= 3000, 60, "progress", worker)
    (child,) = worker.children()
    os.kill(child, signal.SIGKILL)  # the pool process running the task, as the OOM killer would
    killed_at = ImportJob.objects.get(pk=job.pk).processed_rows

    wait_until(lambda: ImportJob.objects.get(pk=job.pk).is_finished, 120, "the resumed import", worker)
    job.refresh_from_db()
    assert job.status == "SUCCESS", job.phase
    assert job.attempts == 2 and killed_at < job.total_rows
    assert counts(job) == expected_counts
    assert snapshot() == expected


def test_a_whole_worker_killed_mid_import_resumes_when_a_worker_is_back(api, celery_worker_process, tmp_path):
    content = big_csv(30_000)
    expected, expected_counts = reference(content, tmp_path)
    env = {"IMPORT_CHUNK_SIZE": "500", "CELERY_VISIBILITY_TIMEOUT": "3"}
    first = celery_worker_process("imports", env=env, name="first")
    job = upload(api, content)
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).processed_rows >= 3000, 60, "progress", first)
    first.kill()
    stopped_at = ImportJob.objects.get(pk=job.pk)
    assert stopped_at.status == "PROGRESS" and stopped_at.processed_rows < stopped_at.total_rows
    time.sleep(4)  # past the visibility timeout: Redis hands the unacknowledged task out again

    second = celery_worker_process("imports", env=env, name="second")
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).is_finished, 120, "the resumed import", second)
    job.refresh_from_db()
    assert job.status == "SUCCESS", job.phase
    assert job.processed_rows == job.total_rows and job.attempts >= 2
    assert counts(job) == expected_counts
    assert snapshot() == expected
