"""Draining reads the next page of the log while it applies the current one: the rows and
the checkpoints stay what they are without it, while the log grows, when a batch fails,
and a page read ahead is used only by the pass that starts where it was read from."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from benchmarks.workload import dialogue_story
from projections.registry import PROJECTIONS
from projections.runner import ReadAhead, Target, read_page
from projections.states import StreamStates
from service.handling import to_new_event
from store import START, Cursor
from store.records import Page, RecordedEvent
from tests.integration.read_models import assert_same, snapshot
from tests.integration.test_projection_determinism import (
    DIALOGUES,
    Crash,
    Crashing,
    Register,
    decided,
    fresh_register,
    opening,
    readable,
    rebuild_all,
)
from tests.integration.test_projection_passes import CountingStore

NAMES = [p.name for p in PROJECTIONS]


class Appending:
    """A projection that appends the next decided events to the log inside its batch, so
    the log grows while the next page is being read ahead."""

    def __init__(
        self, inner: Crashing, appends: list[tuple[str, int, list[Any]]], register: Register
    ):
        self.inner = inner
        self.name = inner.name
        self.tables: tuple[Table, ...] = inner.tables
        self.stream_prefixes: tuple[str, ...] = inner.stream_prefixes
        self._appends = appends
        self._register = register

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        if self._appends:
            stream_id, version, events = self._appends.pop(0)
            new = [to_new_event(event) for event in events]
            await self._register.store.append(stream_id, new, version, {"actor": "test"})
        await self.inner.apply(tx, batch, states)


def reading_ahead() -> list[asyncio.Task[Any]]:
    """Reads ahead still running (or never awaited)."""
    return [t for t in asyncio.all_tasks() if "read_page" in repr(t.get_coro())]


@pytest.mark.parametrize(("batch_size", "crash_at"), [(1, 3), (4, 0), (7, None), (50, 1)])
async def test_draining_while_the_log_grows_and_a_batch_fails_matches_a_rebuild(
    postgres_url: str, template_database: str, batch_size: int, crash_at: int | None
):
    story = list(dialogue_story(random.Random(batch_size), DIALOGUES))
    openings = [command for k in range(DIALOGUES) for command in opening(k)]
    appends = decided([*openings, *story])
    first, later = appends[: len(appends) // 2], appends[len(appends) // 2 :]
    async with fresh_register(postgres_url, template_database) as register:
        for stream_id, version, events in first:
            new = [to_new_event(event) for event in events]
            await register.store.append(stream_id, new, version, {"actor": "test"})
        await readable(register)
        crashing = [Crashing(p) for p in PROJECTIONS]
        crashing[1].crash_in = crash_at
        runner = register.runner(batch_size, [Appending(p, later, register) for p in crashing])
        await runner.ensure_checkpoints()

        async def drain() -> None:
            """Catch up; the one failing batch stops the draining (it is tried again)."""
            try:
                await runner.catch_up()
            except Crash:
                assert crash_at is not None
            assert not reading_ahead(), "a draining leaves no read behind, even failed"

        while later:  # the rest is appended by the batches themselves
            await drain()
        await readable(register)
        await drain()
        await drain()
        assert crashing[1].crash_in is None
        assert (
            await register.pool.fetchval(
                "SELECT count(DISTINCT (transaction_id, position))"
                " FROM projection_state.checkpoints"
            )
            == 1
        ), "every projection caught up to the same place"
        live = await snapshot(register.pool)

        await rebuild_all(register, batch_size=100_000)
        rebuilt = await snapshot(register.pool)
    assert sum(map(len, rebuilt.values())) > len(appends)
    assert_same(live, rebuilt)


async def test_a_page_read_ahead_serves_only_the_read_it_is(
    postgres_url: str, template_database: str
):
    async with fresh_register(postgres_url, template_database) as register:
        for stream_id, version, events in decided([c for k in range(2) for c in opening(k)]):
            new = [to_new_event(event) for event in events]
            await register.store.append(stream_id, new, version, {"actor": "test"})
        await readable(register)
        store = CountingStore(register.pool)
        targets = [Target(p, store) for p in PROJECTIONS]
        first = await store.read_all(START, limit=2, decoded=False)
        store.reads = 0

        def positions(page: Page) -> tuple[list[int], Cursor]:
            return [e.position for e in page.events], page.cursor

        ahead = ReadAhead(store, targets, 2, None)
        ahead.start(START)
        assert positions(await ahead.take(START)) == positions(first)
        assert store.reads == 1, "taken, not read again"
        ahead.start(START)
        await asyncio.sleep(0)  # the read ahead has begun
        page = await ahead.take(first.cursor)  # a pass that starts elsewhere
        assert store.reads == 3, "the page read ahead was dropped and the right one read"
        assert positions(page) == positions(await read_page(store, first.cursor, targets, 2, None))
        ahead.start(first.cursor)
        await ahead.cancel()
        assert not reading_ahead()
