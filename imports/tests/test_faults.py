"""Imports against real faults, on real worker processes: workers killed once too often or for
good, database connections cut, the broker restarting, time limits, imports of the same products
at once, and hostile files (the same things in one process are in test_hardening.py)."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_results.models import TaskResult

from fulfil.jobs import background_jobs_fail_stale
from fulfil.processes import CeleryWorker, ChildProcess, celery_app_on, wait_until
from imports.models import ImportJob
from imports.services import import_job_create_from_path, import_job_enqueue
from imports.tasks import process_csv_upload
from imports.tests.test_worker import big_csv, counts, reference, snapshot, upload
from products.models import Product, ProductDeletion
from products.services import product_set_active
from scripts.hostile_csv import SHAPES, write_single_line

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def finished(job: ImportJob | ProductDeletion, worker: CeleryWorker, timeout: float = 120):
    """The job once it has finished (failing if it has not within `timeout`)."""
    wait_until(lambda: type(job).objects.get(pk=job.pk).is_finished, timeout, f"{job} to finish", worker)
    job.refresh_from_db()
    return job


def importing(api, start, tmp_path, **worker_options) -> tuple[CeleryWorker, ImportJob, dict, tuple]:
    """A worker started with these options importing an upload of 30,000 rows, and what an
    uninterrupted run of the same file produces (its products, its counts)."""
    content = big_csv(30_000)
    expected, expected_counts = reference(content, tmp_path)
    worker = start("imports", **worker_options)
    return worker, upload(api, content), expected, expected_counts


def imported(job: ImportJob, rows: int, worker: CeleryWorker) -> None:
    """Once the job has committed at least `rows` rows."""
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).processed_rows >= rows, 60, f"{rows:,} rows imported", worker)


def only_child(worker: CeleryWorker) -> int:
    """The pid of the worker's one pool process (a killed one's replacement, once it is there)."""
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
        started = lambda n=attempt: ImportJob.objects.get(pk=poison.pk).attempts == n  # noqa: E731
        wait_until(started, 60, f"attempt {attempt}", worker)
        os.kill(only_child(worker), signal.SIGKILL)  # the pool process: the broker redelivers at once

    poison, after = finished(poison, worker, 60), finished(after, worker, 60)
    assert (poison.status, poison.error_message) == ("FAILURE", "the worker stopped 3 times while importing this file")
    assert poison.attempts == 3 and (poison.total_rows is None or poison.processed_rows < poison.total_rows)
    assert (after.status, counts(after)) == ("SUCCESS", (4, 2, 1, 1))
    # The task's result is stored once it returns, a moment after it failed the job.
    failed = lambda: TaskResult.objects.filter(task_id=poison.task_id, status="FAILURE").exists()  # noqa: E731
    wait_until(failed, 10, "the task's result FAILURE", worker)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    wait_until(lambda: not broker.llen("imports") and not broker.hlen("unacked"), 10, "both messages acknowledged")
    assert not worker.exited()


def test_an_import_whose_whole_worker_vanished_is_failed_as_stale_and_retry_resumes_it(
    api, celery_worker_process, tmp_path
):
    env = {"IMPORT_CHUNK_SIZE": "500"}
    first, job, expected, expected_counts = importing(api, celery_worker_process, tmp_path, env=env, name="first")
    imported(job, 3000, first)
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
    # Attempts keep counting across a retry; the worker deaths that make a poison file start afresh.
    assert (job.status, job.attempts, job.crashes) == ("SUCCESS", 2, 0), job.phase
    assert committed <= set(job.chunks.values_list("pk", flat=True)), "the committed chunks were kept, not redone"
    assert counts(job) == expected_counts
    assert snapshot() == expected


def test_a_delete_all_whose_whole_worker_vanished_is_failed_as_stale_and_a_new_one_finishes(api, celery_worker_process):
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
    env = {"IMPORT_CHUNK_SIZE": "500"}
    worker, job, expected, expected_counts = importing(api, celery_worker_process, tmp_path, env=env)
    for rows in (3000, 9000, 15_000):
        imported(job, rows, worker)
        assert cut_connections(), "no worker connection to cut"

    job = finished(job, worker)
    assert (job.status, job.attempts) == ("SUCCESS", 1), job.phase
    assert counts(job) == expected_counts and job.processed_rows == job.total_rows
    assert sum(job.chunks.values_list("records", flat=True)) == job.total_rows
    assert snapshot() == expected


def csv_path(tmp_path: Path, content: str, name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


class RedisServer:
    """A Redis server of the test's own on a spare port, persisting as docker-compose runs it
    (append-only file in `directory`), to stop and start again on the same port and data."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.process: ChildProcess | None = None

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        self.process = ChildProcess([*command, "--appendonly", "yes", "--dir", str(self.directory)])
        wait_until(self.answers, 10, "Redis to start", self.process)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        """SIGTERM, as `docker compose restart` does: Redis writes its data and exits."""
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def queue_on(broker_url: str, job: ImportJob) -> None:
    """Queue the job's import on that broker (not the test suite's)."""
    with celery_app_on(broker_url) as app:
        app.send_task(process_csv_upload.name, args=(job.pk,), task_id=job.task_id)


