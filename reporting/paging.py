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


def decode_cursor(listing: str, token: str) -> tuple[Any, str]:
    """The (sort key, id) a cursor carries."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        name, key, ident = msgspec.json.decode(raw)
    except (ValueError, binascii.Error, msgspec.DecodeError, TypeError) as error:
        raise BadCursor(f"not a cursor for {listing}") from error
    if name != listing:
        raise BadCursor(f"that cursor belongs to {name}, not {listing}")
    return key, ident


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
            key = dt.date.fromisoformat(key) if _is_date(sort) else key
            last_id: Any = uuid.UUID(last) if _is_uuid(ident) else int(last)
        except (TypeError, ValueError) as error:
            raise BadCursor("not a cursor for this listing") from error
        if descending:
            query = query.where(or_(sort < key, and_(sort == key, ident < last_id)))
        else:
            query = query.where(or_(sort > key, and_(sort == key, ident > last_id)))
    order = (sort.desc(), ident.desc()) if descending else (sort.asc(), ident.asc())
    return query.order_by(*order)


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
