"""Running one import: read the stored file in chunks and upsert each in its own transaction.

The lifecycle (start, progress, cancel, finish, fail) is fulfil.jobs.JobRunner's; this module
says only what is particular to an import.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from fulfil.database import parallel_writers_supported, relax_commit, set_lock_timeout, with_retries
from fulfil.jobs import JobCancelled, JobFailed, JobLost, JobRunner
from imports import parsing
from imports.models import ImportChunk, ImportJob, ImportRowError
from imports.pipeline import Chunk, Overlap, prepared_chunks, written_chunks
from imports.services import import_job_forget_progress
from imports.storage import import_file_open
from products.batches import BatchPreview, UpsertResult, product_batch_upsert
from webhooks import events
from webhooks.events import event_emit

logger = logging.getLogger(__name__)

ErrorsCallback = Callable[[Sequence[parsing.RowError]], None]

# The longest a chunk waits for a row another transaction holds before its try is given up (and
# tried again): a lock cycle with other writers of the same products cannot last.
LOCK_TIMEOUT = 30.0
COUNTERS = ("processed_rows", "created_count", "updated_count", "unchanged_count", "error_count")


class ImportRun(JobRunner[ImportJob]):
    """One run of an import, or its resumption after a crash.

    Each chunk of rows is upserted, its row errors stored, its ImportChunk recorded and the job's
    counters added to in one transaction, on IMPORT_WRITERS connections at once (see
    imports.pipeline.written_chunks). A resumed run skips the chunks recorded. A dry run
    (`job.dry_run`) writes nothing at all, not even the job, and counts what would be created
    and updated.
    """

    noun = "import"
    model = ImportJob
    start_phase = "Parsing CSV"
    internal_error = "an internal error stopped it; the rows committed so far stay"
    crashed = "the worker stopped {attempts} times while importing this file"
    lock_namespace = 7301

    def __init__(
        self,
        job: ImportJob,
        *,
        on_progress: Callable[[ImportJob], None] | None = None,
        on_errors: ErrorsCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        deadline: float | None = None,
    ) -> None:
        # A dry run through the API is recorded (its status is polled); import_csv's is not.
        persist = job.pk is not None
        super().__init__(job, on_progress=on_progress, should_stop=should_stop, persist=persist, deadline=deadline)
        self.on_errors = on_errors or (lambda errors: None)
        skip_unchanged = settings.IMPORT_SKIP_UNCHANGED
        self.preview = BatchPreview(skip_unchanged=skip_unchanged) if job.dry_run else None
        self.upsert: Callable[..., UpsertResult] = self.preview or partial(
            product_batch_upsert, skip_unchanged=skip_unchanged
        )
        self.last_stamp: datetime | None = None
        self.notes: list[str] = []  # warnings of this run, shown with the file's own
        self.errors_stored = 0
        self.errors_lock = threading.Lock()

    def work(self) -> str:
        job = self.job
        try:
            with import_file_open(job) as file:
                layout = parsing.inspect(file)
                layout.max_record = settings.IMPORT_MAX_ROW_BYTES
                done = self._committed_chunks(layout)
                job.encoding, job.delimiter = layout.encoding, layout.delimiter
                job.columns, job.warnings = list(layout.present), [*layout.warnings, *self.notes]
                job.header = layout.header
                job.total_rows = parsing.count_records(file, layout)
                if not done and self.persist and not job.dry_run:
                    data = {"task_id": job.task_id, "filename": job.original_name, "total_rows": job.total_rows}
                    event_emit(event=events.IMPORT_STARTED, data=data)
                job.chunk_size = job.chunk_size or settings.IMPORT_CHUNK_SIZE  # chunks stay the same on resume
                self.set_phase(
                    "Importing",
                    "encoding",
                    "delimiter",
                    "columns",
                    "header",
                    "warnings",
                    "total_rows",
                    "chunk_size",
                    "file_digest",
                )
                # Committed chunks at the start are skipped unread; any others are read past.
                first = next(seq for seq in itertools.count() if seq not in done)
                rows = parsing.records(file, layout, skip=sum(done[seq] for seq in range(first)))
                chunking = prepared_chunks(rows, job.chunk_size, layout.present, self._stamp, first=first, skip=done)
                with chunking as chunks:
                    try:
                        for chunk in written_chunks(chunks, self._write, self._writers(), alone=self._alone):
                            self.after(chunk)
                    except JobCancelled:
                        self._recount()  # chunks other writers had begun have committed too
                        raise
        except FileNotFoundError:
            raise JobFailed("the uploaded file is no longer stored") from None
        except parsing.FileError as exc:
            raise JobFailed(str(exc)) from None
        if self.preview is not None:
            job.changes = {"created": self.preview.would_create, "updated": self.preview.would_update}
            self.save("changes")
            return "Preview complete"
        return "Import complete"

    def _committed_chunks(self, layout: parsing.Layout) -> dict[int, int]:
        """The chunks an earlier run committed, which this run skips, and their records; none when
        starting over (asked for, or the file is not the one those chunks came from)."""
        job = self.job
        if not self.persist:
            return {}
        changed = bool(job.file_digest) and job.file_digest != layout.digest
        # A dry run keeps its view of the catalogue in memory: resumed, it starts over.
        if job.start_over or changed or (job.dry_run and job.processed_rows):
            if changed:
                self.notes.append("The file changed since the earlier run, so it was imported from its first row.")
            import_job_forget_progress(job=job)
        job.file_digest = layout.digest
        self.errors_stored = job.row_errors.count()
        return dict(job.chunks.values_list("seq", "records"))

    def completed(self) -> None:
        job = self.job
        logger.info(
            "import %s complete: %s created, %s updated, %s rejected",
            job.pk,
            job.created_count,
            job.updated_count,
            job.error_count,
            extra={
                "job_id": job.pk,
                "rows": job.processed_rows,
                "unchanged": job.unchanged_count,
                "seconds": job.duration_seconds,
                "dry_run": job.dry_run,
            },
        )
        if self.persist and not job.dry_run:
            data = {"task_id": job.task_id, "job_id": job.pk, "filename": job.original_name}
            counts = {"created": job.created_count, "updated": job.updated_count, "unchanged": job.unchanged_count}
            event_emit(event=events.IMPORT_COMPLETED, data={**data, **counts, "errors": job.error_count})

    def _writers(self) -> int:
        """Connections writing at once: one for a dry run and where the database cannot use more."""
        return settings.IMPORT_WRITERS if self.persist and parallel_writers_supported() else 1

    def _alone(self) -> bool:
        """Whether no other import is writing now (dry runs write nothing)."""
        others = ImportJob.objects.filter(status__in=ImportJob.RUNNING, dry_run=False).exclude(pk=self.job.pk)
        return not others.exists()

    def _write(self, chunk: Chunk, overlap: Overlap | None) -> None:
        """Write one chunk (on a writer thread) in one transaction: its products, its row errors,
        its record and the job's counters, so that what the job says is exactly what committed.
        With an `overlap`, the products that earlier chunks in flight also write are written last,
        once those chunks have committed (see imports.pipeline.written_chunks).

        A transaction that fails for a passing reason (a lost connection, a deadlock, a lock wait
        past LOCK_TIMEOUT) is tried again. Its commit need not wait for the WAL flush: a database
        crash can lose only the last chunks together with their records, written again on resume.
        """
        job = self.job
        if not self.persist or self.preview is not None:
            if overlap is not None:  # a dry run remembers what it would write: in file order
                overlap.wait()
            if not self.persist:
                chunk.result = self.upsert(batch=chunk.batch)
                return
        if chunk.kept is None:  # once, though the chunk may be tried again
            chunk.kept = chunk.errors[: self._error_room(len(chunk.errors))]
        kept = chunk.kept
        if self.preview is not None:
            with_retries(lambda: self._record(chunk, self.upsert(batch=chunk.batch), kept), what="dry run")
            return

        def attempt() -> UpsertResult:
            with transaction.atomic():
                relax_commit()
                set_lock_timeout(LOCK_TIMEOUT)
                if overlap is None:
                    return self._record(chunk, self.upsert(batch=chunk.batch), kept)
                apart, shared = chunk.batch.split(overlap.keys)
                result = self.upsert(batch=apart)
                overlap.wait()  # the earlier chunks have committed: the shared products apply after theirs
                return self._record(chunk, result + self.upsert(batch=shared), kept)

        try:
            chunk.result = with_retries(attempt, what=f"import {job.pk}, chunk {chunk.seq}")
        except IntegrityError:
            # Recorded already: an earlier try committed, though its answer was lost with the connection.
            recorded = ImportChunk.objects.filter(job=job, seq=chunk.seq).first()
            if recorded is None:
                raise
            chunk.result = UpsertResult(recorded.created, recorded.updated, recorded.unchanged)

    def _record(self, chunk: Chunk, result: UpsertResult, kept: list[parsing.RowError]) -> UpsertResult:
        """Store a chunk's row errors and record, and add it to the job's counters (in the chunk's
        transaction, if any): last, so the job's row is locked only for the moment before the
        commit, and only while the job is still running (housekeeping may have given up on it)."""
        job = self.job
        chunk.result = result
        ImportRowError.objects.bulk_create(ImportRowError.of(job, error) for error in kept)
        errors = len(chunk.errors)
        ImportChunk.objects.create(
            job=job,
            seq=chunk.seq,
            records=chunk.records,
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
            errors=errors,
        )
        now = timezone.now()
        if not ImportJob.objects.filter(pk=job.pk, status__in=ImportJob.RUNNING).update(
            processed_rows=F("processed_rows") + chunk.records,
            created_count=F("created_count") + result.created,
            updated_count=F("updated_count") + result.updated,
            unchanged_count=F("unchanged_count") + result.unchanged,
            error_count=F("error_count") + errors,
            heartbeat_at=now,
            updated_at=now,
        ):
            raise JobLost
        return result

    def _error_room(self, count: int) -> int:
        """How many of a chunk's `count` row errors to store: up to IMPORT_MAX_STORED_ERRORS in all
        (the rest are only counted), shared by the writer threads."""
        with self.errors_lock:
            room = max(0, min(count, settings.IMPORT_MAX_STORED_ERRORS - self.errors_stored))
            self.errors_stored += room
            return room

    def _recount(self) -> None:
        if self.persist:
            self.job.refresh_from_db(fields=[*COUNTERS])

    def after(self, chunk: Chunk) -> None:
        """Once a chunk has committed (on this thread): count it, hand its errors to the caller,
        report, and stop if asked to."""
        job, result = self.job, chunk.result
        assert result is not None
        job.processed_rows += chunk.records
        job.created_count += result.created
        job.updated_count += result.updated
        job.unchanged_count += result.unchanged
        job.error_count += len(chunk.errors)
        if chunk.errors:
            self.on_errors(chunk.errors)
        self.checkpoint(self._cancelled_phase)

    def _cancelled_phase(self) -> str:
        if self.should_stop():  # import_csv's Ctrl-C
            return f"Import interrupted after {self.job.processed_rows:,} rows"
        return "Import cancelled"

    def _stamp(self) -> datetime:
        """A creation time unique to this chunk (see product_batch_upsert)."""
        stamp = timezone.now()
        if self.last_stamp is not None and stamp <= self.last_stamp:
            stamp = self.last_stamp + timedelta(microseconds=1)
        self.last_stamp = stamp
        return stamp


def import_job_run(
    *,
    job: ImportJob,
    on_progress: Callable[[ImportJob], None] | None = None,
    on_errors: ErrorsCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportJob:
    """Run an import in this process, or resume it after a crash; a finished one is left as
    it is. `should_stop` is asked after every chunk, as a cancel is (import_csv's Ctrl-C)."""
    return ImportRun(job, on_progress=on_progress, on_errors=on_errors, should_stop=should_stop).run()
