"""Reading an import's results: the error report."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from django.conf import settings

from fulfil.csvfiles import csv_pieces, safe_row
from imports.models import ImportJob, ImportRowError

REPORT_HEADER = ("line", "sku", "column", "reason")


def import_errors_stored(*, job: ImportJob) -> int:
    """How many of the job's rejected rows are stored: the first IMPORT_MAX_STORED_ERRORS."""
    return min(job.error_count, settings.IMPORT_MAX_STORED_ERRORS)


def import_error_report(*, job: ImportJob) -> Iterator[str]:
    """Every stored rejected row of an import as CSV, streamed from the database in file order,
    formula-safe; when only the first of them were stored, a last row says so."""
    errors = (
        safe_row(row)
        for row in ImportRowError.objects.filter(job=job)
        .order_by("line", "id")
        .values_list("line", "sku", "column", "reason")
        .iterator(chunk_size=2000)
    )
    stored = import_errors_stored(job=job)
    note = []
    if stored < job.error_count:
        note = [("", "", "", f"Only the first {stored:,} of {job.error_count:,} rejected rows are stored and shown.")]
    return csv_pieces(chain([REPORT_HEADER], errors, note))
