"""What a projection is, and the row-shaping and row-writing pieces the projections share."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any, Protocol

import msgspec
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.values import PartialDate
from projections.states import StreamStates, driver
from store.json_ready import to_builtins
from store.records import RecordedEvent


class Projection(Protocol):
    """A read model: which events it wants, which tables it owns, how it applies a batch."""

    name: str
    tables: tuple[Table, ...]
    stream_prefixes: tuple[str, ...]

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        """Apply events (already in global order) inside the caller's transaction."""


def window(prefix: str, when: PartialDate | None) -> dict[str, Any]:
    """A partial date as the four columns `projections.tables._window` declares."""
    start, end, wording, precision = window_columns(prefix)
    if when is None:
        return {start: None, end: None, wording: None, precision: None}
    return {start: when.start, end: when.end, wording: when.wording, precision: when.precision}


@functools.cache
def window_columns(prefix: str) -> tuple[str, str, str, str]:
    """The four column names, in the order `dates` gives their values; spelled once per
    prefix rather than once per row."""
    return f"{prefix}_from", f"{prefix}_to", f"{prefix}_wording", f"{prefix}_precision"


_NO_DATES: tuple[None, None, None, None] = (None, None, None, None)


def dates(when: PartialDate | None) -> tuple[Any, Any, Any, Any]:
    """A partial date as the values of its four columns (`window_columns`), in order."""
    if when is None:
        return _NO_DATES
    return when.start, when.end, when.wording, when.precision


def json_text(value: Any) -> str | None:
    """A JSONB value as the JSON text the connection's codec takes, encoded once.

    A row may hold domain values as they are (Structs, tuples, read-only maps): encoded
    here in one step, not first made builtins and then encoded.
    """
    if value is None:
        return None
    if not value:  # most lists and maps of a row are empty
        empty = _EMPTY_JSON.get(type(value))
        if empty is not None:
            return empty
    return _encode_json(value).decode()


_EMPTY_JSON: dict[type, str] = {tuple: "[]", list: "[]", dict: "{}", MappingProxyType: "{}"}


_encode_json = msgspec.json.Encoder(enc_hook=to_builtins).encode

COPY_FROM = 100
"""Rows from which a table is written by COPY rather than a pipelined INSERT."""


async def insert_rows(tx: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Add rows given as dicts (JSONB values as they are) to `table`: see `insert_records`.

    The columns are those of the first row, so a column left out keeps its server default.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    get = operator.itemgetter(*columns)
    records = [get(r) for r in rows] if len(columns) > 1 else [(get(r),) for r in rows]
    as_json = _json_positions(table, columns)
    if as_json:
        records = [_with_json(record, as_json) for record in records]
    await insert_records(tx, table, columns, records)


def _with_json(record: tuple[Any, ...], as_json: tuple[int, ...]) -> tuple[Any, ...]:
    """The record with its JSONB values as JSON text."""
    values = list(record)
    for i in as_json:
        values[i] = json_text(values[i])
    return tuple(values)


@functools.cache
def _json_positions(table: Table, columns: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSONB))


async def insert_records(
    tx: AsyncConnection,
    table: Table,
    columns: tuple[str, ...],
    records: Sequence[tuple[Any, ...]],
) -> None:
    """Add records (tuples of values in the order of `columns`, JSONB values already JSON
    text, see `json_text`) to `table`, set-based, in the caller's transaction.

    Many rows (a catch-up's or a rebuild's batch): one binary COPY, the cheapest way in
    for both sides, and as transactional as an INSERT. A few rows (a live batch of a
    handful of events): one prepared INSERT sent for all rows at once (asyncpg's pipelined
    executemany), which costs less than starting a COPY. Either way without SQLAlchemy's
    per-row parameter handling, which costs more than the rows in a catch-up or a
    rebuild, and with no dict per row (the dialogues and the timeline build tuples;
    `insert_rows` turns the few dict rows of the other projections into tuples).
    """
    if not records:
        return
    schema = _schema_of(tx, table)
    raw = await driver(tx)
    if len(records) < COPY_FROM:
        await raw.executemany(_insert_sql(schema, table.name, columns), records)
    else:
        await raw.copy_records_to_table(
            table.name, records=records, columns=columns, schema_name=schema
        )


@functools.lru_cache(maxsize=256)  # bounded: every export writes into a schema of its own
def _insert_sql(schema: str | None, table: str, columns: tuple[str, ...]) -> str:
    """The INSERT of these columns into the table where this connection writes it."""
    names = ", ".join(f'"{name}"' for name in columns)
    values = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    where = f'"{schema}"."{table}"' if schema else f'"{table}"'
    return f"INSERT INTO {where} ({names}) VALUES ({values})"


async def delete_rows(tx: AsyncConnection, table: Table, column: str, keys: Sequence[Any]) -> None:
    """Remove the rows of `table` whose `column` is one of `keys` (see `delete_keys`)."""
    await delete_keys(tx, table, [column], [(key,) for key in keys])


async def delete_keys(
    tx: AsyncConnection, table: Table, columns: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> None:
    """Remove the rows of `table` whose `columns` are one of `keys`, in one statement with an
    array parameter per column (an IN would be thousands of parameters, each one handled
    by SQLAlchemy in Python)."""
    if not keys:
        return
    dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
    arrays = ", ".join(
        f"${n}::{table.c[column].type.compile(dialect=dialect)}[]"
        for n, column in enumerate(columns, 1)
    )
    where = f"({', '.join(columns)}) IN (SELECT * FROM unnest({arrays}))"
    sql = f'DELETE FROM "{_schema_of(tx, table)}"."{table.name}" WHERE {where}'
    await (await driver(tx)).execute(sql, *(list(values) for values in zip(*keys, strict=True)))


def _schema_of(tx: AsyncConnection, table: Table) -> str | None:
    """Where `table` is for this connection: its own schema, or a rebuild's shadow or an
    export's snapshot (the connection's schema translation)."""
    assert tx.sync_connection is not None  # an open connection, inside the batch
    translate = tx.sync_connection.get_execution_options().get("schema_translate_map") or {}
    return translate.get(table.schema, table.schema)  # type: ignore[no-any-return]
