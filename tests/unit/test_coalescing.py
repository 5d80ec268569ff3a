"""A response's head and body written in one step leave in one write (api/coalescing.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from api.coalescing import HOLD_LIMIT, OneWrite


class Recording:
    """A transport that records what reaches it, in order."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def write(self, data: bytes) -> None:
        self.events.append(bytes(data))

    def close(self) -> None:
        self.events.append("closed")

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def test_writes_of_one_step_leave_together_on_the_next_turn():
    sink = Recording()
    transport = OneWrite(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b'{"ok":true}')
    assert sink.events == []
    await asyncio.sleep(0)
    assert sink.events == [b'HTTP/1.1 200 OK\r\n\r\n{"ok":true}']
    transport.write(b"next")  # a later step: a write of its own
    await asyncio.sleep(0)
    assert sink.events[1:] == [b"next"]


async def test_a_large_write_leaves_at_once_and_close_sends_what_is_held():
    sink = Recording()
    transport = OneWrite(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"head")
    transport.write(b"x" * HOLD_LIMIT)
    assert sink.events == [b"head" + b"x" * HOLD_LIMIT]
    transport.write(b"last")
    transport.close()
    assert sink.events[1:] == [b"last", "closed"]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert sink.events[1:] == [b"last", "closed"]
    assert transport.get_extra_info("peername") == "info:peername"
