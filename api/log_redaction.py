"""Secrets never reach a log line: a logging filter on every handler `entente serve` has.

The access log writes each request line whole, query string included, failed attempts
too; a calendar token in `?token=` (or an API key someone put in `?key=`) would sit in
every log file, log shipper and backup. The filter rewrites each record before any
handler formats it: the value of every key-like query parameter (`key`, `token`,
`api_key`, `access_token`, `secret`, `password`, `signature` …), anything shaped like an
Entente key or calendar token, the password of a URL (`postgresql://user:…@host`) and
bearer credentials become `[redacted]`, in the
message, its arguments and a logged exception's traceback alike.
"""

from __future__ import annotations

import copy
import logging
import logging.config
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

_KEY_LIKE_WORDS = r"key|token|secret|passw(?:or)?d|pwd|signature|sig|credential|auth"
_NAME = rf"[\w.\-\[\]]*(?:{_KEY_LIKE_WORDS})[\w.\-\[\]]*"
_PARAMETER = re.compile(rf"(?i)((?:^|(?<=[?&;\s,\"'(])|%26|%3f)(?:{_NAME})(?:=|%3d))([^&;#\s\"']*)")
_TOKEN = re.compile(r"\b(ent|cal)_[0-9a-f]{8,32}_[A-Za-z0-9_\-]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/\s@]+:)[^@\s/]+@")


def _may_hold_a_secret(text: str) -> bool:
    """Whether any pattern below could match: each needs one of these marks (`=` or `%3d`
    for a parameter, `ent_`/`cal_` for a token, `://` for a URL, `bearer`), and most log
    text (methods, paths, ids, statuses) has none, so it skips the four expressions."""
    if "=" in text or "_" in text or "://" in text:
        return True
    lowered = text.lower()
    return "%3d" in lowered or "bearer" in lowered


def redact(text: str) -> str:
    """`text` with every key-like parameter value, key, token, URL password and bearer
    credential replaced by `[redacted]`."""
    if not _may_hold_a_secret(text):
        return text
    text = _PARAMETER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _TOKEN.sub(lambda m: f"{m.group(1)}_{REDACTED}", text)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def _redacted(value: Any) -> Any:
    """A log argument made safe; numbers stay numbers (for %d), anything else is text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(value if isinstance(value, str) else str(value))


class RedactSecrets(logging.Filter):
    """Rewrites each record in place (message, arguments, traceback) and lets it pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always True: the record is kept, only its secrets go."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        elif isinstance(record.msg, dict):
            pass  # a structlog event: api/structured_logs.py redacts it when rendering
        else:
            record.msg = redact(str(record.msg))
        if isinstance(record.args, Mapping):
            record.args = {k: _redacted(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(v) for v in record.args)
        colour = getattr(record, "color_message", None)
        if isinstance(colour, str):
            record.color_message = redact(colour)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def logging_config() -> dict[str, Any]:
    """uvicorn's logging set-up with RedactSecrets on every handler, and the root and
    `litestar` loggers (where the app's own lines go) sent through a filtered handler;
    every handler renders through structlog (JSON off a terminal, api/structured_logs.py)."""
    from uvicorn.config import LOGGING_CONFIG

    from api.structured_logs import configure_structlog, formatter

    configure_structlog()
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_secrets": {"()": RedactSecrets}}
    config["formatters"] = {name: formatter() for name in ("default", "access", "app")}
    config["handlers"]["app"] = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "app",
    }
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_secrets"]
    config["loggers"]["litestar"] = {"handlers": ["app"], "level": "INFO", "propagate": False}
    config["root"] = {"handlers": ["app"], "level": "INFO"}
    return config


def install() -> None:
    """Configure logging as `serve` does, for processes without uvicorn (`entente worker`),
    whose lines may quote a database URL."""
    logging.config.dictConfig(logging_config())
