"""Replays through the cache of folded states, against the real store's stream reads.

A dialogue's history is appended command by command; replays at the head and as recorded
at each moment between the appends, in a shuffled order through one cache, must give
exactly the state and version a replay without the cache gives.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

from domain import commands as c
from domain.streams import DIALOGUE
from service.handling import handle, load
from service.replaying import FoldedStates
from store.event_store import EventStore
from tests.unit import builders as b


async def _moment(store: EventStore) -> dt.datetime:
    now = await store.pool.fetchval("SELECT clock_timestamp()")
    assert isinstance(now, dt.datetime)
    return now


async def test_cached_replays_equal_whole_replays_at_every_moment(store: EventStore):
    dialogue_id = uuid.uuid4()
    stream_id = DIALOGUE.stream_id(dialogue_id)
    commands: list[c.Command] = [c.LaunchDialogue(dialogue_id=dialogue_id, charter=b.charter())]
    for n in range(12):
        session_id = uuid.uuid4()
        commands += [
            c.ScheduleSession(dialogue_id=dialogue_id, session_id=session_id, plan=b.plan()),
            c.RenameDialogue(dialogue_id=dialogue_id, name=f"Dialogue {n}"),
            c.CorrectSessionPlan(
                dialogue_id=dialogue_id,
                session_id=session_id,
                plan=b.plan("2023"),
                reason="recorded in error",
            ),
        ]
    moments: list[dt.datetime | None] = [None, await _moment(store)]
    for command in commands:
        await handle(store, command)
        moments.append(await _moment(store))
    random.Random(11).shuffle(moments)
    folded = FoldedStates(every=4)
    for until in [*moments, *moments]:
        cached = await load(store, stream_id, recorded_until=until, folded=folded)
        whole = await load(store, stream_id, recorded_until=until)
        assert (cached.state, cached.version) == (whole.state, whole.version)
    head = await load(store, stream_id, folded=folded)
    assert head.version == 1 + 3 * 12
    assert len(head.events) == 1  # the snapshot's own event, read to check its hash
