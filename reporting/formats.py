"""File formats for report exports: CSV, NDJSON, XLSX, Parquet, and the iCalendar feed.

Pure functions from an in-memory table to bytes; no database, no clock (openpyxl alone uses
a temporary file per worksheet).
`write_table(table, fmt)` renders a `ReportTable` in one of `FORMATS`;
`write_calendar(name, entries)` renders an RFC 5545 calendar of all-day events.

Values by logical column type (`Column.type`), checked on the way in (a value of the wrong
Python type raises `TypeError`, a row of the wrong length or a naive datetime `ValueError`):

==========  ===================  =========================  ===================  ==============
type        Python value         CSV / NDJSON text          XLSX cell            Parquet
==========  ===================  =========================  ===================  ==============
text        str                  as is                      string ("s")         string
integer     int (not bool)       123 / JSON number          number               int64
decimal     Decimal (int, float  plain notation, never      number               decimal128(38,
            accepted)            exponent: "1234.50"                             s) see below
date        date (not datetime)  2024-05-01                 date, yyyy-mm-dd     date32
datetime    aware datetime       2024-05-01T09:30:00+00:00  naive UTC datetime,  timestamp[us,
                                 (converted to UTC)         yyyy-mm-dd hh:mm:ss  tz=UTC]
boolean     bool                 true / false               boolean              bool
uuid        UUID (or str)        canonical lower-case       string               string
json        dict/list/scalar     compact JSON, sorted keys  string (JSON text)   string (JSON)
                                 (NDJSON: nested value)
text_list   list/tuple of str    CSV: items joined by "; "  string (joined)      list<string>
                                 NDJSON: JSON array
==========  ===================  =========================  ===================  ==============

None is an empty CSV field, JSON null, an empty XLSX cell and a Parquet null.

Choices:

* CSV is RFC 4180: comma separated, CRLF line ends, fields quoted only when they contain a
  comma, quote, CR or LF, quotes doubled, a header row of the column names. UTF-8 **without a
  byte-order mark**: the file's SHA-256 goes into the manifest and must depend only on the
  data; RFC 4180/7111 and most tools (Python's csv, pandas, DuckDB, jq, Unix tools) treat a BOM
  as part of the first header name. Excel users should open the XLSX export (which exists for
  them) or import the CSV with Data > From Text/CSV, which detects UTF-8. A caller that really
  wants a BOM can prepend b"\\xef\\xbb\\xbf".
* NDJSON: one JSON object per row, keys in column order, each line ending in "\\n" (also the
  last), non-ASCII as UTF-8 (not \\u escapes). Decimals are JSON *strings*: most JSON readers
  (JavaScript, jq before 1.7, pandas) parse numbers into IEEE doubles, which silently loses
  digits beyond ~15-17 significant figures and the scale ("1.50" vs "1.5"); a string keeps the
  exact value, as the event codec (domain/codec.py) does. Dates, datetimes and UUIDs are
  strings (ISO 8601, canonical UUID).
* Parquet decimals are decimal128(38, s): a real numeric type that readers can sum and
  compare, exact unlike a double. A column that fixes its scale (every decimal column of the
  catalogue does, reporting/catalogue.py) always gets decimal128(38, scale), values rounded
  half-even to it, so every export of a report has the same schema and files append to one
  dataset. Without a fixed scale, s is the largest number of fractional digits in the
  column (0 when empty) and decimal256(76, s) is used past 38 digits. NaN and infinities
  cannot be stored in a Parquet decimal and raise ValueError.
* XLSX: a single sheet named from the title (characters []:*?/\\ removed, no leading or
  trailing apostrophe, at most 31 characters, "Report" if nothing is left), bold frozen header
  row with an auto-filter, column widths from the longest rendered value (8 to 60 characters).
  Datetimes are written as naive UTC (Excel has no time zones). Excel holds numbers as
  doubles, so integers beyond 2**53 and decimals beyond ~15 significant digits are rounded in
  the spreadsheet (NaN/infinite decimals are written as text). Control characters that XML 1.0
  cannot hold are replaced by U+FFFD, and a CR inside text is read back as LF (XML end-of-line
  normalisation).

Formula injection (OWASP "CSV injection"): in CSV and XLSX every *text* value - text, uuid,
json and the joined text_list - that begins with "=", "+", "-", "@", TAB or CR is prefixed with
a single quote "'", so spreadsheets show it as text instead of evaluating it. Integers and
decimals are numbers, not text, and are never prefixed (-5 stays the number -5). XLSX text
cells are additionally typed as strings (data_type "s"), so openpyxl never writes a formula.
NDJSON and Parquet are not spreadsheet formats and carry the text unchanged.

Reproducibility: CSV and NDJSON are byte-identical for identical input (nothing but the data
goes in). XLSX is byte-identical too for the same input and `generated_at`: the document's
created/modified properties are `generated_at` (or 1980-01-01T00:00:00Z when not given) and
every zip member is stamped with that time instead of the clock; it depends on the openpyxl
version. Parquet holds no timestamps and is byte-identical for the same input and pyarrow
version (its footer names the writer's version). The calendar is byte-identical for the same
entries: DTSTAMP is each entry's last_modified, and entries are sorted by (starts_on, uid).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import os
import re
import uuid
import zipfile
from collections.abc import Callable, Sequence
from typing import Any, Literal

import msgspec

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "FORMATS",
    "CalendarEntry",
    "Column",
    "ColumnType",
    "ReportTable",
    "neutralise",
    "sheet_title",
    "write_calendar",
    "write_table",
]

ColumnType = Literal[
    "text", "integer", "decimal", "date", "datetime", "boolean", "uuid", "json", "text_list"
]
CalendarStatus = Literal["tentative", "confirmed", "cancelled"]

FORMATS: tuple[str, ...] = ("csv", "ndjson", "xlsx", "parquet")

CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
    "ics": "text/calendar; charset=utf-8",
}

EXTENSIONS: dict[str, str] = {
    "csv": ".csv",
    "ndjson": ".ndjson",
    "xlsx": ".xlsx",
    "parquet": ".parquet",
    "ics": ".ics",
}

TEXT_LIST_SEPARATOR = "; "
PRODID = "-//Entente//Entente register//EN"

_UTC = dt.UTC
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_FIXED_EPOCH = dt.datetime(1980, 1, 1, tzinfo=_UTC)  # earliest time a zip entry can hold
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ICS_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""RFC 5545 TEXT takes no control character but tab (a newline is escaped as \\n)."""


