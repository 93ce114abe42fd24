"""CSV imports: accepting a file, running it in chunks, cancelling and retrying.

The upload API, the admin, `manage.py import_csv` and the Celery task all come through here.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, connections, transaction
from django.utils import timezone

from fulfil.errors import Conflict, ServiceError
from fulfil.jobs import background_job_cancel, background_job_cancel_requested, background_job_enqueue
from imports import parsing
from imports.models import ImportJob, ImportRowError
from products.selectors import product_existing_keys
from products.services import ProductBatch, UpsertResult, product_batch_build, product_batch_upsert
from webhooks import events
from webhooks.events import event_emit

logger = logging.getLogger(__name__)


ProgressCallback = Callable[[ImportJob], None]
ErrorsCallback = Callable[[Sequence[parsing.RowError]], None]


class FileTooLarge(ServiceError):
    status_code = 413
    code = "file_too_large"


class ImportFailed(Exception):
    """An import ended without importing: the file could not be read. The job says why."""


# --- Accepting a file -------------------------------------------------------------------------


def import_file_check(file: BinaryIO) -> parsing.Layout:
    """The checks made before a file is accepted: not empty, not binary, sku and name columns."""
    file.seek(0)
    sample = file.read(64 << 10)
    file.seek(0)
    try:
        return parsing.check_upload(sample)
    except parsing.FileError as exc:
        raise ServiceError(str(exc), code="invalid_file") from None


def import_job_create(*, upload: UploadedFile, user=None, chunk_size: int | None = None) -> ImportJob:
    """Store an uploaded CSV, record its job and queue the import once the transaction commits."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise FileTooLarge(f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes.")
    layout = import_file_check(upload.file)
    job = ImportJob(
        source=ImportJob.Source.UPLOAD,
        original_name=Path(upload.name or "upload.csv").name[:255],
        size_bytes=upload.size or 0,
        uploaded_by=user if user is not None and user.is_authenticated else None,
        task_id=str(uuid.uuid4()),
        chunk_size=chunk_size or 0,
        columns=list(layout.present),
        warnings=layout.warnings,
    )
    job.file.save(job.original_name, upload, save=False)  # streamed to storage in chunks
    job.save()
    import_job_enqueue(job=job)
    return job


def import_job_create_from_path(*, path: Path, chunk_size: int | None = None, dry_run: bool = False) -> ImportJob:
    """Record an import of a file already on the server (`import_csv`, benchmarks); not queued.

    A dry run is not saved: it writes nothing, its own record included.
    """
    job = ImportJob(
        source=ImportJob.Source.COMMAND,
        source_path=str(path),
        original_name=path.name[: ImportJob._meta.get_field("original_name").max_length],
        size_bytes=path.stat().st_size,
        task_id=str(uuid.uuid4()),
        chunk_size=chunk_size or 0,
        dry_run=dry_run,
    )
    if not dry_run:
        job.save()
    return job


def import_job_enqueue(*, job: ImportJob) -> None:
    """Queue the job's import task once the transaction commits."""
    from imports.tasks import process_csv_upload

    background_job_enqueue(job=job, task=process_csv_upload, failed="Import failed")


def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """Stop an import after its current chunk; what was committed stays. A queued one never starts."""
    return background_job_cancel(job=job)


def import_job_retry(*, job: ImportJob) -> ImportJob:
    """Run a failed or cancelled import again from its stored file (upserts make this safe)."""
    if job.status not in (ImportJob.Status.FAILURE, ImportJob.Status.REVOKED):
        raise Conflict(f"Only a failed or cancelled import can be retried; #{job.pk} is {job.get_status_display()}.")
    if not job.file_path.is_file():
        raise Conflict(f"The file of import #{job.pk} is no longer stored; upload it again.")
    with transaction.atomic():
        job.row_errors.all().delete()
        job.task_id = str(uuid.uuid4())
        job.status, job.phase, job.error_message = ImportJob.Status.PENDING, "Queued", ""
        job.total_rows, job.processed_rows, job.checkpoint = None, 0, 0
        job.created_count = job.updated_count = job.error_count = 0
        job.cancel_requested = False
        job.started_at = job.finished_at = None
        job.save()
        import_job_enqueue(job=job)
    return job


# --- Running an import --------------------------------------------------------------------------


