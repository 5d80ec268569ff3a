"""Folded states kept in memory, so replaying a long stream is a cached state plus a tail.

Reading a dialogue's state at its head or as recorded at a past moment folds its stream;
on a stream of 10,000 events that is ~10,000 decodes and evolves per request. The log is
append-only and each event's hash chains every earlier event of its stream, so the state
folded from events 1..v of a stream is a pure function of (stream, v, hash of event v)
and never goes stale: this cache keeps such states (snapshots) every `every` versions
and at the last version it folded, and a replay starts from the latest snapshot it may
use, reading and folding only the events after it.

A snapshot may stand in for the start of a replay "as recorded at R" only when every
event up to its version was recorded by R (`recorded_through` ≤ R): recorded_at follows
the commit, not the version, so a later version can carry an earlier time, and a
snapshot is taken only where the events read so far are contiguous from version 1. The
snapshot's own event is read again with the tail and its hash compared, so a store that
is not the one the state came from (another database, a log restored from backup) is
never answered from the cache. Valid-time reads evaluate the whole history at once
(domain/validity.py) and do not use it.

The cache is per process and derived: a restart begins empty and the first replay of a
stream folds it whole, exactly as without the cache.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

from domain.codec import decode_event
from domain.commands import Command
from domain.decider import Decider
from domain.events import Event
from domain.streams import State
from store.records import RecordedEvent


class Snapshot(NamedTuple):
    """A stream's state folded from its events 1..version."""

    version: int
    hash: bytes
    """The hash of event `version`, which chains every earlier event of the stream."""
    recorded_through: dt.datetime
    """The latest recorded_at among events 1..version."""
    state: State


class FoldedStates:
    """Snapshots by stream, the streams least recently replayed dropped first."""

    def __init__(self, *, every: int = 100, capacity: int = 5_000) -> None:
        self.every = every
        """Versions between two kept snapshots: the longest tail a replay folds."""
        self.capacity = capacity
        """Snapshots kept in all, across streams (each holds one state)."""
        self._streams: OrderedDict[str, list[Snapshot]] = OrderedDict()
        self._count = 0

    @classmethod
    def from_env(cls) -> FoldedStates:
        """Sized by ENTENTE_REPLAY_SNAPSHOT_EVERY and ENTENTE_REPLAY_SNAPSHOTS (0: off)."""
        return cls(
            every=int(os.environ.get("ENTENTE_REPLAY_SNAPSHOT_EVERY", "100")),
            capacity=int(os.environ.get("ENTENTE_REPLAY_SNAPSHOTS", "5000")),
        )

    def start(self, stream_id: str, recorded_until: dt.datetime | None) -> Snapshot | None:
        """The latest snapshot a replay as recorded at `recorded_until` may start from."""
        snapshots = self._streams.get(stream_id)
        if not snapshots:
            return None
        self._streams.move_to_end(stream_id)
        return next(
            (
                s
                for s in reversed(snapshots)
                if recorded_until is None or s.recorded_through <= recorded_until
            ),
            None,
        )

    def resume(
        self,
        stream_id: str,
        decider: Decider[State, Command, Event],
        start: Snapshot | None,
        records: Sequence[RecordedEvent],
    ) -> tuple[State, int] | None:
        """The state and version after `records`, folded on from `start`.

        `records` are the stream's events from `start`'s own version on (from version 1
        without a start), as read for the replay. None when they do not begin with
        `start`'s event: the cache no longer describes this store, and is dropped for the
        stream; the caller folds the stream whole.
        """
        if start is None:
            state, version, through = decider.initial_state, 0, None
        elif records and (records[0].version, records[0].hash) == (start.version, start.hash):
            state, version, through = start.state, start.version, start.recorded_through
            records = records[1:]
        else:
            self.forget(stream_id)
            return None
        taken: list[Snapshot] = []
        for record in records:
            contiguous = through is not None or version == 0
            contiguous = contiguous and record.version == version + 1
            state = decider.evolve(
                state, decode_event(record.type, record.schema_version, record.data)
            )
            version = record.version
            if not contiguous:
                through = None  # an event between was recorded later: no snapshot from here
                continue
            through = record.recorded_at if through is None else max(through, record.recorded_at)
            if version % self.every == 0 or record is records[-1]:
                taken.append(Snapshot(version, record.hash, through, state))
        self._keep(stream_id, taken)
        return state, version

    def forget(self, stream_id: str) -> None:
        """Drop a stream's snapshots."""
        self._count -= len(self._streams.pop(stream_id, []))

    def _keep(self, stream_id: str, taken: list[Snapshot]) -> None:
        """Add snapshots; of those between two multiples of `every`, only the latest stays."""
        if not taken or self.capacity <= 0:  # a capacity of 0 turns the cache off
            return
        kept = {s.version: s for s in self._streams.get(stream_id, [])}
        kept.update((s.version, s) for s in taken)
        head = max(kept)
        snapshots = [s for v, s in sorted(kept.items()) if v % self.every == 0 or v == head]
        self._count += len(snapshots) - len(self._streams.get(stream_id, []))
        self._streams[stream_id] = snapshots
        self._streams.move_to_end(stream_id)
        while self._count > self.capacity and len(self._streams) > 1:
            _, evicted = self._streams.popitem(last=False)
            self._count -= len(evicted)
        if self._count > self.capacity:  # one stream longer than the whole budget
            self._streams[stream_id] = snapshots[-self.capacity :]
            self._count = self.capacity
