"""Must-show: one request id in the access line, the error line and the problem body, and
every line JSON when standard error is not a terminal.

The app runs as `entente serve` runs it (uvicorn, the logging set-up `serve` installs),
in a subprocess whose output goes to files, with one extra route that fails the way a bug
would: the only way to see a real 500 and its error line.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from api.structured_logs import FORMAT_ENV
from tests.api.serving import served_api

FAILING_APP = """
import sys
import uvicorn
from litestar import get
from api.app import create_app
from api.log_redaction import logging_config

@get("/failing", opt={"permission": "public"}, include_in_schema=False)
async def failing() -> None:
    raise RuntimeError("a bug, while reading /calendar.ics?token=cal_0123456789abcdef_s3cr3t")

app = create_app(sys.argv[1])
app.register(failing)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_config=logging_config())
"""


def _records(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]  # every line parses, or the test fails


async def test_a_request_id_travels_through_access_line_error_line_and_problem(
    database_url, tmp_path, monkeypatch
):
    monkeypatch.delenv(FORMAT_ENV, raising=False)
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        async with (
            served_api(database_url, stdout, stderr, script=FAILING_APP) as (base, _),
            httpx.AsyncClient(base_url=base) as http,
        ):
            failed = await http.get("/failing", headers={"X-Request-ID": "req-failing-1"})
            refused = await http.get("/dialogues")  # no key: a 401 problem
    assert failed.status_code == 500
    assert failed.json()["request_id"] == "req-failing-1"
    assert "req-failing-1" in failed.json()["detail"]
    assert "Traceback" not in failed.text
    assert refused.status_code == 401
    generated = refused.headers["X-Request-ID"]
    assert refused.json()["request_id"] == generated

    records = _records(out.read_text()) + _records(err.read_text())
    failing = [r for r in records if r.get("request_id") == "req-failing-1"]
    access = [r for r in failing if r["logger"] == "uvicorn.access"]
    assert [(a["method"], a["path"], a["status"]) for a in access] == [("GET", "/failing", 500)]
    errors = [r for r in failing if r["level"] == "error"]
    assert len(errors) == 1, failing
    assert "RuntimeError: a bug" in errors[0]["exception"]
    assert "s3cr3t" not in json.dumps(records)  # redaction holds in JSON too
    assert [r["status"] for r in records if r.get("request_id") == generated] == [401]
    # lines written outside any request (start-up) carry no request id
    assert any("request_id" not in r for r in records)
