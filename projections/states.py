"""Aggregate states for projections, folded by the domain's own `evolve`.

Projections derive their rows from the same state the deciders use, so a status rule
lives in one place. A projection records, per stream, the version its rows reflect; a
state missing from memory (after a restart) is folded from the store up to exactly that
version, so the cache can always be dropped. Versions are written once per batch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.decider import Decider
from projections.tables import stream_versions
from store.aggregates import domain_events
from store.event_store import EventStore
from store.records import RecordedEvent

CACHE_SIZE = 50_000


def by_stream(batch: Sequence[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    """The batch grouped by stream, each group in version order, streams in first-seen order."""
    groups: dict[str, list[RecordedEvent]] = {}
    for record in batch:
        groups.setdefault(record.stream_id, []).append(record)
    return groups


class StreamStates:
    """Per-projection cache of (state, version) by stream, bounded, rebuilt on demand."""

    def __init__(self, store: EventStore, projection: str) -> None:
        self._store = store
        self.projection = projection
        self._cache: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._unsaved: dict[str, int] = {}

    def forget(self) -> None:
        """Drop everything: after a failed batch the cache may be ahead of the tables."""
        self._cache.clear()
        self._unsaved.clear()

    async def prepare(
        self, tx: AsyncConnection, stream_ids: Iterable[str], decider: Decider[Any, Any, Any]
    ) -> None:
        """Make every named stream's state available, with one query for the lot."""
        missing = [s for s in dict.fromkeys(stream_ids) if s not in self._cache]
        if not missing:
            return
        rows = await tx.execute(
            select(stream_versions.c.stream_id, stream_versions.c.version).where(
                stream_versions.c.projection == self.projection,
                stream_versions.c.stream_id.in_(missing),
            )
        )
        known = {row.stream_id: int(row.version) for row in rows}
        for stream_id in missing:
            version = known.get(stream_id, 0)
            state = decider.initial_state
            if version:
                records = await self._store.read_stream(stream_id, to_version=version)
                state = decider.fold(domain_events(records))
            self._remember(stream_id, state, version)

    def state(self, stream_id: str) -> tuple[Any, int]:
        """A prepared stream's state and the version it reflects."""
        self._cache.move_to_end(stream_id)
        return self._cache[stream_id]

    async def advance(
        self, stream_id: str, decider: Decider[Any, Any, Any], records: list[RecordedEvent]
    ) -> Any:
        """Fold `records` into a prepared stream's state and remember the new version."""
        state, version = self.state(stream_id)
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
        self._remember(stream_id, state, fresh[-1].version)
        self._unsaved[stream_id] = fresh[-1].version
        return state

    async def fold_batch(
        self,
        tx: AsyncConnection,
        batch: Sequence[RecordedEvent],
        decider: Decider[Any, Any, Any],
    ) -> list[Any]:
        """The new state of every stream the batch touches, in first-touched order."""
        groups = by_stream(batch)
        await self.prepare(tx, groups, decider)
        return [await self.advance(s, decider, records) for s, records in groups.items()]

    async def flush(self, tx: AsyncConnection) -> None:
        """Record the versions this batch reached, in the batch's transaction."""
        if not self._unsaved:
            return
        statement = insert(stream_versions)
        await tx.execute(
            statement.on_conflict_do_update(
                index_elements=["projection", "stream_id"],
                set_={"version": statement.excluded.version},
            ),
            [
                {"projection": self.projection, "stream_id": s, "version": v}
                for s, v in self._unsaved.items()
            ],
        )
        self._unsaved.clear()

    def _remember(self, stream_id: str, state: Any, version: int) -> None:
        self._cache[stream_id] = (state, version)
        self._cache.move_to_end(stream_id)
        while len(self._cache) > CACHE_SIZE:
            evicted, entry = self._cache.popitem(last=False)
            if evicted in self._unsaved:  # never evict what the batch has yet to record
                self._cache[evicted] = entry
                break
