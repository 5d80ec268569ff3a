"""Telling "the database cannot be reached" apart from every other error.

An outage surfaces as many exception types: the socket's (OSError, ConnectionRefused,
a timeout waiting for a pooled connection), asyncpg's (the server shutting down or not yet
accepting, a connection that died under a query) and SQLAlchemy's wrappers of all of them.
The API answers each with one 503 and the background loops restart on them without a
traceback, so the list lives here, once.
"""

from __future__ import annotations

import logging

import asyncpg

UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57P", "53300")
"""Connection exceptions, operator intervention (shutdown, cannot connect now) and
too many connections: the server, not the request, is the problem."""


def _unavailable_here(error: BaseException) -> bool:
    if isinstance(error, OSError):
        # refused, reset, timed out, no socket file; a file's own error names the file
        return getattr(error, "filename", None) is None
    if isinstance(error, asyncpg.PostgresError):
        return str(getattr(error, "sqlstate", "") or "").startswith(UNAVAILABLE_SQLSTATE_CLASSES)
    if isinstance(error, asyncpg.exceptions._base.InternalClientError):
        return True  # a connection whose server went away mid-protocol ("cannot switch state")
    if isinstance(error, asyncpg.InterfaceError):
        text = str(error)
        return "connection is closed" in text or "pool is closing" in text
    # SQLAlchemy's DBAPIError says so itself (read by name: store/ does not use SQLAlchemy)
    return getattr(error, "connection_invalidated", False) is True


def database_unavailable(error: BaseException) -> bool:
    """True when `error`, or an error it wraps, says the database cannot be reached."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if _unavailable_here(current):
            return True
        wrapped = getattr(current, "orig", None)
        pending += [
            wrapped if isinstance(wrapped, BaseException) else None,
            current.__cause__,
            current.__context__,
        ]
    return False


def summary(error: BaseException) -> str:
    """One line naming the error, for a log line that needs no traceback."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:300]}" if lines else type(error).__name__


class OutageInOneLine(logging.Filter):
    """Drops the traceback from a library's log record about an unreachable database
    (asyncpg's pool logs one per reconnect attempt), keeping the error in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and database_unavailable(error):
            record.msg = f"{record.getMessage()} ({summary(error)})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


LIBRARY_LOGGERS = ("asyncpg.pool",)


def log_outages_in_one_line() -> None:
    """Install OutageInOneLine on the libraries' loggers (idempotent)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OutageInOneLine) for f in logger.filters):
            logger.addFilter(OutageInOneLine())
