"""Aggregate states for projections, folded by the domain's own `evolve`.

Projections derive their rows from the same state the deciders use, so a status rule
lives in one place. A projection records, per stream, the version its rows reflect; a
state missing from memory (after a restart) is folded from the store up to exactly that
version, so the cache can always be dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.decider import Decider
from projections.tables import stream_versions
from store.aggregates import domain_events
from store.event_store import EventStore
from store.records import RecordedEvent

CACHE_SIZE = 20_000


class StreamStates:
    """Per-projection cache of (state, version) by stream, bounded, rebuilt on demand."""

    def __init__(self, store: EventStore, projection: str) -> None:
        self._store = store
        self.projection = projection
        self._cache: OrderedDict[str, tuple[Any, int]] = OrderedDict()

    def forget(self) -> None:
        """Drop everything: after a failed batch the cache may be ahead of the tables."""
        self._cache.clear()

    async def state(
        self, tx: AsyncConnection, stream_id: str, decider: Decider[Any, Any, Any]
    ) -> tuple[Any, int]:
        """The stream's state as this projection last applied it, and that version."""
        if stream_id in self._cache:
            self._cache.move_to_end(stream_id)
            return self._cache[stream_id]
        version = await tx.scalar(
            select(stream_versions.c.version).where(
                stream_versions.c.projection == self.projection,
                stream_versions.c.stream_id == stream_id,
            )
        )
        if not version:
            return decider.initial_state, 0
        records = await self._store.read_stream(stream_id, to_version=version)
        return decider.fold(domain_events(records)), int(version)

    async def advance(
        self,
        tx: AsyncConnection,
        stream_id: str,
        decider: Decider[Any, Any, Any],
        records: list[RecordedEvent],
    ) -> Any:
        """Fold `records` into the stream's state, remember it, and record the version."""
        state, version = await self.state(tx, stream_id, decider)
        fresh = [r for r in records if r.version > version]
        if not fresh:
            return state
        if fresh[0].version > version + 1:
            # Only an append inside a longer client transaction can commit out of version
            # order; fold the missing versions from the stream instead of guessing.
            fresh = await self._store.read_stream(
                stream_id, from_version=version + 1, to_version=fresh[-1].version
            )
        state = decider.fold(domain_events(fresh), state)
        version = fresh[-1].version
        self._cache[stream_id] = (state, version)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        statement = insert(stream_versions).values(
            projection=self.projection, stream_id=stream_id, version=version
        )
        await tx.execute(
            statement.on_conflict_do_update(
                index_elements=["projection", "stream_id"], set_={"version": version}
            )
        )
        return state
