"""The CSV reader alone: bytes in, rows and row errors out. No database."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imports import parsing
from imports.parsing import FileError, Row, RowError


def read(data: bytes) -> tuple[parsing.Layout, list[Row | RowError]]:
    file = io.BytesIO(data)
    layout = parsing.inspect(file)
    items = list(parsing.records(file, layout))
    assert parsing.count_records(file, layout) == len(items)
    return layout, items


def rows(data: bytes) -> list[Row]:
    _, items = read(data)
    assert all(isinstance(i, Row) for i in items), items
    return items


def errors(data: bytes) -> list[RowError]:
    return [i for i in read(data)[1] if isinstance(i, RowError)]


# --- Headers ----------------------------------------------------------------------------------


def test_the_original_files_header_without_active_reads_sku_name_and_description():
    layout, items = read(b"name,sku,description\nWidget,W-1,A widget\n")
    assert layout.present == ("sku", "name", "description")
    assert items == [Row(2, "W-1", "Widget", "A widget", None)]


@pytest.mark.parametrize(
    "header",
    [b"SKU,Name", b" sku , NAME ", b"\xef\xbb\xbfsku,name", b"Name,Sku", b'"sku","name"', b'\xef\xbb\xbf"SKU",name'],
)
def test_headers_match_ignoring_case_spaces_order_quotes_and_bom(header):
    layout, items = read(header + b"\nS-1,Thing\n" if header.lower().lstrip(b'\xef\xbb\xbf" ').startswith(b"s")
                         else header + b"\nThing,S-1\n")  # fmt: skip
    assert [(r.sku, r.name) for r in items] == [("S-1", "Thing")]


def test_unknown_columns_are_ignored_and_listed_as_a_warning():
    layout, items = read(b"sku,colour,name,weight\nS-1,red,Shirt,2kg\n")
    assert items == [Row(2, "S-1", "Shirt", None, None)]
    assert layout.unknown == ["colour", "weight"]
    assert layout.warnings == ["Ignored unknown column(s): colour, weight."]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The file is empty."),
        (b"   \r\n\n", "The file is empty."),
        (b"\xef\xbb\xbf", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "binary"),
        (b"name,description\nWidget,x\n", "Missing required column(s): sku."),
        (b"id,title\n1,x\n", "Missing required column(s): sku, name."),
        (b'{"products": [{"sku": "a"}]}', "Missing required column(s)"),
        (b"sku,name,SKU\n1,2,3\n", "Column 'sku' appears more than once"),
    ],
)
def test_files_that_cannot_be_imported_fail_with_one_clear_message(data, message):
    with pytest.raises(FileError) as caught:
        read(data)
    assert message in str(caught.value)


def test_missing_column_message_names_what_was_found():
    with pytest.raises(FileError) as caught:
        read(b"product_code,title\n")
    assert "found 'product_code', 'title'" in str(caught.value)


def test_header_only_file_has_no_rows():
    assert read(b"sku,name\n")[1] == []


# --- Delimiters, quoting, line endings ---------------------------------------------------------


@pytest.mark.parametrize("delimiter", [b";", b"\t"])
def test_semicolon_and_tab_files_are_recognised_by_their_header(delimiter):
    data = delimiter.join([b"sku", b"name", b"description"]) + b"\n" + delimiter.join([b"S-1", b"A, B", b"x"]) + b"\n"
    layout, items = read(data)
    assert layout.delimiter == delimiter.decode()
    assert items == [Row(2, "S-1", "A, B", "x", None)]


def test_comma_wins_when_the_header_uses_it_even_if_values_hold_semicolons():
    layout, items = read(b"sku,name\nS;1,A;B\n")
    assert layout.delimiter == ","
    assert items[0].sku == "S;1"


def test_quoted_fields_with_commas_doubled_quotes_and_newlines():
    data = b'name,sku,description\n"Shirt, blue",S-1,"Line one\nsays ""hi""\r\nline three"\n'
    assert rows(data) == [Row(2, "S-1", "Shirt, blue", 'Line one\nsays "hi"\r\nline three', None)]


def test_line_numbers_count_physical_lines_across_multi_line_fields_and_blank_lines():
    data = b'sku,name,description\n\nA,a,"one\ntwo\nthree"\n\n\nB,b,x\n,missing sku,x\n'
    _, items = read(data)
    assert [i.line for i in items] == [3, 8, 9]
    assert isinstance(items[2], RowError) and items[2].column == "sku"


def test_crlf_and_lf_read_the_same():
    assert rows(b"sku,name\r\nA,a\r\nB,b\r\n") == rows(b"sku,name\nA,a\nB,b\n")


def test_values_are_trimmed():
    assert rows(b"sku,name,description\n  S-1 ,\tName  , desc \n") == [Row(2, "S-1", "Name", "desc", None)]


# --- Encodings ----------------------------------------------------------------------------------


def test_utf8_with_and_without_bom():
    text = "sku,name\nS-1,Café crème\n".encode()
    assert rows(text) == rows(b"\xef\xbb\xbf" + text)
    assert rows(text)[0].name == "Café crème"


def test_windows_1252_is_read_as_such_and_the_job_is_told():
    layout, items = read("sku,name\nS-1,Café – “quoted” €5\n".encode("cp1252"))
    assert layout.encoding == "cp1252"
    assert "Windows-1252" in layout.warnings[0]
    assert items[0].name == "Café – “quoted” €5"


def test_a_utf8_file_with_one_bad_byte_stays_utf8_and_that_row_is_an_error():
    data = "sku,name\nS-1,Café\nS-2,Crème\n".encode() + b"S-3,bad \xff byte\nS-4,ok\n"
    layout, items = read(data)
    assert layout.encoding == "utf-8"
    assert [getattr(i, "name", None) for i in items] == ["Café", "Crème", None, "ok"]
    assert items[2] == RowError(4, "Undecodable bytes (not valid text in the file's encoding).", "S-3", "name")


def test_bytes_undefined_in_windows_1252_make_row_errors():
    _, items = read(b"sku,name\nS-1,caf\xe9\nS-2,x\x81y\n")
    assert items[0].name == "café"
    assert isinstance(items[1], RowError) and items[1].column == "name"


# --- Row validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [(v, True) for v in ("true", "TRUE", "1", "yes", "Y", "t", "on", "", " On ")]
    + [(v, False) for v in ("false", "False", "0", "no", "N", "f", "OFF")],
)
def test_active_accepts_the_usual_spellings(value, expected):
    assert rows(f"sku,name,active\nS-1,x,{value}\n".encode())[0].active is expected


@pytest.mark.parametrize(
    "line, column, reason",
    [
        (",Name,true", "sku", "SKU is empty."),
        ("   ,Name,true", "sku", "SKU is empty."),
        ("S-1,,true", "name", "Name is empty."),
        ("S-1,Name,maybe", "active", "Active must be true/false"),
        ("S" * 101 + ",Name,true", "sku", "SKU is 101 characters long; the limit is 100."),
        ("S-1," + "n" * 256 + ",true", "name", "Name is 256 characters long; the limit is 255."),
        ("S-1,Name,true,surplus", "", "Expected 3 fields but found 4"),
        ("S-1,Name", "", "Expected 3 fields but found 2"),
        ("S-1,Na\x00me,true", "name", "Contains a NUL character."),
    ],
)
def test_each_kind_of_bad_row_is_reported_with_line_column_and_reason(line, column, reason):
    items = read(b"sku,name,active\nGOOD-1,Fine,yes\n" + line.encode() + b"\nGOOD-2,Fine,no\n")[1]
    assert [type(i) for i in items] == [Row, RowError, Row]
    error = items[1]
    assert (error.line, error.column) == (3, column)
    assert error.reason.startswith(reason)


def test_an_unquoted_comma_error_names_the_sku_when_it_can():
    error = errors(b"sku,name\nS-9,Shirt, blue\n")[0]
    assert (error.sku, error.line) == ("S-9", 2)


def test_trailing_empty_fields_are_tolerated():
    assert rows(b"sku,name\nS-1,x,,\n") == [Row(2, "S-1", "x", None, None)]


def test_a_field_over_the_size_limit_is_a_row_error_and_reading_goes_on():
    huge = b"x" * (parsing.MAX_FIELD_CHARS + 10)
    _, items = read(b'sku,name,description\nA,a,"' + huge + b'"\nB,b,ok\n')
    assert isinstance(items[0], RowError) and "longer than 131,072 characters" in items[0].reason
    assert items[1] == Row(3, "B", "b", "ok", None)


def test_broken_quoting_is_one_error_spanning_its_lines_and_reading_resumes():
    data = b'sku,name,description\nA,a,"never closed\nB,b,x\nC,c,"quoted" tail\nD,d,fine\n'
    _, items = read(data)
    assert isinstance(items[0], RowError)
    assert items[0].line == 2 and "lines 2-4" in items[0].reason and "quote" in items[0].reason
    assert items[1] == Row(5, "D", "d", "fine", None)


def test_a_quote_left_open_at_the_end_of_the_file_is_an_error():
    _, items = read(b'sku,name\nA,a\nB,"open\n')
    assert isinstance(items[1], RowError) and items[1].line == 3


def _read_with_limit(data: bytes, max_record: int) -> list[Row | RowError]:
    file = io.BytesIO(data)
    layout = parsing.inspect(file)
    layout.max_record = max_record
    items = list(parsing.records(file, layout))
    assert parsing.count_records(file, layout) == len(items)
    return items


@pytest.mark.parametrize("middle", [b"x" * 5000, b"ab," * 2000, b'"' + b"quoted line\n" * 500])
def test_a_record_longer_than_the_limit_is_one_error_naming_its_line_and_the_limit(middle):
    items = _read_with_limit(b"sku,name\nA-1,first\n" + middle + b"\nA-2,second\n", max_record=1024)
    good = [i for i in items if isinstance(i, Row)]
    bad = [i for i in items if isinstance(i, RowError)]
    assert [r.sku for r in good][:1] == ["A-1"] and good[-1].sku == "A-2"
    assert bad[0].line == 3
    assert "longer than the limit of 1,024 bytes (IMPORT_MAX_ROW_BYTES)" in bad[0].reason


@pytest.mark.parametrize("shape", ["one giant field", "millions of fields"])
def test_reading_a_huge_single_line_keeps_memory_flat(shape):
    """A file whose one data line is 40 MB is read past a piece at a time: Python never holds
    more than about the record limit (1 MiB) of it."""
    import tracemalloc

    line = b"x" * (40 << 20) if shape == "one giant field" else b"ab," * ((40 << 20) // 3)
    data = b"sku,name\n" + line + b"\nB-1,after\n"
    file = io.BytesIO(data)
    layout = parsing.inspect(file)
    tracemalloc.start()
    try:
        items = list(parsing.records(file, layout))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [type(i) for i in items] == [RowError, Row]
    assert "IMPORT_MAX_ROW_BYTES" in items[0].reason and items[1].sku == "B-1"
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_a_record_with_too_many_fields_is_a_row_error_of_its_own():
    items = _read_with_limit(b"sku,name\n" + b",".join([b"f"] * (parsing.MAX_FIELDS + 1)) + b"\n", 1 << 20)
    assert len(items) == 1 and "at most 4,096 are read" in items[0].reason


def test_skip_resumes_after_a_checkpoint():
    data = b"sku,name\nA,a\n,bad\nC,c\nD,d\n"
    file = io.BytesIO(data)
    layout = parsing.inspect(file)
    assert [getattr(i, "sku", None) for i in parsing.records(file, layout, skip=2)] == ["C", "D"]


# --- The upload's quick check ---------------------------------------------------------------------


def test_upload_check_reads_only_the_header():
    layout = parsing.check_upload(b"\xef\xbb\xbfName;SKU;Active\nx;y;z\n")
    assert layout.delimiter == ";" and layout.present == ("sku", "name", "active")


def test_upload_check_tolerates_a_sample_cut_inside_a_character():
    sample = ("sku,name\n" + "é" * 100).encode()[:-1]
    assert parsing.check_upload(sample).encoding == "utf-8"


# --- Any bytes ------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_give_rows_or_clear_errors_never_an_exception(data):
    _any_input(data)


csv_ish = st.lists(
    st.sampled_from(
        [
            "sku",
            "name",
            "SKU",
            "Name",
            "active",
            ",",
            ";",
            "\t",
            '"',
            '""',
            "\n",
            "\r\n",
            " ",
            "x",
            "é",
            "\x00",
            "\xff",
            "yes",
            "maybe",
            "\ufeff",
            "A" * 120,
        ]
    ),  # fmt: skip
    max_size=60,
).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(csv_ish, csv_ish.map(lambda b: b"sku,name,active\n" + b)))
def test_csv_like_input_gives_rows_or_clear_errors_never_an_exception(data):
    _any_input(data)


def _any_input(data: bytes) -> None:
    try:
        _, items = read(data)
    except FileError as exc:
        assert str(exc)
        return
    for item in items:
        assert isinstance(item, (Row, RowError))
        if isinstance(item, Row):
            assert item.sku and item.name and len(item.sku) <= 100 and len(item.name) <= 255
            assert "\x00" not in item.sku + item.name
        else:
            assert item.reason and item.line >= 1
