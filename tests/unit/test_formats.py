"""The export file formats open with their own readers and hold typed, inert values."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
import zipfile
from decimal import Decimal
from typing import Any

import icalendar
import msgspec
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reporting.formats import (
    CONTENT_TYPES,
    EXTENSIONS,
    FORMATS,
    CalendarEntry,
    Column,
    ReportTable,
    sheet_title,
    write_calendar,
    write_table,
)

UTC = dt.UTC
NON_ASCII = "Nur-Sultan – Астана"  # noqa: RUF001
ID = uuid.UUID("0b6f6a8e-8f2e-4c3a-9a55-1c2d3e4f5a6b")

COLUMNS = [
    Column("name", "text"),
    Column("count", "integer"),
    Column("value", "decimal"),
    Column("on", "date"),
    Column("at", "datetime"),
    Column("open", "boolean"),
    Column("id", "uuid"),
    Column("assessment", "json"),
    Column("parties", "text_list"),
]

ROW = (
    NON_ASCII,
    -5,
    Decimal("12345678901234567890.125"),
    dt.date(2024, 5, 1),
    dt.datetime(2024, 5, 1, 9, 30, 15, tzinfo=UTC),
    True,
    ID,
    {"score": 3, "note": "ok"},
    ["KAZ", "DEU"],
)
EMPTY = (None,) * len(COLUMNS)
TABLE = ReportTable(title="Commitments status", columns=COLUMNS, rows=[ROW, EMPTY])

DANGEROUS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]


def test_registry_covers_every_format():
    assert FORMATS == ("csv", "ndjson", "xlsx", "parquet")
    for fmt in (*FORMATS, "ics"):
        assert fmt in CONTENT_TYPES
        assert EXTENSIONS[fmt] == "." + fmt
    assert CONTENT_TYPES["csv"] == "text/csv; charset=utf-8"
    assert CONTENT_TYPES["ics"] == "text/calendar; charset=utf-8"
    assert CONTENT_TYPES["parquet"] == "application/vnd.apache.parquet"


# --- CSV ----------------------------------------------------------------------------------


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_round_trip():
    data = write_table(TABLE, "csv")
    assert not data.startswith(b"\xef\xbb\xbf")
    header, row, empty = read_csv(data)
    assert header == [c.name for c in COLUMNS]
    assert row == [
        NON_ASCII,
        "-5",
        "12345678901234567890.125",
        "2024-05-01",
        "2024-05-01T09:30:15+00:00",
        "true",
        str(ID),
        '{"note":"ok","score":3}',
        "KAZ; DEU",
    ]
    assert dt.datetime.fromisoformat(row[4]) == ROW[4]
    assert empty == [""] * len(COLUMNS)


def test_csv_is_rfc_4180():
    table = ReportTable(
        "t", [Column("a", "text"), Column("b", "text")], [('say "hi", twice', "line\nbreak")]
    )
    data = write_table(table, "csv")
    assert data == b'a,b\r\n"say ""hi"", twice","line\nbreak"\r\n'
    assert read_csv(data)[1] == ['say "hi", twice', "line\nbreak"]


def test_csv_and_ndjson_are_byte_identical():
    for fmt in ("csv", "ndjson"):
        copy = ReportTable(TABLE.title, list(TABLE.columns), list(TABLE.rows))
        assert write_table(TABLE, fmt) == write_table(copy, fmt)


def test_decimals_never_use_exponents():
    table = ReportTable("t", [Column("v", "decimal")], [(Decimal("1E+3"),), (Decimal("1.50"),)])
    assert read_csv(write_table(table, "csv"))[1:] == [["1000"], ["1.50"]]


@pytest.mark.parametrize("text", DANGEROUS)
def test_csv_neutralises_formulas(text):
    table = ReportTable(
        "t",
        [Column("t", "text"), Column("n", "integer"), Column("l", "text_list")],
        [(text, -5, [text, "b"])],
    )
    _, row = read_csv(write_table(table, "csv"))
    assert row[0] == "'" + text
    assert row[1] == "-5"
    assert row[2] == "'" + text + "; b"


def test_csv_leaves_harmless_text_alone():
    table = ReportTable("t", [Column("t", "text")], [("a=b",), ("'quoted",), ("",)])
    assert [r[0] for r in read_csv(write_table(table, "csv"))[1:]] == ["a=b", "'quoted", ""]


# --- NDJSON -------------------------------------------------------------------------------


def test_ndjson_round_trip():
    data = write_table(TABLE, "ndjson")
    assert data.endswith(b"\n")
    assert NON_ASCII.encode() in data  # UTF-8, not \u escapes
    lines = data.decode("utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == [c.name for c in COLUMNS]  # keys in column order
    assert first == {
        "name": NON_ASCII,
        "count": -5,
        "value": "12345678901234567890.125",
        "on": "2024-05-01",
        "at": "2024-05-01T09:30:15+00:00",
        "open": True,
        "id": str(ID),
        "assessment": {"score": 3, "note": "ok"},
        "parties": ["KAZ", "DEU"],
    }
    assert Decimal(first["value"]) == ROW[2]
    assert json.loads(lines[1]) == dict.fromkeys(first)


def test_ndjson_keeps_text_unchanged():
    table = ReportTable("t", [Column("t", "text")], [("=1+1",)])
    assert json.loads(write_table(table, "ndjson")) == {"t": "=1+1"}


# --- XLSX ---------------------------------------------------------------------------------


def open_xlsx(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_xlsx_round_trip():
    sheet = open_xlsx(write_table(TABLE, "xlsx"))
    assert sheet.title == "Commitments status"
    assert sheet.freeze_panes == "A2"
    header = list(sheet[1])
    assert [c.value for c in header] == [c.name for c in COLUMNS]
    assert all(c.font.bold for c in header)
    name, count, value, on, at, is_open, id_, assessment, parties = sheet[2]
    assert name.value == NON_ASCII and name.data_type == "s"
    assert count.value == -5 and isinstance(count.value, int) and count.data_type == "n"
    assert value.data_type == "n" and value.value == pytest.approx(float(ROW[2]))
    assert isinstance(on.value, dt.date)
    assert on.value == dt.datetime(2024, 5, 1)  # openpyxl reads dates back as datetimes
    assert on.is_date and on.number_format == "yyyy-mm-dd"
    assert at.value == dt.datetime(2024, 5, 1, 9, 30, 15)  # naive UTC
    assert at.is_date and at.number_format == "yyyy-mm-dd hh:mm:ss"
    assert is_open.value is True and is_open.data_type == "b"
    assert id_.value == str(ID)
    assert json.loads(assessment.value) == {"score": 3, "note": "ok"}
    assert parties.value == "KAZ; DEU"
    assert all(c.value is None for c in sheet[3])
    widths = [sheet.column_dimensions[c.column_letter].width for c in header]
    assert all(8 <= w <= 60 for w in widths)
    assert widths[6] >= len(str(ID))  # the uuid column fits its values


@pytest.mark.parametrize("text", DANGEROUS)
def test_xlsx_neutralises_formulas(text):
    table = ReportTable(
        "t",
        [Column("t", "text"), Column("n", "integer"), Column("d", "decimal")],
        [(text, -5, Decimal("-2.5"))],
    )
    data = write_table(table, "xlsx")
    cell, number, dec = open_xlsx(data)[2]
    assert cell.data_type == "s"
    assert cell.value.startswith("'")
    assert number.data_type == "n" and number.value == -5
    assert dec.data_type == "n" and dec.value == -2.5
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")


def test_xlsx_sheet_title_is_valid():
    assert sheet_title("Sessions: [2024] a/b\\c?*") == "Sessions 2024 abc"
    assert len(sheet_title("x" * 40)) == 31
    assert sheet_title("[]") == "Report"
    assert sheet_title("'quoted'") == "quoted"
    long = ReportTable("Outcomes with progress, by dialogue: 2024", [Column("a", "text")], [])
    assert open_xlsx(write_table(long, "xlsx")).title == "Outcomes with progress, by dial"


def test_xlsx_is_reproducible_and_clock_free():
    generated = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    first = write_table(TABLE, "xlsx", generated_at=generated)
    assert first == write_table(TABLE, "xlsx", generated_at=generated)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2025, 3, 4, 5, 6, 6)}
    properties = openpyxl.load_workbook(io.BytesIO(first)).properties
    assert properties.created == properties.modified == dt.datetime(2025, 3, 4, 5, 6, 7)
    with zipfile.ZipFile(io.BytesIO(write_table(TABLE, "xlsx"))) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_xlsx_replaces_control_characters():
    table = ReportTable("t", [Column("t", "text")], [("a\x0bb",)])
    assert open_xlsx(write_table(table, "xlsx"))["A2"].value == "a\ufffdb"


# --- Parquet ------------------------------------------------------------------------------


def test_parquet_round_trip():
    data = write_table(TABLE, "parquet")
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.types == [
        pa.string(),
        pa.int64(),
        pa.decimal128(38, 3),
        pa.date32(),
        pa.timestamp("us", tz="UTC"),
        pa.bool_(),
        pa.string(),
        pa.string(),
        pa.list_(pa.string()),
    ]
    assert table.schema.names == [c.name for c in COLUMNS]
    assert table.schema.metadata[b"entente.report"] == b"Commitments status"
    first, second = table.to_pylist()
    assert first == {
        "name": NON_ASCII,
        "count": -5,
        "value": ROW[2],
        "on": ROW[3],
        "at": ROW[4],
        "open": True,
        "id": str(ID),
        "assessment": '{"note":"ok","score":3}',
        "parties": ["KAZ", "DEU"],
    }
    assert second == dict.fromkeys(first)
    assert data == write_table(TABLE, "parquet")


def test_parquet_decimal_scale_and_width():
    empty = ReportTable("t", [Column("v", "decimal")], [])
    assert pq.read_table(io.BytesIO(write_table(empty, "parquet"))).schema.types == [
        pa.decimal128(38, 0)
    ]
    huge = ReportTable("t", [Column("v", "decimal")], [(Decimal("1" * 40),), (Decimal("0.5"),)])
    read = pq.read_table(io.BytesIO(write_table(huge, "parquet")))
    assert read.schema.types == [pa.decimal256(76, 1)]
    assert read.column("v").to_pylist() == [Decimal("1" * 40), Decimal("0.5")]
    with pytest.raises(ValueError):
        write_table(ReportTable("t", [Column("v", "decimal")], [(Decimal("NaN"),)]), "parquet")


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column_type", "value"),
    [
        ("integer", True),
        ("integer", "1"),
        ("date", dt.datetime(2024, 1, 1, tzinfo=UTC)),
        ("datetime", dt.date(2024, 1, 1)),
        ("text", 1),
        ("uuid", "not-a-uuid"),
        ("text_list", "KAZ"),
        ("boolean", 1),
    ],
)
def test_wrong_value_types_are_refused(column_type, value):
    table = ReportTable("t", [Column("c", column_type)], [(value,)])
    with pytest.raises(TypeError):
        write_table(table, "csv")


def test_invalid_tables_are_refused():
    with pytest.raises(ValueError):
        write_table(TABLE, "xml")
    with pytest.raises(ValueError):
        write_table(ReportTable("t", [Column("a", "text")], [("x", "y")]), "csv")
    with pytest.raises(ValueError):
        write_table(ReportTable("t", [Column("a", "text"), Column("a", "text")], []), "csv")
    naive = ReportTable("t", [Column("a", "datetime")], [(dt.datetime(2024, 1, 1),)])
    with pytest.raises(ValueError):
        write_table(naive, "ndjson")


def test_datetimes_are_converted_to_utc():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    table = ReportTable(
        "t", [Column("a", "datetime")], [(dt.datetime(2024, 1, 1, 2, tzinfo=plus_two),)]
    )
    assert json.loads(write_table(table, "ndjson")) == {"a": "2024-01-01T00:00:00+00:00"}


# --- iCalendar ----------------------------------------------------------------------------

MODIFIED = dt.datetime(2024, 4, 1, 12, 0, tzinfo=UTC)


def entry(uid: str, starts_on: dt.date, **changes: Any) -> CalendarEntry:
    base = CalendarEntry(
        uid=uid,
        summary="Strategic dialogue, round 3",
        starts_on=starts_on,
        ends_on=starts_on + dt.timedelta(days=2),
        status="confirmed",
        sequence=1,
        last_modified=MODIFIED,
    )
    return msgspec.structs.replace(base, **changes)


def events(data: bytes) -> list[Any]:
    return list(icalendar.Calendar.from_ical(data).walk("VEVENT"))


def test_calendar_round_trip():
    entries = [
        entry(
            "session-b@entente",
            dt.date(2024, 6, 10),
            location=NON_ASCII,
            description="Agenda: " + NON_ASCII * 5,
            url="https://entente.example/sessions/b",
            sequence=7,
        ),
        entry("visit-a@entente", dt.date(2024, 5, 1), status="tentative"),
        entry("session-a@entente", dt.date(2024, 6, 10)),
    ]
    data = write_calendar("Entente sessions", entries)
    assert b"\r\n" in data
    calendar = icalendar.Calendar.from_ical(data)
    assert str(calendar["PRODID"]).startswith("-//Entente")
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == "Entente sessions"
    found = events(data)
    assert [str(e["UID"]) for e in found] == [
        "visit-a@entente",
        "session-a@entente",
        "session-b@entente",
    ]
    visit, _, session = found
    assert str(visit["STATUS"]) == "TENTATIVE"
    assert "LOCATION" not in visit
    assert session.decoded("DTSTART") == dt.date(2024, 6, 10)
    assert session.decoded("DTEND") == dt.date(2024, 6, 12)
    assert session["DTSTART"].params["VALUE"] == "DATE"
    assert session.decoded("DTSTAMP") == MODIFIED
    assert session.decoded("LAST-MODIFIED") == MODIFIED
    assert int(session["SEQUENCE"]) == 7
    assert str(session["STATUS"]) == "CONFIRMED"
    assert str(session["LOCATION"]) == NON_ASCII
    assert str(session["DESCRIPTION"]) == "Agenda: " + NON_ASCII * 5
    assert str(session["URL"]) == "https://entente.example/sessions/b"
    assert data == write_calendar("Entente sessions", list(reversed(entries)))


def test_calendar_cancellation_keeps_uid_and_carries_sequence():
    later = MODIFIED + dt.timedelta(days=3)
    before = events(write_calendar("c", [entry("session-x@entente", dt.date(2024, 6, 1))]))[0]
    cancelled = entry(
        "session-x@entente",
        dt.date(2024, 6, 1),
        status="cancelled",
        sequence=2,
        last_modified=later,
    )
    after = events(write_calendar("c", [cancelled]))[0]
    assert str(after["UID"]) == str(before["UID"]) == "session-x@entente"
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) == 2 > int(before["SEQUENCE"])
    assert after.decoded("DTSTAMP") == later


def test_calendar_refuses_invalid_entries():
    with pytest.raises(ValueError):
        write_calendar("c", [entry("a", dt.date(2024, 1, 1)), entry("a", dt.date(2024, 2, 1))])
    with pytest.raises(ValueError):
        write_calendar("c", [entry("a", dt.date(2024, 1, 1), ends_on=dt.date(2024, 1, 1))])
    with pytest.raises(ValueError):
        write_calendar(
            "c", [entry("a", dt.date(2024, 1, 1), last_modified=dt.datetime(2024, 1, 1))]
        )
    with pytest.raises(ValueError):
        write_calendar("c", [entry("a", dt.date(2024, 1, 1), last_modified=None)])


# --- every format -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_ascii_survives(fmt):
    table = ReportTable(
        NON_ASCII,
        [Column("city", "text"), Column("parties", "text_list")],
        [(NON_ASCII, [NON_ASCII])],
    )
    data = write_table(table, fmt)
    if fmt == "csv":
        assert read_csv(data)[1] == [NON_ASCII, NON_ASCII]
    elif fmt == "ndjson":
        assert json.loads(data) == {"city": NON_ASCII, "parties": [NON_ASCII]}
    elif fmt == "xlsx":
        sheet = open_xlsx(data)
        assert sheet.title == NON_ASCII
        assert [c.value for c in sheet[2]] == [NON_ASCII, NON_ASCII]
    else:
        assert pq.read_table(io.BytesIO(data)).to_pylist() == [
            {"city": NON_ASCII, "parties": [NON_ASCII]}
        ]


def test_calendar_text_carries_no_control_character():
    """RFC 5545 TEXT takes none but tab; calendar clients refuse a feed that has them."""
    recorded = "Round\x07 3\x1c of\x11 talks\x04\x1a\ron\x7f two\nlines"
    data = write_calendar(
        "Entente", [entry("s@entente", dt.date(2024, 6, 10), summary=recorded, location=recorded)]
    )
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", data.replace(b"\r\n", b""))
    (found,) = events(data)
    assert (
        str(found["SUMMARY"])
        == "Round\ufffd 3\ufffd of\ufffd talks\ufffd\ufffd\non\ufffd two\nlines"
    )
