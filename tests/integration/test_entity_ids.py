"""One id in two streams: refused for new commands, and never a stalled projection.

Session, outcome and progress ids are unique within a dialogue, indicator and milestone
ids within a pair. The register refuses a command that brings in an id another stream
already uses (store/entity_ids.py), and the read models key rows by owning stream and id
(migration 0012), so a log that already holds such reuse, written before the refusal
existed, still projects to its head.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from domain import commands as c
from domain.errors import IdInUse
from domain.streams import replay
from projections.registry import PROJECTIONS, create_engine
from projections.runner import Runner
from projections.status import projection_status
from reporting.listings import get_row
from service.handling import handle, to_new_event
from store import NO_STREAM, EventStore
from tests.unit import builders as b


def _reusing_log(first: uuid.UUID, second: uuid.UUID, shared: uuid.UUID) -> list[c.Command]:
    """Two dialogues and two pairs, each pair of them using the `shared` id (and two
    outcomes of one dialogue using it for a progress note)."""
    commands: list[c.Command] = []
    for dialogue in (first, second):
        commands += [
            c.LaunchDialogue(dialogue_id=dialogue, charter=b.charter()),
            c.HoldSession(dialogue_id=dialogue, session_id=shared, record=b.record()),
        ]
        for outcome in (shared, uuid.uuid5(dialogue, "other outcome")):
            commands += [
                c.AdoptOutcome(
                    dialogue_id=dialogue, session_id=shared, outcome_id=outcome, terms=b.terms()
                ),
                c.RecordProgress(
                    dialogue_id=dialogue,
                    outcome_id=outcome,
                    progress_id=shared,
                    progress=b.progress(),
                ),
            ]
    for pair in (("KZ", "US"), ("KZ", "UZ")):
        commands += [
            c.RecordIndicator(parties=pair, indicator_id=shared, indicator=b.indicator()),
            c.RecordMilestone(parties=pair, milestone_id=shared, milestone=b.milestone()),
        ]
    commands.append(  # one pair's retraction must not touch the other pair's row
        c.RetractIndicator(parties=("KZ", "UZ"), indicator_id=shared, reason="Wrong series")
    )
    return commands


async def _count(connection: Any, sql: str, shared: uuid.UUID) -> int:
    return int((await connection.execute(text(sql), {"id": shared})).scalar_one())


async def test_a_log_that_reuses_ids_across_streams_projects_to_its_head(
    database_url: str, pool: Any
) -> None:
    first, second, shared = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    store = EventStore(pool)
    # written as a log from before the refusal would hold them: around the command path
    for stream_id, events in replay(_reusing_log(first, second, shared)).items():
        await store.append(stream_id, [to_new_event(e) for e in events], NO_STREAM)
    engine = create_engine(database_url)
    runner = Runner(engine, store, database_url, PROJECTIONS, batch_size=3)
    try:
        await runner.ensure_checkpoints()
        await store.settle()
        for _ in range(100):  # until no unrelated transaction holds the horizon back
            await runner.catch_up()  # a primary-key conflict would raise here, every time
            status = {s.projection: s for s in await projection_status(pool)}
            if all(s.lag_events == 0 for s in status.values()):
                break
            await asyncio.sleep(0.1)
        assert all(s.lag_events == 0 and s.last_error is None for s in status.values())
        async with engine.connect() as connection:
            for table, column, rows in (
                ("sessions", "session_id", 2),
                ("outcomes", "outcome_id", 2),
                ("outcome_progress", "progress_id", 4),
            ):
                sql = f"SELECT count(*) FROM reporting.{table} WHERE {column} = :id"
                assert await _count(connection, sql, shared) == rows, table
            indicators = await connection.execute(
                text("SELECT parties FROM reporting.indicators WHERE indicator_id = :id"),
                {"id": shared},
            )
            assert [row.parties for row in indicators] == [["KZ", "US"]]  # KZ-UZ's retracted
            sql = "SELECT count(*) FROM reporting.milestones WHERE milestone_id = :id"
            assert await _count(connection, sql, shared) == 2
            # GET /sessions/{id} and /outcomes/{id} answer one of them, always the same
            for listing in ("sessions", "outcomes"):
                row = await get_row(connection, listing, shared)
                assert row is not None and row["dialogue_id"] == min(first, second)
        # the same log rebuilt from scratch gives the same rows
        before = await _rows(engine, shared)
        for projection in PROJECTIONS:
            await runner.rebuild(projection.name)
        assert await _rows(engine, shared) == before
    finally:
        await runner.release()
        await engine.dispose()


async def _rows(engine: Any, shared: uuid.UUID) -> list[Any]:
    async with engine.connect() as connection:
        rows = []
        for table, column in (
            ("sessions", "session_id"),
            ("outcomes", "outcome_id"),
            ("outcome_progress", "progress_id"),
            ("indicators", "indicator_id"),
            ("milestones", "milestone_id"),
        ):
            result = await connection.execute(
                text(f"SELECT * FROM reporting.{table} WHERE {column} = :id ORDER BY 1, 2, 3"),
                {"id": shared},
            )
            rows.append([tuple(r) for r in result])
        return rows


@pytest.mark.parametrize(
    "bring_in",
    [
        lambda d, i: c.ScheduleSession(dialogue_id=d, session_id=i, plan=b.plan()),
        lambda d, i: c.HoldSession(dialogue_id=d, session_id=i, record=b.record()),
    ],
    ids=["schedule", "hold"],
)
async def test_a_command_bringing_in_another_streams_id_is_refused(
    store: EventStore, bring_in: Any
) -> None:
    first, second, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for dialogue in (first, second):
        await handle(store, c.LaunchDialogue(dialogue_id=dialogue, charter=b.charter()))
    await handle(store, bring_in(first, session))
    with pytest.raises(IdInUse) as refused:
        await handle(store, bring_in(second, session))
    assert refused.value.owner == f"dialogue-{first}"
    assert await store.stream_version(f"dialogue-{second}") == 1  # nothing written
    # the owner goes on using its id (holding the session it scheduled, say)
    await handle(store, c.HoldSession(dialogue_id=first, session_id=session, record=b.record()))


async def test_legacy_reuse_stays_usable_by_both_streams(
    pool: Any, owner_pool: Any, store: EventStore
) -> None:
    """A stream that already used an id before the claims existed keeps using it."""
    first, second, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for dialogue in (first, second):
        launch = c.LaunchDialogue(dialogue_id=dialogue, charter=b.charter())
        schedule = c.ScheduleSession(dialogue_id=dialogue, session_id=session, plan=b.plan())
        for stream_id, events in replay([launch, schedule]).items():
            await store.append(stream_id, [to_new_event(e) for e in events], NO_STREAM)
    await owner_pool.execute(  # the claim 0012's backfill made: first use wins
        "INSERT INTO event_store.entity_ids VALUES ('session', $1, $2)",
        session,
        f"dialogue-{first}",
    )
    hold = c.HoldSession(dialogue_id=second, session_id=session, record=b.record())
    decision = await handle(store, hold)
    assert decision.event_types == ["SessionHeld"]


async def test_racing_claims_of_one_id_leave_one_owner(store: EventStore) -> None:
    dialogues = [uuid.uuid4() for _ in range(6)]
    for dialogue in dialogues:
        await handle(store, c.LaunchDialogue(dialogue_id=dialogue, charter=b.charter()))
    session = uuid.uuid4()
    outcomes = await asyncio.gather(
        *(
            handle(store, c.ScheduleSession(dialogue_id=d, session_id=session, plan=b.plan()))
            for d in dialogues
        ),
        return_exceptions=True,
    )
    accepted = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(accepted) == 1
    assert all(isinstance(o, IdInUse) for o in outcomes if o not in accepted)
