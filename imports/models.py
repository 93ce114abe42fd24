from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from fulfil.fields import fit
from fulfil.jobs import BackgroundJob
from imports.parsing import RowError


def upload_path(job: ImportJob, filename: str) -> str:
    return f"imports/{timezone.now():%Y/%m/%d}/{uuid.uuid4().hex}.csv"


class ImportJob(BackgroundJob):
    """One CSV import: its file, who started it, where it is, and what it did.

    Each chunk of products is written in one transaction with its row errors, its ImportChunk
    record and the job's counters, so after a crash the job says exactly what was committed
    and the import resumes with the chunks that were not.
    """

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        COMMAND = "command", "import_csv command"

    file = models.FileField(upload_to=upload_path, max_length=255, blank=True)
    source_path = models.CharField(
        max_length=1024, blank=True, help_text="The file on the server, for imports run by import_csv."
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    dry_run = models.BooleanField(
        default=False, help_text="A preview: counts what the import would do, writes no product."
    )
    changes = models.JSONField(
        default=dict, blank=True, help_text="A preview's sample: {created: [sku], updated: [{sku, changes}]}."
    )
    confirms = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="confirmations",
        help_text="The preview this import confirms.",
    )
    start_over = models.BooleanField(default=False, help_text="The next run forgets earlier runs' progress.")
    file_digest = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the file as imported; a retry of another file starts over."
    )
    chunk_size = models.PositiveIntegerField(default=0, help_text="0: the setting's default.")
    encoding = models.CharField(max_length=16, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    columns = models.JSONField(default=list, blank=True, help_text="The known columns the file has.")
    header = models.JSONField(default=list, blank=True, help_text="The file's header, as the file has it.")
    warnings = models.JSONField(default=list, blank=True)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0, help_text="Rows that changed a product (written).")
    unchanged_count = models.PositiveIntegerField(
        default=0, help_text="Rows equal to the stored product (not written)."
    )
    error_count = models.PositiveIntegerField(default=0)

    STATUS_SERIALIZER = "imports.serializers.ImportJobStatusSerializer"
    FAILED_PHASE = "Import failed"
    FAILED_EVENT = "import.failed"

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "import"
        # Imports finished lately, for the metrics (fulfil.metrics).
        indexes = [models.Index(fields=["finished_at"], name="import_job_finished_at_idx")]

    def __str__(self) -> str:
        kind = "Preview" if self.dry_run else "Import"
        return f"{kind} #{self.pk} {self.original_name} ({self.get_status_display()})"

    @property
    def failed_event(self) -> str | None:
        return None if self.dry_run else self.FAILED_EVENT

    @property
    def outcome(self) -> tuple[str, str]:
        """As every job's, and: a completed import that rejected rows says how many (amber); a
        completed preview says it is one."""
        label, tone = super().outcome
        if self.status != self.Status.SUCCESS:
            return label, tone
        label, tone = ("Preview", "preview") if self.dry_run else (label, tone)
        if self.error_count:
            errors = f"{self.error_count:,} error{'' if self.error_count == 1 else 's'}"
            return f"{label} with {errors}", "warning"
        return label, tone

    def progress(self) -> tuple[int, int | None]:
        return self.processed_rows, self.total_rows

    @property
    def rows_per_second(self) -> float | None:
        seconds = self.duration_seconds
        if not seconds or not self.processed_rows:
            return None
        return round(self.processed_rows / seconds, 1)


class ImportChunk(models.Model):
    """A committed chunk of an import: records [seq * chunk size, (seq + 1) * chunk size) of its
    file, and what they did. A resumed import skips the chunks recorded here."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    records = models.PositiveIntegerField()
    created = models.PositiveIntegerField()
    updated = models.PositiveIntegerField()
    unchanged = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="import_chunk_job_seq_unique")]

    def __str__(self) -> str:
        return f"chunk {self.seq} of import #{self.job_id}"


# A rejected record's values are kept for rejected.csv up to this size; a longer one is listed
# without them (its line and row say where it is).
KEPT_FIELDS_CHARS = 64 << 10


class ImportRowError(models.Model):
    """A rejected row: its line in the file, its SKU when known, the column and the reason."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(help_text="The physical line of the file the record starts on.")
    row = models.PositiveIntegerField(default=0, help_text="The record's number among the data rows, from 1.")
    fields = models.JSONField(
        null=True, blank=True, help_text="The record's values as the file has them (for rejected.csv)."
    )
    sku = models.CharField(max_length=100, blank=True)
    column = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ("job", "line", "id")
        indexes = [models.Index(fields=["job", "line"], name="import_row_error_job_line_idx")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"

    @classmethod
    def of(cls, job: ImportJob, error: RowError) -> ImportRowError:
        """The record of a parser's row error, its texts cut to the columns' lengths."""
        fields = error.fields if error.fields is not None and sum(map(len, error.fields)) <= KEPT_FIELDS_CHARS else None
        return cls(
            job=job,
            line=error.line,
            row=error.row,
            fields=fields,
            sku=fit(cls, "sku", error.sku),
            column=fit(cls, "column", error.column),
            reason=fit(cls, "reason", error.reason),
        )
