from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import chain

from imports.models import ImportJob, ImportRowError

REPORT_HEADER = ("line", "sku", "column", "reason")


def csv_lines(rows: Iterable[tuple]) -> Iterator[str]:
    """Rows as CSV text, one line at a time (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def import_error_report(*, job: ImportJob) -> Iterator[str]:
    """Every rejected row of an import as CSV, streamed from the database in file order."""
    errors = (
        ImportRowError.objects.filter(job=job)
        .order_by("line", "id")
        .values_list("line", "sku", "column", "reason")
        .iterator(chunk_size=2000)
    )
    return csv_lines(chain([REPORT_HEADER], errors))