@pytest.mark.parametrize("outage", ["restart", "connections dropped"])
def test_an_import_runs_once_to_the_end_while_its_broker_goes_away(celery_worker_process, own_redis, tmp_path, outage):
    content = big_csv(30_000)
    expected, expected_counts = reference(content, tmp_path)
    (tmp_path / "big.csv").write_bytes(content)
    own_redis.start()
    env = {"CELERY_BROKER_URL": own_redis.url, "IMPORT_CHUNK_SIZE": "500"}
    worker = celery_worker_process("imports", env=env)
    job = import_job_create_from_path(path=tmp_path / "big.csv")
    queue_on(own_redis.url, job)
    imported(job, 3000, worker)
    if outage == "restart":
        own_redis.stop()
        imported(job, 6000, worker)  # the import needs the database, not the broker
        own_redis.start()
    else:  # Redis stays up: the worker's clients reconnect, and its delivery must stay the only one
        assert redis.Redis.from_url(own_redis.url).client_kill_filter(_type="normal", skipme=True)

    job = finished(job, worker)
    assert (job.status, job.attempts) == ("SUCCESS", 1), job.phase
    assert counts(job) == expected_counts and job.processed_rows == job.total_rows
    assert snapshot() == expected
    broker = redis.Redis.from_url(own_redis.url)
    wait_until(lambda: not broker.llen("imports") and not broker.hlen("unacked"), 30, "the message acknowledged")
    small = csv_path(tmp_path, "sku,name\nN-1,after the outage\n")
    queue_on(own_redis.url, after := import_job_create_from_path(path=small))
    assert finished(after, worker, 30).status == "SUCCESS", "the worker no longer takes tasks"
    assert ImportJob.objects.get(pk=job.pk).attempts == 1


# --- Time limits ----------------------------------------------------------------------------------


def test_an_import_past_its_soft_time_limit_fails_saying_so_keeps_whole_chunks_and_retry_finishes_it(
    api, celery_worker_process
):
    rows, size = 24_000, 40  # small chunks on one writer: well past 5 s
    content = "sku,name\n" + "".join(f"T-{i},n{i}\n" for i in range(rows))
    limits = {"CELERY_TASK_SOFT_TIME_LIMIT": "5", "CELERY_TASK_TIME_LIMIT": "30"}  # 5 s: the least allowed
    env = {**limits, "IMPORT_CHUNK_SIZE": str(size), "IMPORT_WRITERS": "1"}
    limited = celery_worker_process("imports", env=env, name="limited")
    job = finished(upload(api, content.encode()), limited, 60)
    assert job.status == "FAILURE" and "ran past its time limit of 5 s" in job.error_message, limited.output()
    assert 0 < job.processed_rows < rows
    seqs = set(job.chunks.values_list("seq", flat=True))
    assert job.processed_rows == len(seqs) * size
    committed = {f"T-{i}" for seq in seqs for i in range(seq * size, (seq + 1) * size)}
    assert set(Product.objects.values_list("sku", flat=True)) == committed, "a chunk in flight was not rolled back"
    limited.stop()

    normal = celery_worker_process("imports", name="normal")
    assert api.post(f"/api/v1/imports/{job.pk}/retry", {}, format="json").status_code == 202
    job = finished(job, normal)
    assert (job.status, counts(job), job.attempts) == ("SUCCESS", (rows, rows, 0, 0), 2), job.phase
    assert Product.objects.count() == rows


# --- Imports of the same products at once ---------------------------------------------------------


def overlapping(file: int, rows: int, skus: int) -> bytes:
    """`rows` rows over SKUs S-0 .. S-<skus - 1> in an order of this file's own; each row's name
    and description say which file and line wrote them: f<file>-l<line>, f<file>-l<line>-d."""
    order = [i % skus for i in range(rows)]
    random.Random(file).shuffle(order)
    lines = [f"S-{sku},f{file}-l{line},f{file}-l{line}-d" for line, sku in enumerate(order, start=2)]
    return "\n".join(["sku,name,description", *lines, ""]).encode()


