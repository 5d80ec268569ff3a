"""One socket write per response: uvicorn's httptools protocol with its writes coalesced.

Why: uvicorn writes a response's head and its body with two `transport.write` calls,
and uvloop sends each at once, so every small answer cost two `send()` system calls,
each carrying the loopback or network stack's work for a packet. Profiled under load
(py-spy, `entente serve`, 8 clients launching dialogues), those two writes were 29 % of
the API process's samples, more than the command itself.

Here the protocol's transport holds what is written until the event loop's next turn
(`call_soon`), so a head and a body written in the same step (every answer that is not
a stream) leave in one `send()`. A stream's head leaves on that next turn as before;
a held write never waits for anything but the loop, and past HOLD_LIMIT bytes it leaves
at once (a large body is not copied twice in memory). Closing sends what is held first.

The protocol also limits the size of a request's headers and the time they take to arrive
(api/header_limits.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from api.header_limits import HeaderLimitedHttpTools

HOLD_LIMIT = 64 * 1024
"""Bytes held before they are written at once."""


class OneWrite:
    """A transport that joins the writes of one event-loop step into one write; every
    other attribute is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hold `data` until the loop's next turn (or write at once past HOLD_LIMIT)."""
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._size += len(data)
        if self._size > HOLD_LIMIT:
            self.flush()

    def flush(self) -> None:
        """Write what is held, in one call."""
        if self._held:
            data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
            self._held.clear()
            self._size = 0
            self._transport.write(data)

    def close(self) -> None:
        """Send what is held, then close."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpTools(HeaderLimitedHttpTools):
    """uvicorn's httptools protocol writing each response in one `send()` (see above), its
    request headers limited in size and time (api/header_limits.py)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set up as uvicorn does, then hold writes through OneWrite."""
        super().connection_made(transport)
        self.transport = OneWrite(transport, self.loop)  # type: ignore[assignment]
