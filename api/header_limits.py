"""A cap on the size of a request's headers and on the time they take to arrive.

Why: uvicorn's httptools protocol, unlike its h11 one, keeps every header line it is sent
and waits for the end of the headers as long as the client likes. A client could make one
process hold hundreds of megabytes (400 header lines of 1 MB each were accepted and answered
200), or hold a connection open for ever by never finishing its headers, or by sending one
line a second.

Here, per connection:

- Size: every read the server takes while a request's headers are incomplete counts, from
  the read in which the request begins. Once more than MAX_HEADER_BYTES (ENTENTE_MAX_HEADER_BYTES,
  default 64 KiB) have come without the headers ending, the server answers 431 (a
  problem+json body, `Connection: close`) and closes the connection at once, without
  reading more. When the headers end in a read that takes the count past the limit, the
  parsed request line and fields are measured (the read may also carry the start of the
  body) and a block over the limit is answered 431 the same way, through uvicorn's own
  response cycle, without the app ever seeing it.
- Time: a request's headers must be complete within HEADER_TIMEOUT seconds
  (ENTENTE_HEADER_TIMEOUT_SECONDS, default 10) of the connection opening (its first request)
  or of the request's first bytes (every later request on a keep-alive connection; the idle
  time before them is uvicorn's keep-alive timeout). Past it the connection is closed.

Cost on the hot path: a request whose headers arrive in one read (nearly all of them) adds a
length store, an addition and a comparison; no timer is set for it. A timer is set when a
connection opens and when a request's headers are still incomplete at the end of a read,
and cancelled when they end.

A read that carries the end of one request and the beginning of the next one (HTTP
pipelining) counts in full for the next one's headers, so a pipelined upload of nearly the
limit followed in the same read by an unfinished request could be refused; no HTTP client
in use pipelines uploads.
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from store.settings import positive_number

MAX_HEADER_BYTES_ENV = "ENTENTE_MAX_HEADER_BYTES"
HEADER_TIMEOUT_ENV = "ENTENTE_HEADER_TIMEOUT_SECONDS"


MAX_HEADER_BYTES = int(positive_number(MAX_HEADER_BYTES_ENV, str(64 * 1024), whole=True))
"""The most bytes a request's line and header fields may take."""
HEADER_TIMEOUT = positive_number(HEADER_TIMEOUT_ENV, "10")
"""Seconds a request's headers may take to arrive."""

STATUS = 431
BODY = json.dumps(
    {
        "type": PROBLEM_BASE + "headers-too-large",
        "title": "The request's header fields are too large",
        "status": STATUS,
        "detail": "the request line and header fields may take at most "
        f"{MAX_HEADER_BYTES} bytes; the connection is closed",
    }
).encode()
HEADERS = [
    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
    (b"content-length", str(len(BODY)).encode()),
    (b"connection", b"close"),
]


async def refuse(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI app answering a request whose complete headers are over the limit."""
    await send({"type": "http.response.start", "status": STATUS, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY, "more_body": False})


class HeaderLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time limit on request headers."""

    max_header_bytes = MAX_HEADER_BYTES
    header_timeout = HEADER_TIMEOUT

    # Per connection: the current read's length; the bytes counted for the current request's
    # headers (None once they are complete, until the next request begins); the timer.
    _read = 0
    _header_bytes: int | None = None
    _header_timer: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set up as uvicorn does; the first request's headers are due from now."""
        super().connection_made(transport)
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the timer, then as uvicorn does."""
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does; count the read if the headers are still incomplete."""
        self._read = len(data)
        super().data_received(data)
        if self._header_bytes is not None:
            self._headers_incomplete()

    def _headers_incomplete(self) -> None:
        """A read ended inside a request's headers: refuse it past the limit, else make
        sure its timer runs."""
        if self.transport.is_closing():
            return
        self._header_bytes = (self._header_bytes or 0) + self._read
        if self._header_bytes > self.max_header_bytes:
            self._refuse_now()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def on_message_begin(self) -> None:
        """A request begins: its header bytes count from this read on."""
        super().on_message_begin()
        self._header_bytes = 0

    def on_headers_complete(self) -> None:
        """Headers complete: stop the timer, and answer 431 through uvicorn's cycle if they
        are too large (measured only when the reads they came in are)."""
        counted = (self._header_bytes or 0) + self._read
        self._header_bytes = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if counted <= self.max_header_bytes or self._header_size() <= self.max_header_bytes:
            super().on_headers_complete()
            return
        self.logger.warning("Request header fields too large.")
        app, self.app = self.app, refuse
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def _header_size(self) -> int:
        """The parsed request line and header fields' size in bytes, as sent but for
        optional whitespace."""
        line = len(self.parser.get_method()) + len(self.url) + len(b"  HTTP/1.1\r\n")
        return line + sum(len(name) + len(value) + 4 for name, value in self.headers) + 2

    def _refuse_now(self) -> None:
        """Answer 431 and close, the headers unfinished (no request for the app to see)."""
        self.logger.warning("Request header fields too large; connection closed.")
        head = [STATUS_LINE[STATUS]]
        for name, value in [*self.server_state.default_headers, *HEADERS]:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend([b"\r\n", BODY])
        self.transport.write(b"".join(head))
        self.transport.close()
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        """The headers did not arrive in time: close, unless the server itself stopped
        reading (a pipelined request waits for the one before it), then wait again."""
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)
            return
        self.transport.close()
