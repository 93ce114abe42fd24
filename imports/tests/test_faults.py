"""Imports against real faults, on real worker processes: workers killed once too often or for
good, database connections cut, the broker restarting, time limits, imports of the same products
at once, and hostile files (the same things in one process are in test_hardening.py)."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_results.models import TaskResult

from fulfil.jobs import background_jobs_fail_stale
from fulfil.processes import CeleryWorker, wait_until
from imports.models import ImportJob
from imports.tests.test_worker import big_csv, counts, reference, snapshot, upload
from products.models import Product, ProductDeletion

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def finished(job: ImportJob | ProductDeletion, worker: CeleryWorker, timeout: float = 120):
    """The job once it has finished (failing if it has not within `timeout`)."""
    wait_until(lambda: type(job).objects.get(pk=job.pk).is_finished, timeout, f"{job} to finish", worker)
    job.refresh_from_db()
    return job


def only_child(worker: CeleryWorker) -> int:
    """The pid of the worker's one pool process (once a killed one has been reaped)."""
    return wait_until(lambda: (pids := worker.children()) and len(pids) == 1 and pids[0], 30, "one pool process")


def stale_later() -> int:
    """Run housekeeping's stale check as it would run once JOB_STALE_AFTER has passed; how many it failed."""
    return background_jobs_fail_stale(now=timezone.now() + timedelta(seconds=settings.JOB_STALE_AFTER + 1))


# --- Workers that die -----------------------------------------------------------------------------


def test_a_file_whose_worker_dies_every_time_is_failed_after_max_attempts_and_the_queue_moves_on(
    api, celery_worker_process
):
    assert settings.IMPORT_MAX_ATTEMPTS == 3
    worker = celery_worker_process("imports", env={"IMPORT_CHUNK_SIZE": "100"})
    poison = upload(api, big_csv(20_000))
    after = upload(api, b"sku,name\nB-1,b\nB-2,b\nb-1,again\n,bad\n")
    for attempt in (1, 2, 3):
        wait_until(lambda: ImportJob.objects.get(pk=poison.pk).attempts == attempt, 60, f"attempt {attempt}", worker)
        os.kill(only_child(worker), signal.SIGKILL)  # the pool process: the broker redelivers at once

    poison, after = finished(poison, worker, 60), finished(after, worker, 60)
    assert (poison.status, poison.error_message) == ("FAILURE", "the worker stopped 3 times while importing this file")
    assert poison.attempts == 3 and not poison.chunks.exists() or poison.processed_rows < poison.total_rows
    assert (after.status, counts(after)) == ("SUCCESS", (4, 2, 1, 1))
    assert TaskResult.objects.get(task_id=poison.task_id).status == "FAILURE"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    wait_until(lambda: not broker.llen("imports") and not broker.hlen("unacked"), 10, "both messages acknowledged")
    assert not worker.exited()


def test_an_import_whose_whole_worker_vanished_is_failed_as_stale_and_retry_resumes_it(
    api, celery_worker_process, tmp_path
):
    content = big_csv(30_000)
    expected, expected_counts = reference(content, tmp_path)
    env = {"IMPORT_CHUNK_SIZE": "500"}
    first = celery_worker_process("imports", env=env, name="first")
    job = upload(api, content)
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).processed_rows >= 3000, 60, "progress", first)
    first.kill()  # the whole worker: its message waits for the visibility timeout (an hour)
    assert background_jobs_fail_stale() == 0, "failed before JOB_STALE_AFTER passed"
    assert stale_later() == 1
    job.refresh_from_db()
    assert job.status == "FAILURE" and "its worker stopped reporting" in job.error_message
    committed = set(job.chunks.values_list("pk", flat=True))
    assert committed and job.processed_rows < job.total_rows

    second = celery_worker_process("imports", env=env, name="second")
    assert api.post(f"/api/v1/imports/{job.pk}/retry", {}, format="json").status_code == 202
    job = finished(job, second)
    assert (job.status, job.attempts) == ("SUCCESS", 1), job.phase
    assert committed <= set(job.chunks.values_list("pk", flat=True)), "the committed chunks were kept, not redone"
    assert counts(job) == expected_counts
    assert snapshot() == expected


def test_a_delete_all_whose_whole_worker_vanished_is_failed_as_stale_and_a_new_one_finishes(
    api, celery_worker_process
):
    Product.objects.bulk_create(Product(sku=f"D-{i}", name="doomed") for i in range(20_000))
    env = {"PRODUCT_DELETE_BATCH_SIZE": "50"}
    first = celery_worker_process("imports", env=env, name="first")
    job = ProductDeletion.objects.get(pk=api.delete("/api/v1/products/all").json()["job_id"])
    wait_until(lambda: ProductDeletion.objects.get(pk=job.pk).deleted >= 1000, 60, "progress", first)
    first.kill()
    assert background_jobs_fail_stale() == 0
    assert stale_later() == 1
    job.refresh_from_db()
    assert job.status == "FAILURE" and "its worker stopped reporting" in job.error_message
    assert job.deleted < 20_000 and Product.objects.count() == 20_000 - job.deleted

    second = celery_worker_process("imports", env=env, name="second")
    again = ProductDeletion.objects.get(pk=api.delete("/api/v1/products/all").json()["job_id"])
    again = finished(again, second)
    assert (again.status, again.deleted, Product.objects.count()) == ("SUCCESS", 20_000 - job.deleted, 0)


# --- The database and the broker going away ------------------------------------------------------


def cut_connections() -> int:
    """Terminate every other session on the test database (the worker's), as a failover would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return len(cursor.fetchall())


def test_an_import_whose_database_connections_are_cut_mid_import_ends_once_with_exact_counts(
    api, celery_worker_process, tmp_path
):
    content = big_csv(30_000)
    expected, expected_counts = reference(content, tmp_path)
    worker = celery_worker_process("imports", env={"IMPORT_CHUNK_SIZE": "500"})
    job = upload(api, content)
    for rows in (3000, 9000, 15_000):
        wait_until(lambda: ImportJob.objects.get(pk=job.pk).processed_rows >= rows, 60, f"{rows} rows", worker)
        assert cut_connections(), "no worker connection to cut"

    job = finished(job, worker)
    assert (job.status, job.attempts) == ("SUCCESS", 1), job.phase
    assert counts(job) == expected_counts and job.processed_rows == job.total_rows
    assert sum(job.chunks.values_list("records", flat=True)) == job.total_rows
    assert snapshot() == expected
