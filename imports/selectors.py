"""Reading an import's results: the error report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain

from django.conf import settings

from imports.models import ImportJob, ImportRowError

REPORT_HEADER = ("line", "sku", "column", "reason")

# What a spreadsheet takes for the start of a formula (OWASP's list for CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading apostrophe,
    which spreadsheets show as text (OWASP's advice for CSV injection). Numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def report_row(row: Sequence[object]) -> list[object]:
    """A row of an error report (errors.csv, import_csv --errors-out), formula-safe."""
    return [spreadsheet_safe(value) for value in row]


def csv_lines(rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """Rows as CSV text, one line at a time (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def import_errors_stored(*, job: ImportJob) -> int:
    """How many of the job's rejected rows are stored: the first IMPORT_MAX_STORED_ERRORS."""
    return min(job.error_count, settings.IMPORT_MAX_STORED_ERRORS)


def import_error_report(*, job: ImportJob) -> Iterator[str]:
    """Every stored rejected row of an import as CSV, streamed from the database in file order,
    formula-safe; when only the first of them were stored, a last row says so."""
    errors = (
        report_row(row)
        for row in ImportRowError.objects.filter(job=job)
        .order_by("line", "id")
        .values_list("line", "sku", "column", "reason")
        .iterator(chunk_size=2000)
    )
    stored = import_errors_stored(job=job)
    note = []
    if stored < job.error_count:
        note = [("", "", "", f"Only the first {stored:,} of {job.error_count:,} rejected rows are stored and shown.")]
    return csv_lines(chain([REPORT_HEADER], errors, note))