def import_job_run(
    *,
    job: ImportJob,
    on_progress: ProgressCallback | None = None,
    on_errors: ErrorsCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportJob:
    """Run an import, or resume it from its checkpoint; calling it again for a finished job does nothing.

    Each chunk of rows is upserted, its row errors stored and the job's counters and
    checkpoint saved in one transaction. A job with `dry_run` set writes nothing at all and
    counts what would be created and updated. `should_stop` is asked after every chunk, as a
    cancel is (the command uses it for Ctrl-C).
    """
    if job.dry_run:
        return _Run(job, _Preview(), on_progress, on_errors, should_stop).execute()
    with _exclusive(job.pk) as mine:
        if not mine:
            logger.info("import %s is running elsewhere; not starting it twice", job.pk)
            return job
        job.refresh_from_db()
        if job.is_finished:
            return job
        return _Run(job, product_batch_upsert, on_progress, on_errors, should_stop).execute()


class _Preview:
    """Counts what an upsert would do without writing (dry runs).

    It remembers the keys it would have created, so a SKU repeated further down the file counts
    as an update, as it would in a real import; that set is the dry run's only growing memory.
    """

    def __init__(self) -> None:
        self.created_keys: set[str] = set()

    def __call__(self, *, batch: ProductBatch) -> UpsertResult:
        keys = set(batch.keys) - self.created_keys
        new = keys - product_existing_keys(keys=keys)
        self.created_keys |= new
        return UpsertResult(created=len(new), updated=len(batch.keys) - len(new) + batch.repeats)


class _Run:
    def __init__(self, job: ImportJob, upsert, on_progress, on_errors, should_stop=None) -> None:
        self.job = job
        self.should_stop = should_stop or (lambda: False)
        self.upsert = upsert
        self.on_progress = on_progress or (lambda job: None)
        self.on_errors = on_errors or (lambda errors: None)
        self.persist = not job.dry_run
        self.last_stamp: datetime | None = None

    def execute(self) -> ImportJob:
        job = self.job
        resuming = job.checkpoint > 0
        job.attempts += 1
        job.status, job.phase = ImportJob.Status.STARTED, "Parsing CSV"
        job.started_at = job.started_at or timezone.now()
        self._save("attempts", "status", "phase", "started_at")
        logger.info("import %s started (attempt %s)", job.pk, job.attempts,
                    extra={"job_id": job.pk, "checkpoint": job.checkpoint})  # fmt: skip
        self.on_progress(job)
        try:
            with job.file_path.open("rb") as file:
                layout = parsing.inspect(file)
                job.encoding, job.delimiter = layout.encoding, layout.delimiter
                job.columns, job.warnings = list(layout.present), layout.warnings
                job.total_rows = parsing.count_records(file, layout)
                job.status, job.phase = ImportJob.Status.PROGRESS, "Importing"
                self._save("encoding", "delimiter", "columns", "warnings", "total_rows", "status", "phase")
                if not resuming and self.persist:
                    data = {"task_id": job.task_id, "filename": job.original_name, "total_rows": job.total_rows}
                    event_emit(event=events.IMPORT_STARTED, data=data)
                self.on_progress(job)
                rows = parsing.records(file, layout, skip=job.checkpoint)
                size = job.chunk_size or settings.IMPORT_CHUNK_SIZE
                with _prepared(rows, size, layout.present, self._stamp) as chunks:
                    writers = self._writers()
                    if writers > 1:
                        cancelled = _OrderedWriters(self, chunks, writers).run()
                    else:
                        cancelled = self._write_here(chunks)
                if cancelled:
                    job.finish(ImportJob.Status.REVOKED, "Import cancelled", save=self.persist)
                    logger.info("import %s cancelled after %s rows", job.pk, job.processed_rows,
                                extra={"job_id": job.pk})  # fmt: skip
                    self.on_progress(job)
                    return job
        except FileNotFoundError:
            return self._fail("the uploaded file is no longer stored")
        except parsing.FileError as exc:
            return self._fail(str(exc))
        except Exception:
            logger.exception("import %s failed", job.pk)
            with contextlib.suppress(Exception):  # the database itself may be what failed
                self._fail("an internal error stopped it; the rows committed so far stay")
            raise
        job.finish(ImportJob.Status.SUCCESS, "Import complete", save=self.persist)
        logger.info(
            "import %s complete: %s created, %s updated, %s rejected", job.pk, job.created_count,
            job.updated_count, job.error_count, extra={"job_id": job.pk, "rows": job.processed_rows,
                                                       "seconds": job.duration_seconds},
        )  # fmt: skip
        if self.persist:
            data = {"task_id": job.task_id, "created": job.created_count, "updated": job.updated_count,
                    "errors": job.error_count}  # fmt: skip
            event_emit(event=events.IMPORT_COMPLETED, data=data)
        self.on_progress(job)
        return job

    def _writers(self) -> int:
        """How many connections write at once. One inside a caller's transaction (its data is
        visible only there), for dry runs, and on SQLite, which serialises writers anyway."""
        if not self.persist or connection.in_atomic_block or connection.vendor != "postgresql":
            return 1
        return settings.IMPORT_WRITERS

    def _write_here(self, chunks: Iterator[_Chunk]) -> bool:
        """Write every chunk on this thread's connection; True when stopped by a cancel."""
        for chunk in chunks:
            with self.chunk_transaction():
                result = self.upsert(batch=chunk.batch)
                self.record(chunk, result)
            self.after(chunk)
            if self.cancel_requested():
                return True
        return False

    @contextlib.contextmanager
    def chunk_transaction(self) -> Iterator[None]:
        """One chunk's transaction. On PostgreSQL its commit does not wait for the WAL flush: a
        database crash can lose only the last chunks together with the checkpoint that covers
        them (they are one transaction), and the resumed import writes them again."""
        if not self.persist:
            yield
            return
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            yield

    def record(self, chunk: _Chunk, result: UpsertResult) -> None:
        """Add a chunk to the job, inside the chunk's transaction: the checkpoint moves with the rows."""
        job = self.job
        job.processed_rows += chunk.records
        job.checkpoint = job.processed_rows
        job.created_count += result.created
        job.updated_count += result.updated
        job.error_count += len(chunk.errors)
        if self.persist:
            ImportRowError.objects.bulk_create(
                ImportRowError(job=job, line=e.line, sku=e.sku[:100], column=e.column, reason=e.reason[:500])
                for e in chunk.errors
            )
            self._save("processed_rows", "checkpoint", "created_count", "updated_count", "error_count")

    def after(self, chunk: _Chunk) -> None:
        """Once a chunk is committed: tell the caller."""
        if chunk.errors:
            self.on_errors(chunk.errors)
        self.on_progress(self.job)

    def _stamp(self) -> datetime:
        """A creation time unique to this chunk (see product_batch_upsert)."""
        stamp = timezone.now()
        if self.last_stamp is not None and stamp <= self.last_stamp:
            stamp = self.last_stamp + timedelta(microseconds=1)
        self.last_stamp = stamp
        return stamp

    def cancel_requested(self) -> bool:
        return self.should_stop() or (self.persist and background_job_cancel_requested(self.job))

    def _fail(self, reason: str) -> ImportJob:
        job = self.job
        job.error_message = reason
        job.finish(ImportJob.Status.FAILURE, f"Import failed: {reason}", save=False)
        logger.warning("import %s failed: %s", job.pk, reason, extra={"job_id": job.pk})
        self._save("error_message", "status", "phase", "finished_at")
        if self.persist:
            event_emit(event=events.IMPORT_FAILED, data={"task_id": job.task_id, "error": reason})
        self.on_progress(job)
        return job

    def _save(self, *fields: str) -> None:
        if self.persist:
            self.job.save(update_fields=[*fields, "updated_at"])


@dataclass(slots=True)
class _Chunk:
    records: int
    errors: list[parsing.RowError]
    batch: ProductBatch


@contextlib.contextmanager
def _prepared(rows: Iterator, size: int, columns: tuple[str, ...], stamp: Callable[[], datetime]):
    """Chunks of `size` records, parsed, validated and built into products on a second thread.

    Reading the CSV and building model instances is pure Python, and writing a chunk is mostly
    waiting for PostgreSQL, so the next chunk is prepared while the current one is written.
    At most two prepared chunks wait, so memory stays flat whatever the file size.
    """
    ready: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            while not stop.is_set() and (items := list(islice(rows, size))):
                valid = [item for item in items if type(item) is parsing.Row]
                errors = [item for item in items if type(item) is not parsing.Row]
                batch = product_batch_build(rows=valid, columns=columns, stamp=stamp())
                _put(_Chunk(len(items), errors, batch))
            _put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            _put(exc)

    def _put(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def consume() -> Iterator[_Chunk]:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item

    worker = threading.Thread(target=produce, name="import-reader", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()
        if hasattr(rows, "close"):
            rows.close()  # release the file before the caller closes it


class _Aborted(Exception):
    """Another writer failed: roll this chunk back."""


class _OrderedWriters:
    """Writes chunks on several database connections at once, committing them in file order.

    Each writer upserts its chunk in its own transaction, then waits for the chunk before it to
    commit before adding to the job and committing, so commits (and the checkpoint they carry)
    follow the file exactly as with one writer. Products whose SKU key an earlier chunk still in
    flight also writes are held back until that chunk commits, so a later row always wins and
    created/updated counts are those of a sequential run. One chunk's Python work overlaps
    PostgreSQL's work on the other: that is the point.
    """

    def __init__(self, run: _Run, chunks: Iterator[_Chunk], count: int) -> None:
        self.importer = run
        self.chunks = chunks
        self.state = threading.Condition()
        self.handed_out = 0
        self.committed = -1
        self.in_flight: dict[int, frozenset[str]] = {}
        self.failed: BaseException | None = None
        self.stopping = False
        self.done: queue.Queue[_Chunk] = queue.Queue()
        self.threads = [
            threading.Thread(target=self._work, name=f"import-writer-{n}", daemon=True) for n in range(count)
        ]

    def run(self) -> bool:
        """Write every chunk; True when stopped by a cancel (chunks already begun still commit)."""
        for thread in self.threads:
            thread.start()
        cancelled = False
        try:
            while any(thread.is_alive() for thread in self.threads) or not self.done.empty():
                try:
                    chunk = self.done.get(timeout=0.1)
                except queue.Empty:
                    continue
                self.importer.after(chunk)
                if not cancelled and self.importer.cancel_requested():
                    cancelled = True
                    self._stop()
        finally:
            self._stop()
            for thread in self.threads:
                thread.join()
        if self.failed is not None and not isinstance(self.failed, _Aborted):
            raise self.failed
        return cancelled

    def _stop(self) -> None:
        with self.state:
            self.stopping = True
            self.state.notify_all()

    def _take(self) -> tuple[int, _Chunk, ProductBatch, ProductBatch] | None:
        """The next chunk, split into the products no earlier chunk in flight touches (written at
        once) and those it does (written after that chunk commits)."""
        with self.state:
            if self.stopping or self.failed:
                return None
            chunk = next(self.chunks, None)
            if chunk is None:
                return None
            seq = self.handed_out
            self.handed_out += 1
            busy = frozenset().union(*self.in_flight.values())
            self.in_flight[seq] = frozenset(chunk.batch.keys)
        now, later = chunk.batch.partition(busy)
        return seq, chunk, now, later

    def _work(self) -> None:
        try:
            while (taken := self._take()) is not None:
                self._write(*taken)
        except BaseException as exc:
            with self.state:
                self.failed = self.failed or exc
                self.state.notify_all()
        finally:
            connections.close_all()  # this thread's own connections

    def _write(self, seq: int, chunk: _Chunk, now: ProductBatch, later: ProductBatch) -> None:
        with self.importer.chunk_transaction():
            result = self.importer.upsert(batch=now)
            with self.state:
                while self.committed != seq - 1 and not self.failed:
                    self.state.wait()
                if self.failed:
                    raise _Aborted
            if later.products:  # the earlier chunk's rows are committed now: these apply after them
                deferred = self.importer.upsert(batch=later)
                result = UpsertResult(result.created + deferred.created, result.updated + deferred.updated)
            self.importer.record(chunk, result)
        with self.state:
            self.committed = seq
            del self.in_flight[seq]
            self.state.notify_all()
        self.done.put(chunk)


@contextlib.contextmanager
def _exclusive(job_id: int) -> Iterator[bool]:
    """Hold a PostgreSQL session lock on the job while it runs, so a task delivered twice (a broker
    redelivery while the first run is alive) never runs the same import twice at once. The lock
    dies with the connection, so a killed worker never leaves it behind."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, job_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, job_id])


_LOCK_NAMESPACE = 7301  # advisory lock class for import jobs


# --- Reading results ------------------------------------------------------------------------


def import_job_status(job: ImportJob, *, error_limit: int = 20) -> dict:
    """What the status endpoint, the admin's progress page and the task state all report."""
    from django.urls import reverse

    return {
        "job_id": job.pk,
        "task_id": job.task_id,
        "status": job.status,
        "phase": job.phase,
        "filename": job.original_name,
        "current": job.processed_rows,
        "total": job.total_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "errors": job.error_count,
        "percent": job.percent,
        "rows_per_second": job.rows_per_second,
        "warnings": job.warnings,
        "error_message": job.error_message,
        "row_errors": [
            {"line": e.line, "sku": e.sku, "column": e.column, "reason": e.reason}
            for e in job.row_errors.all()[:error_limit]
        ]
        if job.pk and job.error_count
        else [],
        "error_report_url": reverse("v1:import-errors", args=[job.pk]) if job.pk and job.error_count else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


# --- Housekeeping -------------------------------------------------------------------------------


def import_jobs_prune(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Delete finished imports older than IMPORT_RETENTION_DAYS with their stored files and row
    errors, in batches; running and queued imports are never touched. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.IMPORT_RETENTION_DAYS)
    old = ImportJob.objects.filter(status__in=ImportJob.FINISHED, created_at__lt=cutoff).order_by("pk")
    removed = 0
    while batch := list(old[:batch_size]):
        for job in batch:
            if job.file:
                job.file.delete(save=False)  # a file already gone is fine
        with transaction.atomic():
            removed += (
                ImportJob.objects.filter(pk__in=[job.pk for job in batch]).delete()[1].get(ImportJob._meta.label, 0)
            )
    return removed
