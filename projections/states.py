"""Aggregate states for projections, folded by the domain's own `evolve`.

Projections derive their rows from the same state the deciders use, so a status rule
lives in one place. A projection records, per stream, the version its rows reflect; a
state missing from memory (after a restart) is folded from the store up to exactly that
version, so the cache can always be dropped. Versions are written once per batch.

Read models must be a function of the log, whatever the batches: folding hands each
projection every event with the stream's state just before and just after it (`Step`),
so a row about an event is computed from that event's own state, never from where the
batch happened to end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.codec import decode_payload
from domain.decider import Decider
from domain.events import Event
from projections.tables import stream_versions
from store.event_store import EventStore
from store.records import Cursor, RecordedEvent

CACHE_SIZE = 50_000

_TABLE = f"{stream_versions.schema}.{stream_versions.name}"
# Sent as they are, the streams as one array parameter: through SQLAlchemy, an IN list or
# an executemany of thousands of streams per batch costs more CPU than the batch's rows.
_VERSIONS_SQL = f"""SELECT stream_id, version FROM {_TABLE}
WHERE projection = $1 AND stream_id = ANY($2::text[])"""
_SAVE_VERSIONS_SQL = f"""INSERT INTO {_TABLE} (projection, stream_id, version)
SELECT $1, s, v FROM unnest($2::text[], $3::bigint[]) AS u (s, v)
ON CONFLICT (projection, stream_id) DO UPDATE SET version = excluded.version"""


async def driver(tx: AsyncConnection) -> Any:
    """The asyncpg connection under the caller's transaction, for statements sent as they
    are: inside the same transaction (and savepoint) as everything else of the batch."""
    return (await tx.get_raw_connection()).driver_connection


def by_stream(batch: Sequence[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    """The batch grouped by stream, each group in version order, streams in first-seen order.

    The global order is commit order, which can differ from a stream's version order when
    an append ran inside a longer client transaction; the sort makes that harmless.
    """
    groups: dict[str, list[RecordedEvent]] = {}
    for record in batch:
        groups.setdefault(record.stream_id, []).append(record)
    for records in groups.values():
        records.sort(key=lambda r: r.version)
    return groups


class Step(NamedTuple):
    """One event as a projection applies it: a row about the event comes from this alone."""

    record: RecordedEvent
    event: Event
    before: Any
    """The stream's state just before the event."""
    after: Any
    """The stream's state right after the event."""


class Change(NamedTuple):
    """What a batch did to one stream: its state before and after, and every event's step."""

    stream_id: str
    before: Any
    after: Any
    steps: list[Step]


class SharedSteps:
    """Events decoded and folded during one pass of the log, shared by the projections it
    feeds: the timeline and the dialogues fold the same dialogue streams, so the second
    takes each step from here instead of decoding and evolving again.

    Safe because a stream's state after version v is a function of the log: every
    projection that folds the stream reaches the same one. Lives for one pass only.
    """

    def __init__(self) -> None:
        self._steps: dict[tuple[str, str, int], tuple[Event, Any]] = {}

    def step(
        self, decider: Decider[Any, Any, Any], record: RecordedEvent, state: Any
    ) -> tuple[Event, Any]:
        """The record's event and the stream's state after it, from `state` before it."""
        key = (decider.name, record.stream_id, record.version)
        found = self._steps.get(key)
        if found is None:
            found = fold_one(decider, record, state)
            self._steps[key] = found
        return found


def fold_one(
    decider: Decider[Any, Any, Any], record: RecordedEvent, state: Any
) -> tuple[Event, Any]:
    """Decode one record (from its payload's text, straight into the event) and evolve
    `state` with it."""
    event = decode_payload(record.type, record.schema_version, record.payload)
    return event, decider.evolve(state, event)


