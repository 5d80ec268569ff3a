"""Structured log lines: JSON for machines, readable text on a terminal, one request id.

Every line, whoever writes it (uvicorn's access log, Litestar, our `logging` loggers or a
`structlog` logger), goes through one stdlib handler: RedactSecrets filters it first
(api/log_redaction.py), then structlog's ProcessorFormatter renders it. The request id
the middleware (api/request_context.py) assigns is bound in a context variable for the
whole request, so the access line, any error line and the problem body carry the same id.
uvicorn writes the access line from inside the app's `send`, hence within that context.

Litestar's structlog plugin is not used: its logging middleware writes a second pair of
lines per request beside uvicorn's access log, and its structlog set-up bypasses the stdlib
filter that keeps secrets out of the logs.

The access line is written on every request, so its road is short (JsonLines): a plain
stdlib record is rendered straight to the same JSON fields, without copying the record,
walking the processors or redacting twice what RedactSecrets already cleaned; the full
chain is kept for everything else (structlog's own events, tracebacks, the console).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from api.log_redaction import redact

FORMAT_ENV = "ENTENTE_LOG_FORMAT"
"""`json` or `console`; unset: JSON unless standard error is a terminal."""

_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


def json_wanted() -> bool:
    """JSON unless a person is watching (a terminal), or ENTENTE_LOG_FORMAT says."""
    chosen = os.environ.get(FORMAT_ENV, "").strip().lower()
    if chosen in ("json", "console"):
        return chosen == "json"
    return not sys.stderr.isatty()


def _access_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """uvicorn's access line as fields too (method, path, status …), not only as text."""
    args = event.pop("positional_args", ())
    if event.get("logger") == "uvicorn.access" and len(args) == len(_ACCESS_FIELDS):
        event.update(zip(_ACCESS_FIELDS, args, strict=True))
    return event


def _redact_values(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, MutableMapping):
        return {k: _redact_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_values(v) for v in value]
    return value


def _redact_event(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Last step before rendering: a traceback formatted from exc_info (the filter only
    saw the record's text) and structlog's own fields lose their secrets too."""
    return {k: _redact_values(v) for k, v in event.items()}


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


_encode_json = msgspec.json.Encoder(enc_hook=str).encode


def _json(event: Any, **_: Any) -> str:
    """structlog's JSON serializer, through msgspec (several times the standard library's)."""
    return _encode_json(event).decode()


def _timestamp(created: float) -> str:
    """A record's time as TimeStamper(fmt="iso", utc=True) writes it."""
    return datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z")


class JsonLines(structlog.stdlib.ProcessorFormatter):
    """The JSON formatter, with a short road for the commonest line: a stdlib record (the
    access log, uvicorn's and Litestar's own lines) with no traceback, whose message and
    arguments RedactSecrets has already cleaned. It gets the same fields the full chain
    gives it (timestamp, level, logger, event, the request's ids, the access fields);
    structlog's own events and records with a traceback take the full chain."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object for `record`."""
        if not isinstance(record.msg, str) or record.exc_info or record.stack_info:
            return super().format(record)
        event: dict[str, Any] = structlog.contextvars.get_contextvars()
        event["event"] = redact(record.getMessage())  # the parts were clean, the whole too
        event["logger"] = record.name
        event["level"] = record.levelname.lower()
        event["timestamp"] = _timestamp(record.created)
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            event.update(zip(_ACCESS_FIELDS, args, strict=True))
        return _json(event)


def formatter(json: bool | None = None) -> dict[str, Any]:
    """A logging.config formatter entry rendering every record through structlog."""
    as_json = json_wanted() if json is None else json
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "()": JsonLines if as_json else structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": [*_shared(), _access_fields],
        "pass_foreign_args": True,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
    }


def configure_structlog() -> None:
    """structlog loggers hand their events to the stdlib handler (filter, formatter) above."""
    structlog.configure(
        processors=[
            *_shared(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def bind_request(request_id: str, correlation_id: str) -> Mapping[str, Any]:
    """Carry the ids on every line logged in this request's context; returns the tokens
    `unbind_request` needs."""
    return structlog.contextvars.bind_contextvars(
        request_id=request_id, correlation_id=correlation_id
    )


def unbind_request(tokens: Mapping[str, Any]) -> None:
    """Restore the context as it was before the request."""
    structlog.contextvars.reset_contextvars(**tokens)


def current_request_id() -> str | None:
    """The id of the request being served here, if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None
