"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every request it gets.

A minimal HTTP/1.1 server on asyncio (one request per connection is enough for httpx,
which reconnects when the server closes). Each request takes the next scripted answer:
a status code, "timeout" (hold the request without answering) or "close" (drop the
connection); once the script is used up it answers `default`. `stop()` closes the
listening socket, so the port refuses connections until `start()` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    """One request as the receiver saw it, and what it answered."""

    headers: dict[str, str]
    body: bytes
    answer: int | str
    at: float = field(default_factory=time.monotonic)

    @functools.cached_property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = json.loads(self.body)
        return events

    @functools.cached_property
    def ids(self) -> list[str]:
        return [e["id"] for e in self.events]


class Receiver:
    """A webhook receiver the test controls; `url` is where to subscribe it."""

    def __init__(self, default: int | str = 200, delay: float = 0.0, hold: float = 30.0) -> None:
        self.default: int | str = default
        self.delay = delay
        self.hold = hold
        self.script: list[int | str] = []
        self.requests: list[Received] = []
        self.arrived = asyncio.Event()
        self.answering = asyncio.Event()
        self.in_flight = 0
        self.delivered_events = 0
        self.first_seen: dict[str, float] = {}
        """Event id → when it first arrived in a request answered 2xx."""
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def delivered(self) -> list[Received]:
        """The requests answered 2xx."""
        return [r for r in self.requests if isinstance(r.answer, int) and r.answer < 300]

    def delivered_ids(self) -> list[str]:
        return [i for r in self.delivered() for i in r.ids]

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Until `count` events were answered 2xx (generous: recovery waits only)."""
        deadline = time.monotonic() + timeout
        while self.delivered_events < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.delivered_events} of {count} events arrived in {timeout} s"
                )
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.2)

    async def next_request(self, timeout: float = 10.0) -> None:
        """Until the next request was answered (or held, or dropped)."""
        self.arrived.clear()
        await asyncio.wait_for(self.arrived.wait(), timeout)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            arrived_at = time.monotonic()
            answer = self.script.pop(0) if self.script else self.default
            self.in_flight += 1
            self.answering.set()
            try:
                if self.delay:
                    await asyncio.sleep(self.delay)
                if answer == "timeout":
                    self.requests.append(Received(headers, body, answer, arrived_at))
                    self.arrived.set()
                    await asyncio.sleep(self.hold)
                    return
                if answer == "close":
                    self.requests.append(Received(headers, body, answer, arrived_at))
                    return
                status = f"HTTP/1.1 {answer} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
                writer.write(status.encode() + b"ok")
                await writer.drain()
                received = Received(headers, body, answer, arrived_at)
                self.requests.append(received)
                if isinstance(answer, int) and answer < 300:
                    self.delivered_events += len(received.ids)
                    for event_id in received.ids:
                        self.first_seen.setdefault(event_id, received.at)
            finally:
                self.in_flight -= 1
                self.arrived.set()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
