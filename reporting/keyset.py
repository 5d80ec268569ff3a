"""Keyset pagination: an opaque cursor holds the last row's sort key and id."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, and_, or_

MAX_LIMIT = 500


class BadCursor(ValueError):
    """A cursor this service did not issue (or for another listing)."""


def encode_cursor(listing: str, key: Any, ident: Any) -> str:
    """Opaque to clients; it names the listing so it cannot be replayed on another one."""
    raw = msgspec.json.encode([listing, _plain(key), str(ident)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | uuid.UUID):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return value


_CURSOR = msgspec.json.Decoder(tuple[str, int | str | None, str])
"""What `encode_cursor` writes, and nothing else: a forged cursor of nested arrays is
refused at its first bracket instead of being decoded level by level (RecursionError)."""
MAX_CURSOR = 2048
"""Characters: far more than any sort key this service writes."""


def decode_cursor(listing: str, token: str) -> tuple[Any, str]:
    """The (sort key, id) a cursor carries."""
    try:
        if len(token) > MAX_CURSOR:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        name, key, ident = _CURSOR.decode(raw)
    except (ValueError, binascii.Error, msgspec.DecodeError, TypeError) as error:
        raise BadCursor(f"not a cursor for {listing}") from error
    if name != listing:
        raise BadCursor(f"that cursor belongs to {name}, not {listing}")
    if not (_scalar(key) and _scalar(ident)) or ident is None:
        raise BadCursor(f"not a cursor for {listing}")
    return key, ident


def _scalar(value: Any) -> bool:
    """What `encode_cursor` writes: null (a key only), a whole number or NUL-free text; a
    forged cursor holding anything else must not reach PostgreSQL."""
    if isinstance(value, str):
        return "\x00" not in value
    return value is None or type(value) is int


def after_cursor(
    query: Select[Any],
    sort: ColumnElement[Any],
    ident: ColumnElement[Any],
    cursor: tuple[Any, str] | None,
    *,
    descending: bool,
) -> Select[Any]:
    """Order by (sort, id) and start after the cursor's row."""
    if cursor is not None:
        key, last = cursor
        try:
            key = _typed_like(sort, key)
            last_id: Any = _typed_like(ident, last)
        except (TypeError, ValueError, AttributeError) as error:
            raise BadCursor("not a cursor for this listing") from error
        query = query.where(_after(sort, ident, key, last_id, descending=descending))
    order = (sort.desc(), ident.desc()) if descending else (sort.asc(), ident.asc())
    return query.order_by(*order)


def _after(
    sort: ColumnElement[Any], ident: ColumnElement[Any], key: Any, last: Any, *, descending: bool
) -> ColumnElement[bool]:
    """Rows after (key, last) in PostgreSQL's order, where NULL keys sort last ascending
    and first descending: a page may end on a row without a date and the next must go on."""
    if descending:
        if key is None:
            return or_(sort.is_not(None), and_(sort.is_(None), ident < last))
        return or_(sort < key, and_(sort == key, ident < last))
    if key is None:
        return and_(sort.is_(None), ident > last)
    return or_(sort > key, and_(sort == key, ident > last), sort.is_(None))


MAX_BIGINT = 2**63 - 1


def _typed_like(column: ColumnElement[Any], value: Any) -> Any:
    """A cursor's value as the column's own type, or ValueError: a forged cursor must
    not reach PostgreSQL as a value of another type (or an integer it cannot hold)."""
    if value is None:
        return None
    if _is_date(column):
        return dt.date.fromisoformat(value)
    if _is_uuid(column):
        return uuid.UUID(value)
    wanted = _python_type(column)
    if wanted is int:
        number = int(value) if isinstance(value, str) else value
        if type(number) is not int or not -MAX_BIGINT - 1 <= number <= MAX_BIGINT:
            raise ValueError("not a bigint")
        return number
    if wanted is str and not isinstance(value, str):
        raise ValueError("not text")
    return value


def _python_type(column: ColumnElement[Any]) -> Any:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _is_date(column: ColumnElement[Any]) -> bool:
    try:
        return column.type.python_type is dt.date
    except NotImplementedError:
        return False


def _is_uuid(column: ColumnElement[Any]) -> bool:
    try:
        return column.type.python_type is uuid.UUID
    except NotImplementedError:
        return False
