"""Imports that hostile files, failing transactions and dead workers cannot break: in one process,
against PostgreSQL (the tests with real workers are in test_faults.py)."""

from __future__ import annotations

import csv
import io
import os
import signal
from datetime import timedelta

import pytest
from billiard.pool import SIG_SOFT_TIMEOUT, soft_timeout_sighandler
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone

from fulfil.csvfiles import spreadsheet_safe
from fulfil.jobs import background_jobs_fail_stale
from imports import services
from imports.models import ImportChunk, ImportJob
from imports.run import ImportRun, import_job_run
from imports.selectors import import_error_report
from imports.tasks import process_csv_upload
from products.models import Product

pytestmark = pytest.mark.django_db


def new_job(csv_file, content: str, *, name: str = "products.csv", chunk_size: int = 10) -> ImportJob:
    path = csv_file(content, name)
    return ImportJob.objects.create(
        source="command", source_path=str(path), original_name=name, chunk_size=chunk_size, task_id=f"task-{name}"
    )


def report(job: ImportJob) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(import_error_report(job=job)))))


def catalogue() -> dict[str, str]:
    return dict(Product.objects.values_list("sku", "name"))


# --- Rows that are all bad ------------------------------------------------------------------------


def test_only_the_first_errors_are_stored_the_rest_counted_and_the_report_says_so(csv_file, settings, api):
    settings.IMPORT_MAX_STORED_ERRORS = 25
    job = import_job_run(job=new_job(csv_file, "sku,name\n" + ",x\n" * 100 + "OK-1,fine\n"))
    assert (job.status, job.error_count, job.created_count) == ("SUCCESS", 100, 1)
    assert job.row_errors.count() == 25
    rows = report(job)
    assert len(rows) == 1 + 25 + 1
    assert rows[-1][4] == "Only the first 25 of 100 rejected rows are stored and shown."
    status = api.get(f"/api/v1/products/upload/{job.task_id}/status").json()
    assert (status["errors"], status["errors_stored"], len(status["row_errors"])) == (100, 25, 20)


def test_a_report_with_every_error_stored_has_no_note(csv_file):
    job = import_job_run(job=new_job(csv_file, "sku,name\n,x\n,y\n"))
    assert [row[4] for row in report(job)[1:]] == ["SKU is empty.", "SKU is empty."]


# --- Spreadsheet formulas -------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_cells_a_spreadsheet_would_run_are_neutralised(cell):
    assert spreadsheet_safe(cell) == "'" + cell
    assert spreadsheet_safe("plain") == "plain" and spreadsheet_safe(7) == 7


def test_errors_csv_and_errors_out_never_hand_a_spreadsheet_a_formula(csv_file, tmp_path):
    content = "sku,name,active\n\"=cmd|' /C calc'!A0\",x,maybe\n@SUM(1),y,nope\n"
    job = import_job_run(job=new_job(csv_file, content))
    assert [row[2] for row in report(job)[1:]] == ["'=cmd|' /C calc'!A0", "'@SUM(1)"]
    out = tmp_path / "rejected.csv"
    call_command("import_csv", str(csv_file(content, "again.csv")), "--errors-out", str(out), stdout=io.StringIO())
    assert [row[2] for row in list(csv.reader(out.open()))[1:]] == ["'=cmd|' /C calc'!A0", "'@SUM(1)"]


# --- Retry resumes ------------------------------------------------------------------------------


def _cancelled_after(csv_file, content: str, chunks: int) -> ImportJob:
    job = new_job(csv_file, content)

    def cancel_after(current: ImportJob) -> None:
        if current.processed_rows == chunks * 10 and not current.cancel_requested:
            current.cancel_requested = True
            services.import_job_cancel(job=current)

    job = import_job_run(job=job, on_progress=cancel_after)
    assert job.status == "REVOKED" and job.processed_rows == chunks * 10
    return job


DATA = "sku,name\n" + "".join(f"R-{i % 70},name {i}\n" for i in range(100)) + ",no sku\n"


