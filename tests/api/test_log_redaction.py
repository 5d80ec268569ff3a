"""Must-show: no key, token or key-like query value reaches a log line.

The first test runs the real `entente serve` (uvicorn, access log on, the logging set-up
`serve` installs) in a subprocess, captures everything it writes, and calls it with keys
and tokens in URLs: good and bad tokens, API keys put where they do not belong, other
secret-looking parameters, unknown routes, bad queries and a malformed request. The
second sends the app's own loggers an exception that quotes a URL, through the same
configuration, as an unexpected error would be logged.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import sys

import httpx
import pytest

from api.log_redaction import REDACTED, redact
from store.api_keys import ROLES, create_key
from store.calendar_tokens import create_token, revoke_token
from tests.api.serving import ROOT, served_api


def _malformed_request(port: int, secret: str) -> None:
    """A request line uvicorn cannot parse (it logs a warning), carrying a token."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(
            f"GET /calendar.ics?token={secret} HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: nope\r\n\r\n".encode()
        )
        raw.recv(4096)


async def test_a_served_app_writes_no_key_or_token_into_any_log_line(database_url, pool, tmp_path):
    keys = {role: (await create_key(pool, f"log-{role}", [role]))[1] for role in ROLES}
    _, feed = await create_token(pool, "log test", "log-reader")
    revoked_meta, revoked = await create_token(pool, "log test revoked", "log-reader")
    await revoke_token(pool, revoked_meta.token_id)
    others = {
        name: secrets.token_urlsafe(16)
        for name in ("api_key", "access_token", "secret", "password", "signature", "apikey")
    }
    made_over_http: list[str] = []
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        async with served_api(database_url, stdout, stderr) as (base, port):
            reader = {"Authorization": f"Bearer {keys['reader']}"}
            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.get("/calendar.ics", params={"token": feed})).status_code == 200
                for token in (revoked, feed[:-3] + "xyz", "cal_0000_nope", *keys.values()):
                    for name in ("token", "key"):
                        refused = await http.get("/calendar.ics", params={name: token})
                        assert refused.status_code == 401
                listing = await http.get(
                    "/dialogues", params={"key": keys["writer"], **others}, headers=reader
                )
                assert listing.status_code == 400  # parameters /dialogues does not take
                assert not any(v in listing.text for v in (*others.values(), keys["writer"]))
                assert (await http.get("/no/such/route", params={"token": feed})).status_code == 404
                bad_cursor = await http.get(
                    "/events", params={"cursor": "x", "token": feed}, headers=reader
                )
                assert bad_cursor.status_code == 400
                unauthenticated = await http.get(
                    "/events", params={"access_token": keys["auditor"]}
                )
                assert unauthenticated.status_code == 401
                body = {"name": "made in the log test"}
                refused = await http.post(
                    "/calendar/tokens",
                    params={"secret": others["secret"]},
                    json=body,
                    headers=reader,
                )
                assert refused.status_code == 400  # a parameter the route does not take
                made = await http.post("/calendar/tokens", json=body, headers=reader)
                assert made.status_code == 201
                made_over_http.append(made.json()["token"])
                again = await http.get("/calendar.ics", params={"token": made_over_http[0]})
                assert again.status_code == 200
            await asyncio.to_thread(_malformed_request, port, feed)
    logged = out.read_text() + err.read_text()
    lines = logged.splitlines()
    # the log really holds the requests (this test would pass on an empty log otherwise)
    assert sum("/calendar.ics?token=" in line for line in lines) >= 9, logged
    assert f"token={REDACTED}" in logged and f"key={REDACTED}" in logged
    assert "Invalid HTTP request received" in logged
    values = [*keys.values(), feed, revoked, *others.values(), *made_over_http]
    values += [v.split("_", 2)[2] for v in [*keys.values(), feed, revoked, *made_over_http]]
    leaked = [line for line in lines if any(v in line for v in values)]
    assert not leaked, leaked


def test_the_apps_own_error_lines_are_redacted_too(tmp_path):
    """An unexpected error logged with its traceback, by the app's loggers and uvicorn's,
    through the configuration `serve` installs."""
    secret = "cal_0123456789abcdef_" + secrets.token_urlsafe(24)
    script = f"""
import logging, logging.config
from api.log_redaction import logging_config
logging.config.dictConfig(logging_config())
for name in ("entente.api", "litestar", "uvicorn.error", "some.library"):
    try:
        raise ValueError("could not fetch /calendar.ics?since=2021&token={secret}")
    except ValueError:
        logging.getLogger(name).exception("failed: %s", "GET /x?api_key={secret}")
logging.getLogger("uvicorn.access").info(
    '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/calendar.ics?key={secret}", "1.1", 401
)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    logged = done.stdout + done.stderr
    assert logged.count("ValueError") == 4 and logged.count("failed: GET /x?api_key=") == 4
    assert "/calendar.ics?key=[redacted]" in logged and '" 401' in logged
    assert secret not in logged and secret.split("_", 2)[2] not in logged


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "GET /calendar.ics?token=abc&since=2021 HTTP/1.1",
            "GET /calendar.ics?token=[redacted]&since=2021 HTTP/1.1",
        ),
        ("/x?party=KZ&key=ent_0a0a0a0a0a0a_s3cr3t", "/x?party=KZ&key=[redacted]"),
        (
            "/x?X-Amz-Signature=abc&client_secret=d&user_password=e",
            "/x?X-Amz-Signature=[redacted]&client_secret=[redacted]&user_password=[redacted]",
        ),
        ("next=%2Fa%3Faccess_token%3Dabc", "next=%2Fa%3Faccess_token%3D[redacted]"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        (
            "connect to postgresql://entente:pa55:w@db:5432/entente failed",
            "connect to postgresql://entente:[redacted]@db:5432/entente failed",
        ),
        ("key ent_0a0a0a0a0a0a_s3cr3t-x_y was revoked", "key ent_[redacted] was revoked"),
        (
            "GET /calendar/tokens/0123456789abcdef HTTP/1.1",
            "GET /calendar/tokens/0123456789abcdef HTTP/1.1",
        ),
        (
            "GET /sessions?party=KZ&after_position=1.2 HTTP/1.1",
            "GET /sessions?party=KZ&after_position=1.2 HTTP/1.1",
        ),
    ],
)
def test_redact(line, expected):
    assert redact(line) == expected
