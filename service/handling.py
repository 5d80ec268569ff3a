"""The command handler: loading a stream, deciding a command on it, appending the result.

The application service between the entry points (the API, the demo loader) and the
domain. The one path every command takes, from the API and from the demo loader alike:
load the stream → fold → decide → encode → append with the version that was loaded.
Appending with the loaded version (never "any") is what makes a concurrent change a
conflict instead of a lost update, whether or not the caller sent If-Match.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from domain.codec import domain_events, encode_event
from domain.commands import Command
from domain.events import Event, valid_time
from domain.streams import State, entity_id_of, kind_for, kind_of_stream, stream_id_for
from domain.validity import in_force
from service.replaying import FoldedStates
from store.entity_ids import claim_entity_ids
from store.errors import IdempotencyKeyReused, WrongExpectedVersion
from store.event_store import EventStore
from store.idempotency import recall
from store.records import AppendResult, Cursor, NewEvent, RecordedEvent


class Loaded(msgspec.Struct, frozen=True, kw_only=True):
    """An aggregate's state and the stream version it was folded from."""

    stream_id: str
    state: State
    version: int
    events: list[RecordedEvent]
    """The events read: the whole stream, unless a cached state stood in for its start."""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What a command did to its stream."""

    stream_id: str
    version: int
    event_types: list[str]
    positions: tuple[int, ...]
    cursor: Cursor | None
    replayed: bool


async def load(
    store: EventStore,
    stream_id: str,
    *,
    recorded_until: dt.datetime | None = None,
    valid_at: dt.date | None = None,
    folded: FoldedStates | None = None,
) -> Loaded:
    """Fold a stream, optionally as recorded at a past moment and/or as valid at a date.

    `events` stays the whole stream as recorded (the audit trail); only the state is
    evaluated at `valid_at` (docs/DOMAIN-MODEL.md "Valid time"). With `folded`, a replay
    not evaluated at a valid time starts from a cached state (service/replaying.py).
    """
    kind = kind_of_stream(stream_id)
    if kind is None:
        raise ValueError(f"{stream_id} is not a stream of any kind the register knows")
    if folded is not None and valid_at is None:
        start = folded.start(stream_id, recorded_until)
        records = await store.read_stream(
            stream_id, from_version=start.version if start else 1, recorded_until=recorded_until
        )
        resumed = folded.resume(stream_id, kind.decider, start, records)
        if resumed is not None:
            state, version = resumed
            return Loaded(stream_id=stream_id, state=state, version=version, events=records)
    records = await store.read_stream(stream_id, recorded_until=recorded_until)
    version = records[-1].version if records else 0
    events = domain_events(records)
    if valid_at is not None:
        # everything known by then, corrections included, evaluated at valid_at
        events = in_force(events, valid_at)
    return Loaded(
        stream_id=stream_id,
        state=kind.decider.fold(events),
        version=version,
        events=records,
    )


def to_new_event(event: Event) -> NewEvent:
    """A domain event in the store's terms, with its valid time as columns."""
    event_type, schema_version, data = encode_event(event)
    valid_from, valid_to = valid_time(event)
    return NewEvent(
        type=event_type,
        schema_version=schema_version,
        data=data,
        valid_from=valid_from,
        valid_to=valid_to,
    )


async def handle(
    store: EventStore,
    command: Command,
    *,
    expected_version: int | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    fingerprint: bytes | None = None,
) -> Decision:
    """Decide `command` against its stream and append the result atomically.

    `expected_version` is the caller's If-Match: when given and stale, the command is
    refused with WrongExpectedVersion before anything is decided.

    The key is looked up after the stream is loaded, not before: an original request
    that commits in between would otherwise be unseen by the lookup yet seen by the load,
    and its own retry refused (409 on If-Match, or the decider refusing what the original
    did). Its key commits with its events, so a load that sees them is followed by a
    lookup that sees the key; an original committing after the lookup is caught by the
    append, which checks the key under the stream lock before the version.
    """
    stream_id = stream_id_for(command)
    decider = kind_for(command).decider
    loaded = await load(store, stream_id)
    if idempotency_key is not None and fingerprint is not None:
        earlier = await recall(store.pool, idempotency_key)
        if earlier is not None:
            if (earlier.fingerprint, earlier.stream_id) != (fingerprint, stream_id):
                raise IdempotencyKeyReused(idempotency_key)
            return await _replay(store, stream_id, earlier.stream_version, earlier.positions)
    if expected_version is not None and expected_version != loaded.version:
        raise WrongExpectedVersion(loaded.stream_id, expected_version, loaded.version)
    events = decider.decide(loaded.state, command)
    new_events = [to_new_event(e) for e in events]
    await claim_entity_ids(store.pool, stream_id, brought_in(loaded.events, new_events))
    result: AppendResult = await store.append(
        loaded.stream_id,
        new_events,
        loaded.version,
        metadata,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    if result.replayed:
        return await _replay(store, stream_id, result.version, result.positions)
    return Decision(
        stream_id=stream_id,
        version=result.version,
        event_types=[e.type for e in new_events],
        positions=result.positions,
        cursor=result.cursor,
        replayed=False,
    )


def brought_in(
    history: Sequence[RecordedEvent], new_events: Sequence[NewEvent]
) -> set[tuple[str, str]]:
    """(kind, id) of the entities `new_events` bring into a stream that did not know them."""
    new = {entity_id_of(e.type, e.data) for e in new_events} - {None}
    if not new:
        return set()
    known = {entity_id_of(r.type, r.data) for r in history}
    return {i for i in new - known if i is not None}


async def _replay(
    store: EventStore, stream_id: str, version: int, positions: tuple[int, ...]
) -> Decision:
    """The original decision behind an idempotency key, rebuilt from the stored events."""
    first = version - len(positions) + 1
    records = await store.read_stream(stream_id, from_version=first, to_version=version)
    records = [r for r in records if r.position in positions]
    return Decision(
        stream_id=stream_id,
        version=version,
        event_types=[r.type for r in records],
        positions=positions,
        cursor=records[-1].cursor if records else None,
        replayed=True,
    )
