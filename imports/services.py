"""CSV imports: accepting a file, queueing, cancelling and retrying an import, and housekeeping.

The upload API, the admin, `manage.py import_csv` and the benchmarks all come through here;
running an import is imports.run's, reading its results imports.selectors'.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from fulfil.database import delete_in_batches
from fulfil.errors import Conflict, ServiceError
from fulfil.fields import fit
from fulfil.jobs import background_job_cancel, background_job_enqueue, job_owner
from imports import parsing
from imports.models import ImportJob
from imports.storage import import_file_delete, import_file_exists


class FileTooLarge(ServiceError):
    status_code = 413
    code = "file_too_large"


# --- Accepting a file -------------------------------------------------------------------------


def import_file_check(file: BinaryIO | UploadedFile) -> parsing.Layout:
    """The checks made before a file is accepted: not empty, not binary, sku and name columns."""
    file.seek(0)
    sample = file.read(64 << 10)
    file.seek(0)
    try:
        return parsing.check_upload(sample)
    except parsing.FileError as exc:
        raise ServiceError(str(exc), code="invalid_file") from None


def import_job_create(
    *,
    upload: UploadedFile,
    user: AbstractBaseUser | AnonymousUser | None = None,
    chunk_size: int | None = None,
    dry_run: bool = False,
) -> ImportJob:
    """Store an uploaded CSV, record its job and queue the import once the transaction commits.
    A dry run (a preview) counts what the import would do and writes no product; see
    import_job_confirm for importing the same file afterwards."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise FileTooLarge(f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes.")
    layout = import_file_check(upload)
    job = ImportJob(
        source=ImportJob.Source.UPLOAD,
        original_name=fit(ImportJob, "original_name", Path(upload.name or "upload.csv").name),
        size_bytes=upload.size or 0,
        uploaded_by=job_owner(user),
        task_id=str(uuid.uuid4()),
        chunk_size=chunk_size or 0,
        columns=list(layout.present),
        warnings=layout.warnings,
        dry_run=dry_run,
    )
    # Streamed: from the upload's temporary file in pieces, or to S3 in parts (boto3's managed upload).
    job.file.save(job.original_name, upload, save=False)
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
        original_name=fit(ImportJob, "original_name", path.name),
        size_bytes=path.stat().st_size,
        task_id=str(uuid.uuid4()),
        chunk_size=chunk_size or 0,
        dry_run=dry_run,
    )
    if not dry_run:
        job.save()
    return job


def import_job_confirm(*, preview: ImportJob, user: AbstractBaseUser | AnonymousUser | None = None) -> ImportJob:
    """Import the file of a finished preview (a dry run), without uploading it again: a new job,
    queued, that records the preview it confirms. A preview is confirmed once. The import applies
    the file as it is then (an upsert), whatever changed in the catalogue since the preview."""
    with transaction.atomic():
        preview = ImportJob.objects.select_for_update().get(pk=preview.pk)
        if not preview.dry_run or preview.status != ImportJob.Status.SUCCESS:
            raise Conflict(f"Only a finished preview can be confirmed; #{preview.pk} is not one.")
        if preview.confirmations.exists():
            raise Conflict(f"Preview #{preview.pk} has been confirmed already.")
        if not import_file_exists(preview):
            raise Conflict(f"The file of preview #{preview.pk} is no longer stored; upload it again.")
        job = ImportJob.objects.create(
            source=preview.source,
            file=preview.file.name,
            source_path=preview.source_path,
            original_name=preview.original_name,
            size_bytes=preview.size_bytes,
            uploaded_by=job_owner(user),
            task_id=str(uuid.uuid4()),
            chunk_size=preview.chunk_size,
            columns=preview.columns,
            warnings=preview.warnings,
            confirms=preview,
        )
        import_job_enqueue(job=job)
    return job


def import_job_enqueue(*, job: ImportJob) -> None:
    """Queue the job's import task once the transaction commits."""
    from imports.tasks import process_csv_upload

    background_job_enqueue(job=job, task=process_csv_upload)


def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """Stop an import after its current chunk; what was committed stays. A queued one never starts."""
    return background_job_cancel(job=job)


def import_job_retry(*, job: ImportJob, start_over: bool = False) -> ImportJob:
    """Run a failed or cancelled import again from its stored file: from where it stopped (the
    chunks it committed stay), or from its first row with `start_over` (upserts make both safe).
    A file that changed since is imported from its first row either way (see imports.run)."""
    if job.status not in (ImportJob.Status.FAILURE, ImportJob.Status.REVOKED):
        raise Conflict(f"Only a failed or cancelled import can be retried; #{job.pk} is {job.get_status_display()}.")
    if not import_file_exists(job):
        raise Conflict(f"The file of import #{job.pk} is no longer stored; upload it again.")
    job.task_id = str(uuid.uuid4())
    job.status, job.phase, job.error_message = ImportJob.Status.PENDING, "Queued", ""
    job.cancel_requested, job.start_over, job.crashes = False, start_over, 0
    job.heartbeat_at = job.finished_at = None
    job.save()
    import_job_enqueue(job=job)
    return job


def import_job_forget_progress(*, job: ImportJob) -> None:
    """Forget what earlier runs did (their chunks, row errors and counts), so the import runs from
    its first row. Errors go in batches: an import may have stored many."""
    delete_in_batches(job.row_errors.all())
    with transaction.atomic():
        job.chunks.all().delete()
        job.total_rows, job.processed_rows, job.start_over = None, 0, False
        job.created_count = job.updated_count = job.unchanged_count = job.error_count = 0
        counts = ["created_count", "updated_count", "unchanged_count", "error_count"]
        job.save(update_fields=["total_rows", "processed_rows", "start_over", *counts, "updated_at"])


# --- Housekeeping -------------------------------------------------------------------------------


def import_jobs_prune(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Delete finished imports older than IMPORT_RETENTION_DAYS with their stored files and row
    errors, in batches; running and queued imports are never touched. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.IMPORT_RETENTION_DAYS)
    old = ImportJob.objects.filter(status__in=ImportJob.FINISHED, created_at__lt=cutoff).order_by("pk")
    removed = 0
    while batch := list(old[:batch_size]):
        ids = [job.pk for job in batch]
        for job in batch:
            # A preview and the import that confirms it share one file: the last to go takes it.
            if job.file and not ImportJob.objects.filter(file=job.file.name).exclude(pk__in=ids).exists():
                import_file_delete(job)
        with transaction.atomic():
            removed += ImportJob.objects.filter(pk__in=ids).delete()[1].get(ImportJob._meta.label, 0)
    return removed
