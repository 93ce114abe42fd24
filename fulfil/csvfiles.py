"""Writing CSV for people: streamed a batch of rows at a time, and safe to open in a spreadsheet
when asked. The error reports and the catalogue export share it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

# What a spreadsheet takes for the start of a formula (OWASP's list for CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Rows written per piece of a streamed file: big enough that the per-piece cost vanishes.
_ROWS_PER_PIECE = 1000


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading apostrophe,
    which spreadsheets show as text (OWASP's advice for CSV injection). Numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_row(row: Sequence[object]) -> list[object]:
    """A row with every cell made spreadsheet_safe."""
    return [spreadsheet_safe(value) for value in row]


def csv_pieces(rows: Iterable[Sequence[object]], *, delimiter: str = ",") -> Iterator[str]:
    """Rows as CSV text (comma unless told, minimal quoting, CRLF), a piece of many rows at a time,
    for a streamed response or a file: memory stays flat whatever the number of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending == _ROWS_PER_PIECE:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()