class StreamStates:
    """Per-projection cache of (state, version) by stream, bounded, rebuilt on demand."""

    def __init__(self, store: EventStore, projection: str) -> None:
        self._store = store
        self.projection = projection
        self.shared: SharedSteps | None = None
        """The current pass's steps, when the runner shares one among projections."""
        self._cache: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._unsaved: dict[str, int] = {}
        self._checkpoint: Cursor | None = None

    def forget(self) -> None:
        """Drop everything: after a failed batch the cache may be ahead of the tables."""
        self._cache.clear()
        self._unsaved.clear()
        self._checkpoint = None

    def follow(self, checkpoint: Cursor) -> None:
        """Check the cache against the checkpoint a batch starts from (read under its lock).

        The cache holds what this process applied up to the checkpoint it last committed.
        If the checkpoint is elsewhere, another process applied batches meanwhile (it
        owned the projection for a while, or a rebuild was swapped in), and the cached
        states would be behind the tables: drop them and fold afresh from the store.
        """
        if self._checkpoint is not None and self._checkpoint != checkpoint:
            self.forget()

    def committed(self, checkpoint: Cursor) -> None:
        """The batch's transaction committed: the cache now matches `checkpoint`."""
        self._checkpoint = checkpoint

    async def prepare(
        self, tx: AsyncConnection, stream_ids: Iterable[str], decider: Decider[Any, Any, Any]
    ) -> None:
        """Make every named stream's state available, with one query for the lot."""
        missing = [s for s in dict.fromkeys(stream_ids) if s not in self._cache]
        if not missing:
            return
        rows = await (await driver(tx)).fetch(_VERSIONS_SQL, self.projection, missing)
        known = {row["stream_id"]: int(row["version"]) for row in rows}
        for stream_id in missing:
            version = known.get(stream_id, 0)
            state = decider.initial_state
            if version:
                records = await self._store.read_stream(
                    stream_id, to_version=version, decoded=False
                )
                for record in records:
                    _, state = fold_one(decider, record, state)
            self._remember(stream_id, state, version)

    def state(self, stream_id: str) -> tuple[Any, int]:
        """A prepared stream's state and the version it reflects."""
        self._cache.move_to_end(stream_id)
        return self._cache[stream_id]

    async def advance(
        self, stream_id: str, decider: Decider[Any, Any, Any], records: list[RecordedEvent]
    ) -> list[Step]:
        """Fold `records` (in version order) into a prepared stream's state, event by event.

        Returns a step for every event the tables do not reflect yet. Events the state
        already holds are skipped; a version missing from `records` (committed out of
        version order, so it comes later in the log) is read from the store and gets its
        step now, so each event gets exactly one step wherever the batches were cut.
        """
        state, version = self.state(stream_id)
        fresh = [r for r in records if r.version > version]
        if not fresh:
            return []
        if fresh[-1].version - version != len(fresh):
            fresh = await self._store.read_stream(
                stream_id, from_version=version + 1, to_version=fresh[-1].version, decoded=False
            )
        steps = []
        shared = self.shared
        for record in fresh:
            if shared is None:
                event, after = fold_one(decider, record, state)
            else:
                event, after = shared.step(decider, record, state)
            steps.append(Step(record, event, state, after))
            state = after
        self._remember(stream_id, state, fresh[-1].version)
        self._unsaved[stream_id] = fresh[-1].version
        return steps

    async def fold_batch(
        self,
        tx: AsyncConnection,
        batch: Sequence[RecordedEvent],
        deciders: Mapping[str, Decider[Any, Any, Any]],
    ) -> list[Change]:
        """Every stream the batch touches, in first-touched order, folded event by event.

        `deciders` maps a stream prefix to the aggregate whose streams start with it.
        """
        groups = by_stream(batch)
        for prefix, decider in deciders.items():
            await self.prepare(tx, [s for s in groups if s.startswith(prefix)], decider)
        changes = []
        for stream_id, records in groups.items():
            decider = next(d for p, d in deciders.items() if stream_id.startswith(p))
            before, _ = self.state(stream_id)
            steps = await self.advance(stream_id, decider, records)
            changes.append(Change(stream_id, before, steps[-1].after if steps else before, steps))
        return changes

    async def flush(self, tx: AsyncConnection) -> None:
        """Record the versions this batch reached, in the batch's transaction."""
        if not self._unsaved:
            return
        await (await driver(tx)).execute(
            _SAVE_VERSIONS_SQL,
            self.projection,
            list(self._unsaved),
            list(self._unsaved.values()),
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
