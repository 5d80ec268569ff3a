"""A replay from a cached state gives exactly the state a full fold gives.

Histories are random command sequences (corrections and retractions included); each
event is recorded at a random moment, so recorded time does not follow the version (as
in the log, where it follows the commit). Replays "as recorded at R" at random R, in
random order, through one cache, must equal the fold of every event recorded by R.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import codec
from domain.events import Event
from domain.streams import DIALOGUE, decide_all, decider_for, kind_of_stream
from service.replaying import FoldedStates
from store.records import RecordedEvent
from tests.unit import builders as b
from tests.unit.test_properties import OPENING, command_strategy

DECIDER = decider_for(b.launch())
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _history(commands) -> list[Event]:
    """The events the dialogue's stream holds after `commands` (refusals skipped)."""
    everything: list[Any] = [*OPENING, *commands]
    return decide_all(everything).get(DIALOGUE.stream_id(OPENING[0].dialogue_id), [])


def _recorded(stream_id: str, events: list[Event], minutes: list[int]) -> list[RecordedEvent]:
    """The events as a store records them: versions, a hash chain, recorded times."""
    records, previous = [], b""
    for version, (event, minute) in enumerate(zip(events, minutes, strict=False), start=1):
        tag, schema_version, data = codec.encode_event(event)
        digest = hashlib.sha256(previous + repr((version, tag, data)).encode()).digest()
        records.append(
            RecordedEvent(
                position=version,
                transaction_id=version,
                stream_id=stream_id,
                version=version,
                event_id=uuid.uuid4(),
                type=tag,
                schema_version=schema_version,
                payload=json.dumps(data),
                metadata={},
                valid_from=None,
                valid_to=None,
                recorded_at=EPOCH + dt.timedelta(minutes=minute),
                prev_hash=previous or None,
                hash=digest,
            )
        )
        previous = digest
    return records


def _read(records, from_version: int, recorded_until: dt.datetime | None):
    """What the store's stream read returns (store/event_store.py READ_STREAM_SQL)."""
    return [
        r
        for r in records
        if r.version >= from_version and (recorded_until is None or r.recorded_at <= recorded_until)
    ]


def _replay(folded: FoldedStates, records, stream_id: str, until: dt.datetime | None):
    """The load path of service/handling.py, against records held in memory."""
    decider = DECIDER
    start = folded.start(stream_id, until)
    tail = _read(records, start.version if start else 1, until)
    resumed = folded.resume(stream_id, decider, start, tail)
    if resumed is None:
        whole = _read(records, 1, until)
        resumed = folded.resume(stream_id, decider, None, whole)
    assert resumed is not None
    return resumed


def _full_fold(records, until: dt.datetime | None):
    seen = _read(records, 1, until)
    state = DECIDER.fold(codec.domain_events(seen))
    return state, seen[-1].version if seen else 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    commands=st.lists(command_strategy, min_size=1, max_size=40),
    minutes=st.lists(st.integers(0, 60), min_size=45, max_size=45),
    in_order=st.booleans(),
    moments=st.lists(st.none() | st.integers(-1, 61), min_size=1, max_size=12),
    every=st.integers(1, 5),
)
def test_a_cached_replay_equals_a_full_fold(commands, minutes, in_order, moments, every):
    """Recorded times mostly follow the versions; when they do not, a replay as recorded
    at R may fold events whose premises were recorded later, which the aggregate may
    refuse to fold (an assertion): the cached replay must then fail the same way."""
    stream_id = DIALOGUE.stream_id(OPENING[0].dialogue_id)
    assert kind_of_stream(stream_id) is DIALOGUE
    records = _recorded(stream_id, _history(commands), sorted(minutes) if in_order else minutes)
    folded = FoldedStates(every=every, capacity=1_000)
    for moment in moments:
        until = None if moment is None else EPOCH + dt.timedelta(minutes=moment)
        try:
            expected = _full_fold(records, until)
        except AssertionError:
            with pytest.raises(AssertionError):
                _replay(folded, records, stream_id, until)
            continue
        assert _replay(folded, records, stream_id, until) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(command_strategy, min_size=1, max_size=30),
    second=st.lists(command_strategy, min_size=1, max_size=30),
)
def test_a_cache_never_answers_for_another_log(first, second):
    """The same stream id in another store (another database, a restored backup)."""
    stream_id = DIALOGUE.stream_id(OPENING[0].dialogue_id)
    folded = FoldedStates(every=2)
    ours = _recorded(stream_id, _history(first), list(range(45)))
    _replay(folded, ours, stream_id, None)
    theirs = _recorded(stream_id, _history(second), list(range(1, 46)))
    assert _replay(folded, theirs, stream_id, None) == _full_fold(theirs, None)


def test_the_cache_keeps_a_bounded_number_of_snapshots():
    folded = FoldedStates(every=1, capacity=3)
    for n in range(5):
        stream_id = DIALOGUE.stream_id(uuid.UUID(int=n))
        records = _recorded(stream_id, _history([]), list(range(45)))
        _replay(folded, records, stream_id, None)
    kept = sum(len(s) for s in folded._streams.values())
    assert 0 < kept <= 3