def written_by(files: dict[int, bytes]) -> dict[str, str]:
    """name -> SKU of every row of these files."""
    return {name: sku for content in files.values() for sku, name, _ in csv.reader(io.StringIO(content.decode()))}


def test_imports_of_the_same_products_at_once_beside_edits_all_finish_exactly_and_never_mix_rows(
    api, celery_worker_process
):
    rows, skus = 3000, 1000
    env = {"IMPORT_CHUNK_SIZE": "100", "IMPORT_WRITERS": "2"}
    worker = celery_worker_process("imports", concurrency=3, env=env)
    solo = finished(upload(api, overlapping(0, rows, skus)), worker, 60)
    assert solo.status == "SUCCESS"
    Product.objects.all().delete()

    files = {n: overlapping(n, rows, skus) for n in (1, 2, 3)}
    jobs = [upload(api, content) for content in files.values()]
    rng, edits, deadline = random.Random(5), {}, time.monotonic() + 120
    while not all(ImportJob.objects.get(pk=job.pk).is_finished for job in jobs):
        assert time.monotonic() < deadline, "the imports did not finish"
        some = Product.objects.filter(sku__in=[f"S-{k}" for k in rng.sample(range(skus), 20)])
        product_set_active(products=some, active=len(edits) % 2 == 0)
        if product := some.first():
            name = f"e{len(edits)}"
            edits[name] = product.sku
            response = api.patch(f"/api/v1/products/{product.pk}", {"name": name, "description": f"{name}-d"})
            assert response.status_code == 200, response.content

    jobs = [ImportJob.objects.get(pk=job.pk) for job in jobs]
    assert [job.status for job in jobs] == ["SUCCESS"] * 3
    assert all(job.created_count + job.updated_count + job.error_count == job.total_rows == rows for job in jobs)
    assert sum(job.created_count for job in jobs) == Product.objects.count() == skus, "a product created twice"
    alone, durations = solo.duration_seconds or 0, [job.duration_seconds or 0 for job in jobs]
    assert max(durations) < max(6 * alone, alone + 15), (alone, durations)
    writers = {**written_by(files), **edits}
    for sku, name, description in Product.objects.values_list("sku", "name", "description"):
        assert description == f"{name}-d", f"{sku}: name and description from different rows"
        assert writers[name] == sku, f"{sku} has the values of another product's row"
    assert len(edits) > 5, "too few edits happened during the imports to show anything"


def test_the_same_file_uploaded_twice_at_once_imports_as_once(api, celery_worker_process, tmp_path):
    content = big_csv(5000)
    expected, (total, created, updated, errors) = reference(content, tmp_path)
    worker = celery_worker_process("imports", concurrency=2, env={"IMPORT_CHUNK_SIZE": "100"})
    jobs = [upload(api, content), upload(api, content)]
    jobs = [finished(job, worker, 60) for job in jobs]
    assert [job.status for job in jobs] == ["SUCCESS"] * 2
    assert all((job.total_rows, job.error_count) == (total, errors) for job in jobs)
    assert sum(job.created_count for job in jobs) == created, "a product created twice"
    # The second may find rows the first wrote already, as they are: those are unchanged, not written.
    assert sum(job.created_count + job.updated_count + job.unchanged_count for job in jobs) == 2 * (created + updated)
    assert snapshot() == expected


def test_four_imports_of_the_same_products_in_different_orders_all_finish_in_bounded_time(api, celery_worker_process):
    env = {"IMPORT_CHUNK_SIZE": "50", "IMPORT_WRITERS": "2"}
    worker = celery_worker_process("imports", concurrency=4, env=env)
    jobs = [upload(api, overlapping(n, 2000, 2000)) for n in range(4)]
    jobs = [finished(job, worker, 90) for job in jobs]
    assert [job.status for job in jobs] == ["SUCCESS"] * 4
    assert sum(job.created_count for job in jobs) == Product.objects.count() == 2000
    assert all(job.created_count + job.updated_count + job.unchanged_count == 2000 for job in jobs)


# --- Hostile files --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_a_hostile_single_line_file_is_one_row_error_and_the_worker_stays_small(celery_worker_process, tmp_path, shape):
    worker = celery_worker_process("imports", pool="solo")  # the task runs in the process measured
    job = import_job_create_from_path(path=write_single_line(tmp_path / "hostile.csv", shape, megabytes=100))
    import_job_enqueue(job=job)
    job = finished(job, worker, 120)
    assert (job.status, job.total_rows, job.error_count, job.created_count) == ("SUCCESS", 1, 1, 0), job.phase
    (error,) = job.row_errors.all()
    assert error.line == 2 and "IMPORT_MAX_ROW_BYTES" in error.reason and "line 2" in error.reason
    assert worker.peak_rss_mb() < 250
