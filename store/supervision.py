"""Keeping a background loop alive: start, stop, restart after any error, report its state.

A loop body owns its resources (connections, LISTEN, advisory locks) and acquires them
when it starts; when anything escapes it, the body has released what it held (its
`finally`), the supervisor logs one line, waits (exponential back-off with a cap and
jitter) and calls the body again, which connects, listens and takes ownership afresh.
Its state — running, restarting, failing, with the last error and since when, and the
time of the last progress — is what /health/ready and /projections report.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import msgspec

from store.availability import database_unavailable, summary

log = logging.getLogger("entente.supervision")

FIRST_DELAY = float(os.environ.get("ENTENTE_RESTART_FIRST_SECONDS", "0.5"))
MAX_DELAY = float(os.environ.get("ENTENTE_RESTART_MAX_SECONDS", "5"))
FAILING_AFTER = 3
"""Consecutive failed starts before a loop counts as failing rather than restarting."""

LoopState = Literal["starting", "running", "restarting", "failing", "stopped"]
Body = Callable[[asyncio.Event, Callable[[], None]], Awaitable[None]]
"""A loop body: runs until the event is set, calls the callback whenever it made progress
(finished a round, even an idle one)."""


class LoopStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a supervised loop is doing, and since when."""

    loop: str
    state: LoopState
    since: dt.datetime
    restarts: int
    last_error: str | None
    last_progress_at: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def restart_delay(failures: int, first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> float:
    """Exponential in the consecutive failures, capped, with jitter so that many workers
    that lost the same database do not all reconnect in the same instant."""
    jitter = random.uniform(0.5, 1.0)  # noqa: S311 (spreading retries, not a secret)
    return min(cap, first * 2.0 ** max(failures - 1, 0)) * jitter


class SupervisedLoop:
    """One background loop of this process, restarted whenever it fails."""

    def __init__(
        self,
        name: str,
        body: Body,
        *,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self.name = name
        self._body = body
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._state: LoopState = "starting"
        self._since = _now()
        self._failures = 0
        self._restarts = 0
        self._last_error: str | None = None
        self._last_progress_at: dt.datetime | None = None

    def start(self) -> None:
        """Run the body in the background until `stop`."""
        self._task = asyncio.create_task(self._supervise(), name=f"loop:{self.name}")

    async def stop(self, timeout: float = 10) -> None:
        """Ask the body to finish its round; cancel it if it does not within `timeout`."""
        self._stop.set()
        if self._task is None:
            return
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._enter("stopped")

    @property
    def alive(self) -> bool:
        """Started, not stopped, and made progress since its last (re)start: a loop still
        starting has not shown yet that it can reach what it needs."""
        running = self._task is not None and not self._task.done()
        return running and self._state == "running"

    def status(self) -> LoopStatus:
        """A snapshot of the loop's state for health and status endpoints."""
        return LoopStatus(
            loop=self.name,
            state=self._state,
            since=self._since,
            restarts=self._restarts,
            last_error=self._last_error,
            last_progress_at=self._last_progress_at,
        )

    def _enter(self, state: LoopState) -> None:
        if state != self._state:
            # restarting → failing is the same outage getting longer: keep when it began
            if not (state == "failing" and self._state == "restarting"):
                self._since = _now()
            self._state = state

    def _progressed(self) -> None:
        self._last_progress_at = _now()
        if self._state != "running":
            if self._failures:
                log.info("%s loop running again after %d failed starts", self.name, self._failures)
            self._failures = 0
            self._last_error = None
            self._enter("running")

    async def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                await self._body(self._stop, self._progressed)
                if self._stop.is_set():
                    break
                raise RuntimeError("the loop returned without being stopped")
            except Exception as error:  # any failure: log it, wait, start the body again
                self._failures += 1
                self._restarts += 1
                outage = database_unavailable(error)
                self._last_error = ("database unavailable: " if outage else "") + summary(error)
                self._enter("failing" if self._failures >= FAILING_AFTER else "restarting")
                delay = restart_delay(self._failures, self._first_delay, self._max_delay)
                # a bug deserves its traceback once per streak; an outage never does
                trace = self._failures == 1 and not outage
                log.warning(
                    "%s loop failed (%s); restarting in %.1f s",
                    self.name,
                    self._last_error,
                    delay,
                    exc_info=error if trace else None,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)


@contextlib.asynccontextmanager
async def supervised(*loops: SupervisedLoop) -> AsyncIterator[None]:
    """Start the loops; stop them (in reverse order) when the context closes."""
    for loop in loops:
        loop.start()
    try:
        yield
    finally:
        for loop in reversed(loops):
            await loop.stop()


@contextlib.asynccontextmanager
async def running(
    name: str, body: Body, *closing: Callable[[], Awaitable[object]]
) -> AsyncIterator[SupervisedLoop]:
    """Run `body` as the supervised loop `name` while the context is open; once it has
    stopped, close what it worked with (`closing`: a pool's close, an engine's dispose), in
    order. Every background loop (projections, exports, checkpointer, webhooks) starts here."""
    loop = SupervisedLoop(name, body)
    try:
        async with supervised(loop):
            yield loop
    finally:
        for close in closing:
            await close()