def _ics_text(text: str) -> str:
    """Recorded text as a calendar client will take it: controls shown as U+FFFD."""
    return _ICS_CONTROL.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


class Column(msgspec.Struct, frozen=True):
    """A column: its name (the header, the NDJSON key) and its logical type; a decimal
    column may fix its scale, so that its Parquet type never depends on the rows."""

    name: str
    type: ColumnType
    scale: int | None = None


class ReportTable(msgspec.Struct, frozen=True):
    """A report's rows, in order, with their columns."""

    title: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]


class CalendarEntry(msgspec.Struct, frozen=True):
    """One all-day event of the calendar feed (a session or a visit)."""

    uid: str
    summary: str
    starts_on: dt.date
    ends_on: dt.date  # exclusive, as DTEND of an all-day event
    status: CalendarStatus
    sequence: int
    last_modified: dt.datetime
    location: str | None = None
    description: str | None = None
    url: str | None = None


# --- values -----------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Prefix text a spreadsheet would evaluate as a formula with a single quote."""
    return "'" + text if text.startswith(_FORMULA_TRIGGERS) else text


def _wrong(column: Column, value: object, expected: str) -> TypeError:
    return TypeError(
        f"column {column.name!r} ({column.type}) expects {expected}, "
        f"got {type(value).__name__}: {value!r}"
    )


def _check_text(column: Column, value: object) -> str:
    if not isinstance(value, str):
        raise _wrong(column, value, "str")
    return value


