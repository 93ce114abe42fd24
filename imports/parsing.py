"""Reading product CSVs: bytes in, validated rows and row errors out. Pure: no database (the only
thing it asks Django is the product fields' length limits).

A file is first *inspected* (encoding, delimiter, header), which either gives a `Layout`
or raises `FileError` with one clear message when the file cannot be imported at all.
`records()` then streams the file with the layout, yielding every data record exactly once,
either as a validated `Row` or as a `RowError` that says line, SKU (when known), column and
reason. Nothing here holds more than one record in memory, and no record is read whole past
`Layout.max_record` characters (see `_Lines`), so a hostile file cannot run a worker out of memory.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from fulfil.booleans import WORDS_HELP, parse_bool

REQUIRED = ("sku", "name")
OPTIONAL = ("description", "active")
KNOWN = REQUIRED + OPTIONAL
# csv's own limit on one field, in characters; a longer field is a row error.
MAX_FIELD_CHARS = 131_072
# The longest record read (characters of the decoded text, so bytes for ASCII), unless the caller
# says otherwise (IMPORT_MAX_ROW_BYTES); a longer one is a row error, read past without keeping it.
MAX_RECORD_CHARS = 1 << 20
# More fields than this in a record is a row error of its own (the header's count is the rule).
MAX_FIELDS = 4096
DELIMITERS = (",", ";", "\t")

_BOM = codecs.BOM_UTF8
_BLOCK = 4 << 20
_SAMPLE = 64 << 10
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")

csv.field_size_limit(MAX_FIELD_CHARS)


class FileError(ValueError):
    """The file cannot be imported at all; the message says why, for a person."""


@dataclass(slots=True)
class Row:
    line: int
    sku: str
    name: str
    description: str | None  # None: the file has no description column
    active: bool | None  # None: the file has no active column


@dataclass(slots=True)
class RowError:
    line: int  # the physical line the record starts on
    reason: str
    sku: str = ""
    column: str = ""
    # The record's number among the data records, from 1, as a spreadsheet counts them, and its
    # fields as the file has them (None when unreadable): where it is, not what is wrong.
    row: int = field(default=0, compare=False)
    fields: list[str] | None = field(default=None, compare=False)


@dataclass
class Layout:
    encoding: str  # "utf-8" or "cp1252"
    delimiter: str
    columns: dict[str, int]  # known column name -> field index
    width: int  # fields in the header
    header_line: int
    unknown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    max_record: int = MAX_RECORD_CHARS
    header: list[str] = field(default_factory=list)  # the header's names as the file has them
    digest: str = ""  # SHA-256 of the whole file, once inspected

    @property
    def present(self) -> tuple[str, ...]:
        """The known columns the file has, in a fixed order."""
        return tuple(name for name in KNOWN if name in self.columns)


# --- Inspecting -------------------------------------------------------------------------------


def _check_not_binary(sample: bytes) -> None:
    if not sample.strip(b" \t\r\n" + _BOM):
        raise FileError("The file is empty.")
    # Text has at most a stray control byte or NUL (a bad row); binary formats are full of them.
    control = len(_CONTROL.findall(sample))
    if control >= 2 and control * 20 > len(sample):
        raise FileError("The file is binary, not a CSV text file.")


def detect_encoding(file: BinaryIO) -> tuple[str, list[str], str]:
    """(encoding, warnings, SHA-256 of the file): UTF-8 when the file decodes as UTF-8; Windows-1252
    (Excel's export) when it clearly does not. The digest comes with the one pass over the file.

    A file that is mostly valid UTF-8 with a few bad bytes stays UTF-8 (those rows become
    "undecodable bytes" errors) rather than turning every accented letter into mojibake.
    """
    file.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    digest = hashlib.sha256()
    invalid = multibyte = 0
    while block := file.read(_BLOCK):
        digest.update(block)
        text = decoder.decode(block)
        bad = len(_UNDECODABLE.findall(text))
        invalid += bad
        multibyte += len(block) - len(text)  # bytes beyond the first of each valid sequence
    invalid += len(_UNDECODABLE.findall(decoder.decode(b"", final=True)))
    file.seek(0)
    if invalid == 0:
        return "utf-8", [], digest.hexdigest()
    if multibyte >= invalid:
        warning = f"{invalid} byte(s) are not valid UTF-8; the rows containing them are reported as errors."
        return "utf-8", [warning], digest.hexdigest()
    return (
        "cp1252",
        ["The file is not UTF-8; it was read as Windows-1252 (Excel's CSV export encoding)."],
        digest.hexdigest(),
    )


def _text(file: BinaryIO, encoding: str) -> io.TextIOWrapper:
    file.seek(0)
    if file.read(len(_BOM)) != _BOM:
        file.seek(0)
    return io.TextIOWrapper(file, encoding=encoding, errors="surrogateescape", newline="")


def _normalise(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def parse_header(text: str) -> tuple[str, list[str], int]:
    """The delimiter, header fields and header line of a file's opening text.

    Comma unless the header clearly uses semicolons or tabs: the first delimiter under
    which the header names both required columns wins.
    """
    lines = text.splitlines(keepends=True)
    line_no = 0
    for line_no, line in enumerate(lines, start=1):  # noqa: B007 - line_no is used after the loop
        if line.strip():
            break
    else:
        raise FileError("The file is empty.")
    header_text = "".join(lines[line_no - 1 :])
    candidates = []
    for delimiter in DELIMITERS:
        try:
            names = next(csv.reader(io.StringIO(header_text, newline=""), delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration):
            continue
        normalised = [_normalise(n) for n in names]
        if all(req in normalised for req in REQUIRED):
            return delimiter, names, line_no
        candidates.append((len(names), names))
    found = max(candidates, key=lambda c: c[0])[1] if candidates else []
    present = {_normalise(n) for n in found}
    missing = [req for req in REQUIRED if req not in present]
    shown = ", ".join(repr(n.strip()) for n in found[:12]) or "nothing"
    raise FileError(
        f"Missing required column(s): {', '.join(missing)}. The header must name "
        f"{' and '.join(REQUIRED)} (any case, any order); found {shown}."
    )


def inspect(file: BinaryIO) -> Layout:
    """Read the whole file once to choose its encoding, then its header; FileError when unusable."""
    file.seek(0)
    _check_not_binary(file.read(_SAMPLE))
    encoding, warnings, digest = detect_encoding(file)
    with _detached(_text(file, encoding)) as text:
        opening = text.read(_SAMPLE)
    layout = layout_from_header(opening, encoding)
    layout.warnings[:0] = warnings
    layout.digest = digest
    return layout


def layout_from_header(opening: str, encoding: str) -> Layout:
    delimiter, names, header_line = parse_header(opening)
    columns: dict[str, int] = {}
    unknown = []
    for index, raw in enumerate(names):
        name = _normalise(raw)
        if name in KNOWN:
            if name in columns:
                raise FileError(f"Column {name!r} appears more than once in the header.")
            columns[name] = index
        elif name:
            unknown.append(raw.strip())
    warnings = [f"Ignored unknown column(s): {', '.join(unknown)}."] if unknown else []
    return Layout(encoding, delimiter, columns, len(names), header_line, unknown, warnings, header=names)


def check_upload(sample: bytes) -> Layout:
    """The quick check made before an upload is accepted: not empty, not binary, a usable header.

    Only the opening bytes are read; the full encoding check happens in the import.
    """
    _check_not_binary(sample)
    body = sample[len(_BOM) :] if sample.startswith(_BOM) else sample
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        # A sample may end inside a multi-byte character; only a real error earlier counts.
        if exc.start >= len(body) - 3:
            text, encoding = body[: exc.start].decode("utf-8"), "utf-8"
        else:
            text, encoding = body.decode("cp1252", errors="replace"), "cp1252"
    return layout_from_header(text, encoding)


class _detached:
    """Use a TextIOWrapper over a caller's binary file without closing that file afterwards."""

    def __init__(self, wrapper: io.TextIOWrapper) -> None:
        self.wrapper = wrapper

    def __enter__(self) -> io.TextIOWrapper:
        return self.wrapper

    def __exit__(self, *exc_info) -> None:
        self.wrapper.detach()


# --- Reading records --------------------------------------------------------------------------


class _RecordTooLong(Exception):
    """The record being read is longer than the limit; its line has been read past."""


class _Lines:
    """The physical lines of a text stream, for csv.reader, never more than `cap` characters of
    one record: the line that passes it is read past in pieces of `cap` (so memory stays flat
    whatever its length) and the record is refused with _RecordTooLong. The reader says where a
    record ends by calling `record_read()`."""

    __slots__ = ("_readline", "cap", "used", "line")

    def __init__(self, text: io.TextIOWrapper, cap: int) -> None:
        self._readline = text.readline
        self.cap = cap
        self.used = 0  # characters of the record being read
        self.line = 0  # physical lines read

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        piece = self._readline(self.cap + 1)
        if not piece:
            raise StopIteration
        self.line += 1
        self.used += len(piece)
        if self.used <= self.cap:
            return piece
        while piece and piece[-1] not in "\r\n":
            piece = self._readline(self.cap + 1)
        raise _RecordTooLong

    def record_read(self) -> int:
        """The last line of the record just read; the next record starts afresh."""
        self.used = 0
        return self.line


def _raw_records(file: BinaryIO, layout: Layout) -> Iterator[tuple[int, list[str] | str]]:
    """(first line, fields) for each data record after the header, or (first line, reason) for a
    record that cannot be read. Blank lines are skipped."""
    with _detached(_text(file, layout.encoding)) as text:
        lines = _Lines(text, layout.max_record)
        reader = csv.reader(lines, delimiter=layout.delimiter, strict=True)
        last_line = 0
        seen_header = False
        while True:
            start = last_line + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except (csv.Error, _RecordTooLong) as exc:
                last_line = lines.record_read()
                if not seen_header:
                    raise FileError(f"The header cannot be read: {_reason(exc, start, last_line, layout)}") from None
                yield start, _reason(exc, start, last_line, layout)
                continue
            last_line = lines.record_read()
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if not seen_header:
                seen_header = True
            elif len(fields) > MAX_FIELDS:
                yield start, f"The record has {len(fields):,} fields; at most {MAX_FIELDS:,} are read."
            else:
                yield start, fields


def records(file: BinaryIO, layout: Layout, *, skip: int = 0) -> Iterator[Row | RowError]:
    """Every data record after the header, validated, in file order.

    `skip` passes over that many records first (resuming after a checkpoint) without
    validating them. A RowError carries the record's number and its fields as read.
    """
    validate = _validator(layout)
    for row, (start, fields) in enumerate(_raw_records(file, layout), start=1):
        if skip:
            skip -= 1
        elif isinstance(fields, str):
            yield RowError(start, fields, row=row)
        else:
            item = validate(start, fields)
            if type(item) is RowError:
                item.row, item.fields = row, fields
            yield item


def count_records(file: BinaryIO, layout: Layout) -> int:
    """How many records `records()` will yield (for progress)."""
    return sum(1 for _ in _raw_records(file, layout))


def _reason(exc: csv.Error | _RecordTooLong, start: int, end: int, layout: Layout) -> str:
    message = str(exc)
    where = f" (lines {start}-{end})" if end > start else ""
    if isinstance(exc, _RecordTooLong):
        return (
            f"The record is longer than the limit of {layout.max_record:,} bytes (IMPORT_MAX_ROW_BYTES){where}; "
            f"it was skipped up to the end of line {end}."
        )
    if "field larger" in message:
        return f"A field is longer than {MAX_FIELD_CHARS:,} characters{where}."
    if "expected after" in message or "end of data" in message:
        return f"Broken quoting: a quote is opened but not closed where a field ends{where}."
    return f"Unreadable CSV: {message}{where}."


def parse_active(value: str) -> bool | None:
    """An `active` cell: one of the true/false words in any case; empty is true; None if none of these."""
    return parse_bool(value, empty=True)


def _max_length(field: str) -> int:
    """A product field's length limit, as the model declares it."""
    from fulfil.fields import max_length
    from products.models import Product

    return max_length(Product, field)


def _validator(layout: Layout):
    """A fast row validator specialised to the file's columns."""
    width = layout.width
    i_sku = layout.columns["sku"]
    i_name = layout.columns["name"]
    i_desc = layout.columns.get("description")
    i_active = layout.columns.get("active")
    max_sku, max_name = _max_length("sku"), _max_length("name")
    undecodable = _UNDECODABLE.search

    def _problem(value: str) -> str | None:
        if undecodable(value):
            return "Undecodable bytes (not valid text in the file's encoding)."
        if "\x00" in value:
            return "Contains a NUL character."
        return None

    def validate(line: int, fields: list[str]) -> Row | RowError:
        n = len(fields)
        if n != width and not (n > width and not any(f.strip() for f in fields[width:])):
            sku = fields[i_sku].strip() if i_sku < n else ""
            return RowError(
                line,
                f"Expected {width} fields but found {n}: a delimiter inside an unquoted value?",
                sku if sku and not undecodable(sku) else "",
            )
        sku = fields[i_sku].strip()
        name = fields[i_name].strip()
        description = fields[i_desc].strip() if i_desc is not None else None
        if not sku:
            return RowError(line, "SKU is empty.", "", "sku")
        problem = _problem(sku)
        if problem:
            return RowError(line, problem, "", "sku")
        if len(sku) > max_sku:
            return RowError(line, f"SKU is {len(sku)} characters long; the limit is {max_sku}.", sku[:max_sku], "sku")
        if not name:
            return RowError(line, "Name is empty.", sku, "name")
        if len(name) > max_name:
            return RowError(line, f"Name is {len(name)} characters long; the limit is {max_name}.", sku, "name")
        problem = _problem(name) or (description and _problem(description))
        if problem:
            return RowError(line, problem, sku, "name" if _problem(name) else "description")
        active = None
        if i_active is not None:
            raw = fields[i_active].strip()
            active = parse_active(raw)
            if active is None:
                reason = f"Active must be {WORDS_HELP}; got {raw[:40]!r}."
                return RowError(line, reason, sku, "active")
        return Row(line, sku, name, description, active)

    return validate
