"""`entente serve` caps the size of a request's headers (431, then closed) and the time
they take to arrive (closed), for every request of a keep-alive connection
(api/header_limits.py). Raw sockets against the real server: an HTTP client would refuse
to send most of this."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest_asyncio

from api.header_limits import HEADER_TIMEOUT_ENV, MAX_HEADER_BYTES_ENV
from tests.api.serving import served_api

TIMEOUT = 1.0
"""The header timeout the served API runs with here (ENTENTE_HEADER_TIMEOUT_SECONDS)."""
LIMIT = 64 * 1024
"""The default header limit (ENTENTE_MAX_HEADER_BYTES unset)."""
HEAD = b"GET /health/live HTTP/1.1\r\nHost: x\r\n"
COMPLETE = HEAD + b"\r\n"

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Answer = tuple[int, dict[str, str], bytes]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def port(database_url: str) -> AsyncIterator[int]:
    async with served_api(database_url, env={HEADER_TIMEOUT_ENV: str(TIMEOUT)}) as (_, port):
        yield port


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[Streams]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def response(reader: asyncio.StreamReader, within: float = 5.0) -> Answer:
    """(status, headers, body) of one response with a Content-Length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), within)
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), within)
    return int(status_line.split()[1]), headers, body


async def closed_after(reader: asyncio.StreamReader, within: float) -> float:
    """Seconds until the server closes the connection (end of stream or reset); fails
    if it is still open after `within`, or sends anything first."""
    started = time.monotonic()
    try:
        rest = await asyncio.wait_for(reader.read(), within)
    except TimeoutError:
        raise AssertionError(f"the connection is still open after {within} s") from None
    except ConnectionResetError:
        rest = b""
    assert rest == b""
    return time.monotonic() - started


def header_lines(total: int, line: int = 1000) -> bytes:
    """`total` bytes or a little more of `X-Big: aaa…` lines."""
    count = -(-total // line)
    return b"".join(b"X-Big-%d: %s\r\n" % (i, b"a" * (line - 16)) for i in range(count))


def assert_refused(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["status"] == 431
    assert problem["type"] == "urn:entente:problem:headers-too-large"


async def test_a_request_within_the_limits_is_answered(port):
    async with connection(port) as (reader, writer):
        writer.write(HEAD + header_lines(LIMIT // 2) + b"\r\n")
        status, _, body = await response(reader)
    assert status == 200
    assert json.loads(body) == {"status": "alive"}


async def test_small_headers_with_a_large_body_in_one_read_are_not_refused(port):
    body = b"x" * (3 * LIMIT)  # the reads holding the headers are past the limit
    async with connection(port) as (reader, writer):
        writer.write(HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status, _, answer = await response(reader)
    # past the header limits to the app, which refuses a body on a route that takes none
    assert (status, json.loads(answer)["type"]) == (400, "urn:entente:problem:invalid-request")


async def test_complete_headers_over_the_limit_get_431_and_the_connection_closes(port):
    async with connection(port) as (reader, writer):
        writer.write(HEAD + b"X-Big: " + b"a" * (LIMIT + 1000) + b"\r\n\r\n")
        assert_refused(*await response(reader))
        await closed_after(reader, 2.0)


async def test_unfinished_headers_over_the_limit_get_431_at_once_and_the_connection_closes(
    port,
):
    """The server answers as soon as the limit is passed, not when the headers end."""
    async with connection(port) as (reader, writer):
        writer.write(HEAD + header_lines(LIMIT - 10_000))
        await writer.drain()
        await asyncio.sleep(0.3)  # taken, under the limit: nothing to answer yet
        writer.write(header_lines(20_000))  # past it, and never finished
        assert_refused(*await response(reader, within=TIMEOUT / 2))
        await closed_after(reader, 2.0)


async def test_a_flood_of_header_lines_is_cut_off_never_answered_200(port):
    """The outside tester's case, smaller: header lines of 1 MB, sent as fast as the
    connection takes them, until the server stops reading."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    started = time.monotonic()
    try:
        writer.write(HEAD)
        for _ in range(40):
            writer.write(b"X-Big: " + b"a" * 1_000_000 + b"\r\n")
            await asyncio.wait_for(writer.drain(), 5)
        writer.write(b"\r\n")
        await asyncio.wait_for(writer.drain(), 5)
        received = await asyncio.wait_for(reader.read(), 5)
        cut_off = False
    except (ConnectionResetError, BrokenPipeError):
        cut_off = True
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            received = await asyncio.wait_for(reader.read(), 2)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    assert b" 200 " not in received
    assert cut_off or received.startswith(b"HTTP/1.1 431 ")
    assert time.monotonic() - started < 5


async def test_headers_that_stall_close_the_connection_after_the_timeout(port):
    async with connection(port) as (reader, writer):
        writer.write(HEAD + b"X-Stalled: yes\r\n")
        waited = await closed_after(reader, TIMEOUT + 3)
    assert waited > TIMEOUT - 0.2


async def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(port):
    async with connection(port) as (reader, _):
        await closed_after(reader, TIMEOUT + 3)


async def test_headers_trickled_a_line_at_a_time_are_closed_after_the_timeout(port):
    """Bytes keep coming, but the headers never end: the clock is not reset by them."""
    async with connection(port) as (reader, writer):
        writer.write(HEAD)
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while not reader.at_eof() and time.monotonic() - started < TIMEOUT + 3:
                writer.write(b"X-Slow: a\r\n")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    assert await asyncio.wait_for(reader.read(1), 0.2) == b""
        elapsed = time.monotonic() - started
    assert reader.at_eof() or reader.exception() is not None
    assert elapsed < TIMEOUT + 2


async def test_each_request_of_a_keep_alive_connection_has_the_full_timeout(port):
    """Answered requests spread over several timeouts: the clock runs per request."""
    async with connection(port) as (reader, writer):
        for _ in range(4):
            writer.write(COMPLETE)
            status, _, _ = await response(reader)
            assert status == 200
            await asyncio.sleep(TIMEOUT * 0.6)


async def test_a_keep_alive_connection_whose_second_request_stalls_is_closed(port):
    async with connection(port) as (reader, writer):
        writer.write(COMPLETE)
        status, _, _ = await response(reader)
        assert status == 200
        await asyncio.sleep(TIMEOUT * 0.6)  # idle between requests (keep-alive: 5 s)
        writer.write(HEAD + b"X-Stalled: yes\r\n")
        waited = await closed_after(reader, TIMEOUT + 3)  # before the keep-alive timeout
    assert waited > TIMEOUT - 0.2


async def test_the_limit_is_set_by_the_environment(database_url):
    env = {MAX_HEADER_BYTES_ENV: "2048"}
    async with served_api(database_url, env=env) as (_, port):
        async with connection(port) as (reader, writer):
            writer.write(HEAD + header_lines(1000) + b"\r\n")
            assert (await response(reader))[0] == 200
        async with connection(port) as (reader, writer):
            writer.write(HEAD + header_lines(3000) + b"\r\n")
            status, headers, body = await response(reader)
            assert_refused(status, headers, body)
            assert "2048 bytes" in json.loads(body)["detail"]