def test_retrying_a_cancelled_import_resumes_where_it_stopped(
    csv_file, eager_celery, django_capture_on_commit_callbacks
):
    reference = import_job_run(job=new_job(csv_file, DATA, name="reference.csv"))
    expected = catalogue()
    Product.objects.all().delete()
    job = _cancelled_after(csv_file, DATA, chunks=4)
    first_chunks = set(job.chunks.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        services.import_job_retry(job=job)
    job.refresh_from_db()
    assert job.status == "SUCCESS" and catalogue() == expected
    assert first_chunks <= set(job.chunks.values_list("pk", flat=True)), "the committed chunks were kept, not redone"
    counts = ("created_count", "updated_count", "error_count", "processed_rows", "total_rows")
    assert [getattr(job, c) for c in counts] == [getattr(reference, c) for c in counts]


def test_start_over_runs_the_whole_file_again(csv_file, eager_celery, django_capture_on_commit_callbacks):
    job = _cancelled_after(csv_file, DATA, chunks=4)
    first_chunks = set(job.chunks.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        services.import_job_retry(job=job, start_over=True)
    job.refresh_from_db()
    assert job.status == "SUCCESS" and job.processed_rows == 101
    assert not first_chunks & set(job.chunks.values_list("pk", flat=True))
    # Every row was read again: the first 40 now find their products as they left them.
    assert (job.created_count, job.updated_count, job.unchanged_count, job.error_count) == (30, 30, 40, 1)


def test_starting_over_forgets_the_unchanged_rows_of_the_earlier_run(csv_file, eager_celery,
                                                                    django_capture_on_commit_callbacks):  # fmt: skip
    import_job_run(job=new_job(csv_file, DATA, name="first.csv"))
    job = _cancelled_after(csv_file, DATA, chunks=4)
    assert (job.updated_count, job.unchanged_count) == (30, 10)
    with django_capture_on_commit_callbacks(execute=True):
        services.import_job_retry(job=job, start_over=True)
    job.refresh_from_db()
    # The first 40 rows find the products as the cancelled run left them; the last 30 change them back.
    assert (job.created_count, job.updated_count, job.unchanged_count, job.error_count) == (0, 30, 70, 1)
    assert job.processed_rows == 101


def test_a_retry_of_a_file_that_changed_starts_over_and_says_so(csv_file, eager_celery,
                                                                django_capture_on_commit_callbacks):  # fmt: skip
    job = _cancelled_after(csv_file, DATA, chunks=4)
    csv_file("sku,name\nNEW-1,new\n")  # the stored file replaced in place
    with django_capture_on_commit_callbacks(execute=True):
        services.import_job_retry(job=job)
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created_count) == ("SUCCESS", 1, 1)
    assert "The file changed since the earlier run, so it was imported from its first row." in job.warnings


def test_the_retry_endpoint_takes_start_over(api, csv_file, eager_celery, django_capture_on_commit_callbacks):
    job = _cancelled_after(csv_file, DATA, chunks=2)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/imports/{job.pk}/retry", {"start_over": True}, format="json")
    assert response.status_code == 202
    job.refresh_from_db()
    assert job.status == "SUCCESS" and job.processed_rows == 101 and job.unchanged_count == 20
    assert api.post(f"/api/v1/imports/{job.pk}/retry", {"start_over": "maybe"}, format="json").status_code == 400


# --- Workers that die, time limits, failing transactions ------------------------------------------


def test_a_job_whose_worker_died_max_attempts_times_is_failed_not_started_again(csv_file, settings):
    settings.IMPORT_MAX_ATTEMPTS = 3
    job = new_job(csv_file, DATA)
    ImportJob.objects.filter(pk=job.pk).update(status="PROGRESS", attempts=3, crashes=2)  # a third death
    job = import_job_run(job=job)
    assert job.status == "FAILURE" and job.error_message == "the worker stopped 3 times while importing this file"
    assert not Product.objects.exists()


def test_a_running_job_that_stopped_reporting_is_failed_by_housekeeping(csv_file, settings):
    settings.JOB_STALE_AFTER = 600
    stale, fresh = new_job(csv_file, DATA, name="a.csv"), new_job(csv_file, DATA, name="b.csv")
    long_ago = timezone.now() - timedelta(minutes=11)
    ImportJob.objects.filter(pk=stale.pk).update(status="PROGRESS", heartbeat_at=long_ago, started_at=long_ago)
    ImportJob.objects.filter(pk=fresh.pk).update(status="PROGRESS", heartbeat_at=timezone.now())
    assert background_jobs_fail_stale() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "FAILURE" and "stopped reporting for 10 minutes" in stale.error_message
    assert stale.phase.startswith("Import failed: its worker stopped reporting")
    assert fresh.status == "PROGRESS"


def test_a_run_that_housekeeping_gave_up_on_stops_without_writing(csv_file, monkeypatch):
    job = new_job(csv_file, DATA)
    real_write = ImportRun._write

    def failed_meanwhile(self, chunk, overlap):
        if chunk.seq == 2:  # the worker was cut off; housekeeping failed the job meanwhile
            ImportJob.objects.filter(pk=job.pk).update(status="FAILURE", error_message="stale")
        return real_write(self, chunk, overlap)

    monkeypatch.setattr(ImportRun, "_write", failed_meanwhile)
    result = import_job_run(job=job)
    assert (result.status, result.error_message) == ("FAILURE", "stale")
    assert sorted(result.chunks.values_list("seq", flat=True)) == [0, 1]  # chunk 2 rolled back
    assert Product.objects.count() == result.created_count


def test_celerys_soft_limit_signal_mid_chunk_lets_the_chunk_commit_and_stops_the_job_after_it(csv_file):
    # As in a prefork pool process, whose handler raises SoftTimeLimitExceeded wherever the code
    # is: in a COMMIT it left the transaction's outcome unknown and the job failed as an internal error.
    previous = signal.signal(SIG_SOFT_TIMEOUT, soft_timeout_sighandler)
    job = new_job(csv_file, DATA)

    def limit_reached(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "products_product"') and Product.objects.count() >= 20:
            os.kill(os.getpid(), SIG_SOFT_TIMEOUT)  # the pool's signal, in the middle of the third chunk
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(limit_reached):
            assert process_csv_upload.apply(args=(job.pk,)).failed()
        assert signal.getsignal(SIG_SOFT_TIMEOUT) is soft_timeout_sighandler, "the pool's handler is back"
    finally:
        signal.signal(SIG_SOFT_TIMEOUT, previous)
    job.refresh_from_db()
    assert job.status == "FAILURE" and "ran past its time limit" in job.error_message, job.error_message
    assert sorted(job.chunks.values_list("seq", flat=True)) == [0, 1, 2], "the chunk in flight committed"
    assert job.processed_rows == 30 and Product.objects.count() == job.created_count


def test_a_task_past_its_soft_time_limit_stops_at_the_next_checkpoint_though_no_exception_came(csv_file, monkeypatch):
    # A run checks the soft limit itself after each chunk; here no signal comes at all.
    job = new_job(csv_file, DATA)
    monkeypatch.setattr(process_csv_upload, "soft_time_limit", 0.001)
    assert process_csv_upload.apply(args=(job.pk,)).failed()
    job.refresh_from_db()
    assert job.status == "FAILURE" and "ran past its time limit" in job.error_message
    assert job.processed_rows == 10 and Product.objects.count() == job.created_count


@pytest.mark.django_db(transaction=True)
def test_a_chunk_whose_transaction_fails_for_a_passing_reason_is_tried_again(csv_file, monkeypatch):
    reference = import_job_run(job=new_job(csv_file, DATA, name="reference.csv"))
    expected = catalogue()
    Product.objects.all().delete()
    job = new_job(csv_file, DATA)
    failures = {"left": 3}
    real_init = ImportRun.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        upsert = self.upsert

        def flaky(*, batch):
            result = upsert(batch=batch)
            if failures["left"]:
                failures["left"] -= 1
                raise OperationalError("deadlock detected")  # as PostgreSQL breaks a lock cycle
            return result

        self.upsert = flaky

    monkeypatch.setattr(ImportRun, "__init__", init)
    monkeypatch.setattr("fulfil.database._RETRY_FIRST_WAIT", 0.01)
    job = import_job_run(job=job)
    assert job.status == "SUCCESS" and catalogue() == expected and failures["left"] == 0
    assert (job.created_count, job.updated_count, job.error_count) == (
        reference.created_count, reference.updated_count, reference.error_count
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_chunk_that_committed_although_its_answer_was_lost_is_counted_once(csv_file, monkeypatch):
    reference = import_job_run(job=new_job(csv_file, DATA, name="reference.csv"))
    Product.objects.all().delete()

    def commit_then_lose_the_answer(work, *, what):
        work()  # committed...
        return work()  # ...but the connection died before the answer: tried again

    monkeypatch.setattr("imports.run.with_retries", commit_then_lose_the_answer)
    job = import_job_run(job=new_job(csv_file, DATA))
    assert job.status == "SUCCESS"
    assert ImportChunk.objects.filter(job=job).count() == 11
    job.refresh_from_db()
    counts = ("created_count", "updated_count", "error_count", "processed_rows")
    assert [getattr(job, c) for c in counts] == [getattr(reference, c) for c in counts]
