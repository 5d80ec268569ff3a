"""The short road for plain log records (api/structured_logs.py JsonLines) writes the
same fields as the full structlog chain, secrets redacted, the request's ids included."""

from __future__ import annotations

import json
import logging

import structlog

from api.log_redaction import RedactSecrets
from api.structured_logs import JsonLines, bind_request, formatter, unbind_request


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    assert RedactSecrets().filter(record)  # as the handler's filter does first
    return record


def _full_chain() -> logging.Formatter:
    entry = {k: v for k, v in formatter(json=True).items() if k != "()"}
    return structlog.stdlib.ProcessorFormatter(**entry)


def test_the_short_road_renders_what_the_full_chain_renders():
    entry = formatter(json=True)
    assert entry["()"] is JsonLines
    short = JsonLines(**{k: v for k, v in entry.items() if k != "()"})
    args = ("127.0.0.1:5000", "GET", "/calendar.ics?token=cal_0123456789abcdef_s3cr3t", "1.1", 401)
    tokens = bind_request("req-1", "corr-1")
    try:
        lines = [
            json.loads(f.format(_record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', *args)))
            for f in (short, _full_chain())
        ]
    finally:
        unbind_request(tokens)
    for line in lines:
        assert line.pop("timestamp").endswith("Z")
    assert lines[0] == lines[1]
    assert lines[0]["request_id"] == "req-1" and lines[0]["status"] == 401
    assert lines[0]["path"] == "/calendar.ics?token=[redacted]"
    assert "s3cr3t" not in json.dumps(lines)


def test_a_message_whose_parts_were_clean_is_redacted_whole():
    short = JsonLines(**{k: v for k, v in formatter(json=True).items() if k != "()"})
    line = json.loads(short.format(_record("some.library", "%s=%s", "token", "abc123")))
    assert line["event"] == "token=[redacted]"