def _check_integer(column: Column, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(column, value, "int")
    return value


def _check_decimal(column: Column, value: object) -> decimal.Decimal:
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return decimal.Decimal(value)
    if isinstance(value, float):
        return decimal.Decimal(repr(value))  # the shortest repr, not the binary expansion
    raise _wrong(column, value, "Decimal")


def _check_date(column: Column, value: object) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise _wrong(column, value, "date")
    return value


def _check_datetime(column: Column, value: object) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise _wrong(column, value, "datetime")
    if value.utcoffset() is None:
        raise ValueError(f"column {column.name!r}: naive datetime {value!r}, expected UTC")
    return value.astimezone(_UTC)


def _check_boolean(column: Column, value: object) -> bool:
    if not isinstance(value, bool):
        raise _wrong(column, value, "bool")
    return value


def _check_uuid(column: Column, value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise _wrong(column, value, "UUID") from None
    raise _wrong(column, value, "UUID")


def _check_json(column: Column, value: object) -> object:
    return value  # anything msgspec encodes; errors surface when encoding


def _check_text_list(column: Column, value: object) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _wrong(column, value, "list[str]")
    return list(value)


_CHECKS: dict[str, Callable[[Column, object], object]] = {
    "text": _check_text,
    "integer": _check_integer,
    "decimal": _check_decimal,
    "date": _check_date,
    "datetime": _check_datetime,
    "boolean": _check_boolean,
    "uuid": _check_uuid,
    "json": _check_json,
    "text_list": _check_text_list,
}


def _normalised(table: ReportTable) -> list[list[object]]:
    """Check every value against its column's type; datetimes in UTC, UUIDs as strings."""
    names = [c.name for c in table.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names in {table.title!r}: {names}")
    for column in table.columns:
        if column.type not in _CHECKS:
            raise ValueError(f"column {column.name!r}: unknown type {column.type!r}")
    checks = [(c, _CHECKS[c.type]) for c in table.columns]
    width = len(checks)
    out: list[list[object]] = []
    for index, row in enumerate(table.rows):
        if len(row) != width:
            raise ValueError(f"row {index} has {len(row)} values, expected {width}")
        out.append(
            [None if v is None else check(c, v) for (c, check), v in zip(checks, row, strict=True)]
        )
    return out


def _json_text(value: object) -> str:
    return msgspec.json.encode(value, order="sorted").decode()


def _decimal_text(value: decimal.Decimal) -> str:
    return format(value, "f")  # plain notation: 1E+3 -> "1000", never an exponent


def _text(column_type: str, value: object) -> str:
    """The text of a value in CSV (and the width estimate of XLSX)."""
    if value is None:
        return ""
    if column_type == "decimal":
        assert isinstance(value, decimal.Decimal)
        return _decimal_text(value)
    if column_type == "boolean":
        return "true" if value else "false"
    if column_type in ("date", "datetime"):
        assert isinstance(value, dt.date)
        return value.isoformat()
    if column_type == "json":
        return _json_text(value)
    if column_type == "text_list":
        assert isinstance(value, list)
        return TEXT_LIST_SEPARATOR.join(value)
    return str(value)


_SPREADSHEET_TEXT = frozenset({"text", "uuid", "json", "text_list"})


# --- CSV and NDJSON ---------------------------------------------------------------------


def _write_csv(table: ReportTable, rows: list[list[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, dialect="excel", lineterminator="\r\n")
    writer.writerow([c.name for c in table.columns])
    types = [c.type for c in table.columns]
    for row in rows:
        cells = []
        for column_type, value in zip(types, row, strict=True):
            text = _text(column_type, value)
            cells.append(neutralise(text) if column_type in _SPREADSHEET_TEXT else text)
        writer.writerow(cells)
    return buffer.getvalue().encode("utf-8")


def _json_value(column_type: str, value: object) -> object:
    if value is None:
        return None
    if column_type == "decimal":
        assert isinstance(value, decimal.Decimal)
        return _decimal_text(value)
    if column_type in ("date", "datetime"):
        assert isinstance(value, dt.date)
        return value.isoformat()
    return value


def _write_ndjson(table: ReportTable, rows: list[list[object]]) -> bytes:
    encode = msgspec.json.Encoder(order="sorted").encode
    keys = [encode(c.name) for c in table.columns]
    types = [c.type for c in table.columns]
    lines = []
    for row in rows:
        members = [
            key + b":" + encode(_json_value(column_type, value))
            for key, column_type, value in zip(keys, types, row, strict=True)
        ]
        lines.append(b"{" + b",".join(members) + b"}\n")
    return b"".join(lines)


# --- XLSX -------------------------------------------------------------------------------


def sheet_title(title: str) -> str:
    """A valid Excel sheet name from a report title."""
    name = _SHEET_TITLE_FORBIDDEN.sub("", title).strip()[:31].strip().strip("'").strip()
    if not name:
        return "Report"
    if name.casefold() == "history":  # reserved by Excel
        return "History report"
    return name


_DATE_FORMAT = "yyyy-mm-dd"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_MIN_WIDTH, _MAX_WIDTH = 8, 60


class _StampedZip(zipfile.ZipFile):
    """A zip whose members all carry one fixed time instead of the clock's."""

    def __init__(self, file: io.BytesIO, stamp: dt.datetime) -> None:
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._date_time = stamp.timetuple()[:6]

    def writestr(  # type: ignore[override]
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: bytes | str,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        if isinstance(zinfo_or_arcname, str):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=self._date_time)  # type: ignore[arg-type]
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(  # type: ignore[override]
        self,
        filename: str | os.PathLike[str],
        arcname: str | None = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        # openpyxl streams each worksheet through a temporary file: take its bytes, not its mtime
        with open(filename, "rb") as file:
            data = file.read()
        self.writestr(arcname or os.fspath(filename), data, compress_type, compresslevel)


def _xlsx_text(text: str) -> str:
    return neutralise(_XML_ILLEGAL.sub("\ufffd", text))


def _write_xlsx(
    table: ReportTable, rows: list[list[object]], generated_at: dt.datetime | None
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    if generated_at is not None and generated_at.utcoffset() is None:
        raise ValueError(f"generated_at must be timezone-aware, got {generated_at!r}")
    stamp = max(generated_at.astimezone(_UTC), _FIXED_EPOCH) if generated_at else _FIXED_EPOCH
    naive_stamp = stamp.replace(tzinfo=None, microsecond=0)

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title(table.title)
    properties = workbook.properties
    properties.title = table.title
    properties.creator = "Entente"
    properties.lastModifiedBy = None
    properties.created = naive_stamp
    properties.modified = naive_stamp

    bold = Font(bold=True)
    types = [c.type for c in table.columns]
    widths = [len(c.name) for c in table.columns]
    for index, column in enumerate(table.columns, start=1):
        cell = sheet.cell(row=1, column=index, value=_xlsx_text(column.name))
        cell.data_type = "s"
        cell.font = bold

    for row_index, row in enumerate(rows, start=2):
        for col_index, (column_type, value) in enumerate(zip(types, row, strict=True), start=1):
            if value is None:
                continue
            cell = sheet.cell(row=row_index, column=col_index)
            if column_type in _SPREADSHEET_TEXT:
                text = _xlsx_text(_text(column_type, value))
                cell.value = text
                cell.data_type = "s"
                shown = len(text)
            elif column_type == "decimal":
                assert isinstance(value, decimal.Decimal)
                if value.is_finite():
                    cell.value = value
                else:
                    cell.value = str(value)
                    cell.data_type = "s"
                shown = len(_decimal_text(value))
            elif column_type == "datetime":
                assert isinstance(value, dt.datetime)
                cell.value = value.replace(tzinfo=None)
                cell.number_format = _DATETIME_FORMAT
                shown = len(_DATETIME_FORMAT)
            elif column_type == "date":
                cell.value = value
                cell.number_format = _DATE_FORMAT
                shown = len(_DATE_FORMAT)
            else:  # integer, boolean
                cell.value = value
                shown = len(_text(column_type, value))
            widths[col_index - 1] = max(widths[col_index - 1], shown)

    for index, width in enumerate(widths, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = min(max(width + 2, _MIN_WIDTH), _MAX_WIDTH)
    sheet.freeze_panes = "A2"
    if table.columns:
        last = get_column_letter(len(table.columns))
        sheet.auto_filter.ref = f"A1:{last}{len(rows) + 1}"

    buffer = io.BytesIO()
    archive = _StampedZip(buffer, naive_stamp)
    ExcelWriter(workbook, archive).save()  # not workbook.save(): that stamps "modified" with now
    return buffer.getvalue()


# --- Parquet ----------------------------------------------------------------------------


def _fixed_decimals(values: Sequence[object], scale: int) -> tuple[Any, list[object]]:
    """decimal128(38, scale) whatever the rows hold, each value rounded half-even to the
    scale (the catalogue's scales hold every value the read models store)."""
    import pyarrow as pa

    quantum = decimal.Decimal(1).scaleb(-scale)
    fixed: list[object] = []
    for value in values:
        if value is None:
            fixed.append(None)
            continue
        assert isinstance(value, decimal.Decimal)
        if not value.is_finite():
            raise ValueError(f"Parquet decimals cannot hold {value}")
        rounded = value.quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)
        if len(rounded.as_tuple().digits) > 38:
            raise ValueError(f"{value} needs more than 38 digits at scale {scale}")
        fixed.append(rounded)
    return pa.decimal128(38, scale), fixed


def _decimal_type(values: Sequence[object]) -> Any:
    import pyarrow as pa

    scale = 0
    integer_digits = 1
    for value in values:
        if value is None:
            continue
        assert isinstance(value, decimal.Decimal)
        if not value.is_finite():
            raise ValueError(f"Parquet decimals cannot hold {value}")
        _sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        scale = max(scale, -exponent)
        integer_digits = max(integer_digits, len(digits) + exponent)
    if integer_digits + scale <= 38:
        return pa.decimal128(38, scale)
    if integer_digits + scale <= 76:
        return pa.decimal256(76, scale)
    raise ValueError(f"decimal needs {integer_digits + scale} digits, Parquet holds 76 at most")


def _write_parquet(table: ReportTable, rows: list[list[object]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    simple = {
        "text": pa.string(),
        "integer": pa.int64(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "boolean": pa.bool_(),
        "uuid": pa.string(),
        "json": pa.string(),
        "text_list": pa.list_(pa.string()),
    }
    fields = []
    arrays = []
    for index, column in enumerate(table.columns):
        values: list[object] = [row[index] for row in rows]
        if column.type == "decimal" and column.scale is not None:
            arrow_type, values = _fixed_decimals(values, column.scale)
        elif column.type == "decimal":
            arrow_type = _decimal_type(values)
        else:
            arrow_type = simple[column.type]
        if column.type == "json":
            values = [None if v is None else _json_text(v) for v in values]
        fields.append(pa.field(column.name, arrow_type))
        arrays.append(pa.array(values, type=arrow_type))
    schema = pa.schema(fields, metadata={b"entente.report": table.title.encode()})
    arrow_table = pa.Table.from_arrays(arrays, schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(arrow_table, sink)
    return bytes(sink.getvalue().to_pybytes())


# --- entry points -----------------------------------------------------------------------


def write_table(table: ReportTable, fmt: str, *, generated_at: dt.datetime | None = None) -> bytes:
    """The table as a file in `fmt` (one of FORMATS).

    `generated_at` (timezone-aware) only affects XLSX: its document created/modified
    properties and zip member times; without it they are fixed at 1980-01-01T00:00:00Z.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}, expected one of {', '.join(FORMATS)}")
    rows = _normalised(table)
    if fmt == "csv":
        return _write_csv(table, rows)
    if fmt == "ndjson":
        return _write_ndjson(table, rows)
    if fmt == "xlsx":
        return _write_xlsx(table, rows, generated_at)
    return _write_parquet(table, rows)


def write_calendar(name: str, entries: list[CalendarEntry]) -> bytes:
    """An RFC 5545 calendar (METHOD:PUBLISH) of all-day events, sorted by (starts_on, uid).

    Raises ValueError on duplicate UIDs, on an event that does not end after it starts
    (DTEND is exclusive) and on a naive last_modified.
    """
    from icalendar import Calendar, Event

    uids = [e.uid for e in entries]
    if len(set(uids)) != len(uids):
        raise ValueError("duplicate calendar UIDs")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for entry in sorted(entries, key=lambda e: (e.starts_on, e.uid)):
        if entry.ends_on <= entry.starts_on:
            raise ValueError(f"{entry.uid}: ends_on {entry.ends_on} is not after starts_on")
        if (
            not isinstance(entry.last_modified, dt.datetime)
            or entry.last_modified.utcoffset() is None
        ):
            raise ValueError(f"{entry.uid}: last_modified must be timezone-aware")
        modified = entry.last_modified.astimezone(_UTC).replace(microsecond=0)
        event = Event()
        event.add("uid", entry.uid)
        event.add("dtstamp", modified)
        event.add("dtstart", entry.starts_on)
        event.add("dtend", entry.ends_on)
        event.add("summary", _ics_text(entry.summary))
        event.add("status", entry.status.upper())
        event.add("sequence", entry.sequence)
        event.add("last-modified", modified)
        if entry.location is not None:
            event.add("location", _ics_text(entry.location))
        if entry.description is not None:
            event.add("description", _ics_text(entry.description))
        if entry.url is not None:
            event.add("url", entry.url)
        calendar.add_component(event)
    return bytes(calendar.to_ical())
