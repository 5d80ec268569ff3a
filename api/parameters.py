"""Query and path parameters PostgreSQL would choke on, refused as 400 problems first.

Litestar checks a parameter's type; these check what the type lets through and the
database cannot take: NUL characters and unbounded text, times without a zone or beyond
the year 9999 once in UTC, years past what an integer column holds.
"""

from __future__ import annotations

import datetime as dt

from api.problems import problem

MAX_TEXT = 200
MAX_COUNT = 2**53
"""The largest log position or tree size a route takes: far beyond any log, and exact as a
JSON number (and as the API document's bound) in every client, so a client that trusts
the document never sends a value the server refuses."""
MAX_KNOWN_SIZES = 16
"""`known_size` values one audit bundle takes (a consistency proof for each)."""
FIRST_YEAR, LAST_YEAR = 1, 9999


def whole(pattern: str) -> str:
    """`pattern` (anchored with ^ and $) held to the whole value. Python's `$` also
    matches before a final newline, so "name\n" passed `^[a-z]+$` and reached the
    database's CHECK (a 500); `(?!\n)` refuses it and means nothing to the document's
    ECMA-262 readers, where `$` is the end."""
    return pattern + "(?!\n)"


def text(value: str | None, name: str, max_length: int = MAX_TEXT) -> str | None:
    """Free text that is short and storable (PostgreSQL refuses NUL in text)."""
    if value is not None and (len(value) > max_length or "\x00" in value):
        raise problem(400, f"{name} is at most {max_length} characters, without NUL")
    return value


def moment(value: dt.datetime | None, name: str) -> dt.datetime | None:
    """A recorded-time bound: it needs a zone (the record's clock is UTC, a naive time would
    be read in the server's zone) and must stay within years 1 to 9999 in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise problem(400, f"{name} needs a time zone, e.g. 2022-03-01T00:00:00Z")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise problem(
            400, f"{name} is outside the years {FIRST_YEAR} to {LAST_YEAR} once in UTC"
        ) from None
