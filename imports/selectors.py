"""Reading an import's results: the error report."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from django.conf import settings

from fulfil.csvfiles import csv_pieces, safe_row
from imports.models import ImportJob, ImportRowError

REPORT_HEADER = ("line", "row", "sku", "column", "reason")
# Columns rejected.csv adds to the file's own; the importer ignores them when the file comes back.
REJECTED_EXTRA = ("error", "line", "row")


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
        .values_list("line", "row", "sku", "column", "reason")
        .iterator(chunk_size=2000)
    )
    stored = import_errors_stored(job=job)
    note = []
    if stored < job.error_count:
        note = [("", "", "", "", _capped(job))]
    return csv_pieces(chain([REPORT_HEADER], errors, note))


def _capped(job: ImportJob) -> str:
    stored = import_errors_stored(job=job)
    return f"Only the first {stored:,} of {job.error_count:,} rejected rows are stored and shown."


def import_rejected_rows(*, job: ImportJob) -> Iterator[str]:
    """The rejected rows as the file had them, to fix and upload again: the file's own header and
    each rejected record's values exactly as read (not made spreadsheet-safe: they must come back
    as they were), in the file's delimiter, plus `error`, `line` and `row`. A record that could
    not be read, or was too long to keep, has empty values; its line and row say where it is."""
    header = list(job.header) or ["sku", "name"]
    blank = [""] * len(header)
    rows = (
        [*(fields if fields is not None else blank), reason, line, row]
        for fields, reason, line, row in ImportRowError.objects.filter(job=job)
        .order_by("line", "id")
        .values_list("fields", "reason", "line", "row")
        .iterator(chunk_size=2000)
    )
    note = []
    if import_errors_stored(job=job) < job.error_count:
        note = [[*blank, _capped(job), "", ""]]
    return csv_pieces(chain([[*header, *REJECTED_EXTRA]], rows, note), delimiter=job.delimiter or ",")
