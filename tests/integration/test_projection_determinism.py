"""Every read model is a function of the log: the same rows however the events were batched.

A row may only depend on the event it describes and the state of its stream right after
that event, never on what the batch it arrived in held after it. These tests apply the
same log in different batches, across crashes (a batch rolled back) and restarts (a fresh
runner with nothing cached), and compare with a rebuild in one batch.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from benchmarks.workload import dialogue_story
from domain import commands as c
from domain import events as e
from domain.errors import DomainError
from domain.streams import decider_for, stream_id_for
from projections.projection import Projection
from projections.registry import PROJECTIONS, create_engine
from projections.runner import Runner, Target
from projections.states import StreamStates
from service.handling import handle, to_new_event
from store import NO_STREAM, START, Cursor, EventStore
from store.database import create_pool
from store.records import RecordedEvent
from store.roles import derived_app_url
from tests.conftest import clone_database, drop_database
from tests.integration.read_models import assert_same, snapshot
from tests.unit import builders
from tests.unit.test_properties import (
    OPENING,
    VISITS,
    charters,
    command_strategy,
    ids,
    plans,
    reasons,
    sid,
)


@dataclass
class Register:
    """A freshly migrated database of one test (or one example) and its adapters."""

    url: str
    pool: Any
    store: EventStore
    engine: Any

    def runner(self, batch_size: int, projections: Sequence[Projection] = PROJECTIONS) -> Runner:
        """A runner, as a worker process would have one, on this database."""
        return Runner(self.engine, self.store, self.url, projections, batch_size=batch_size)


@asynccontextmanager
async def fresh_register(postgres_url: str, template: str) -> AsyncIterator[Register]:
    """A database of its own per example: the comparison covers whole tables."""
    owner_url = await clone_database(postgres_url, template)
    url = derived_app_url(owner_url)  # the projections run as the service does
    pool = await create_pool(url, min_size=1, max_size=4)
    engine = create_engine(url, pool_size=2)
    try:
        yield Register(url, pool, EventStore(pool), engine)
    finally:
        await engine.dispose()
        await pool.close()
        await drop_database(postgres_url, owner_url)


async def readable(register: Register) -> None:
    """Wait until every event written is below the read horizon.

    The horizon is cluster-wide: a transaction in another database on a shared server can
    hold it back for a moment, and a reader would stop short of the last events."""
    last = await register.pool.fetchrow(
        "SELECT transaction_id::text::bigint AS txid, position FROM event_store.events"
        " ORDER BY transaction_id DESC, position DESC LIMIT 1"
    )
    if last is None:
        return
    for _ in range(600):
        if await register.store.horizon() > Cursor(last["txid"], last["position"]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the read horizon never passed the last event")


async def rebuild_all(register: Register, batch_size: int) -> None:
    """Rebuild every projection blue/green from position zero in batches of `batch_size`."""
    await readable(register)
    runner = register.runner(batch_size)
    await runner.ensure_checkpoints()
    for projection in PROJECTIONS:
        await runner.rebuild(projection.name)
    await runner.release()


async def timeline_of(pool: Any, stream_id: str) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT event_type, summary FROM reporting.relationship_timeline"
        " WHERE stream_id = $1 ORDER BY position",
        stream_id,
    )
    return [(r["event_type"], r["summary"]) for r in rows]


NAME_A = replace(builders.charter(), name="Name A")
RENAMED = [
    ("DialogueLaunched", "Name A — Dialogue launched — Name A"),
    ("DialogueRenamed", "Name B — Dialogue renamed"),
    ("DialogueRenamed", "Name C — Dialogue renamed"),
]


async def test_a_dialogue_renamed_twice_reads_the_same_in_any_batches(
    postgres_url: str, template_database: str
):
    stream = f"dialogue-{builders.D}"
    commands: list[c.Command] = [
        c.LaunchDialogue(dialogue_id=builders.D, charter=NAME_A),
        c.RenameDialogue(dialogue_id=builders.D, name="Name B"),
        c.RenameDialogue(dialogue_id=builders.D, name="Name C"),
    ]
    async with fresh_register(postgres_url, template_database) as register:
        live = register.runner(batch_size=500)
        await live.ensure_checkpoints()
        for command in commands:  # the live worker sees each event in a batch of its own
            await handle(register.store, command, metadata={"actor": "test"})
            await readable(register)
            await live.catch_up()
        assert await timeline_of(register.pool, stream) == RENAMED

        for batch_size in (1, 500):  # a rebuild event by event, and all in one batch
            await rebuild_all(register, batch_size)
            assert await timeline_of(register.pool, stream) == RENAMED, batch_size
        dialogue = await register.pool.fetchrow("SELECT name FROM reporting.dialogues")
        assert dialogue["name"] == "Name C"
        await live.release()


async def test_a_stream_committed_out_of_version_order_gets_one_row_per_event(
    postgres_url: str, template_database: str
):
    """An append inside a longer client transaction can commit version 2 of a stream
    before version 1 in the global order; the rows must not depend on where the batches
    cut between them."""
    stream = f"dialogue-{builders.D}"
    launched = e.DialogueLaunched(dialogue_id=builders.D, charter=NAME_A)
    renamed = e.DialogueRenamed(dialogue_id=builders.D, name="Name B")
    async with fresh_register(postgres_url, template_database) as register:
        async with register.pool.acquire() as slow, slow.transaction():
            await slow.fetchval("SELECT pg_current_xact_id()")  # its transaction id, now
            await register.store.append(stream, [to_new_event(launched)], NO_STREAM)
            await EventStore(slow).append(stream, [to_new_event(renamed)], 1)
        await readable(register)
        log = await register.store.read_all(START)
        assert [r.version for r in log.events] == [2, 1], "the log holds the rename first"

        for batch_size in (1, 500):
            await rebuild_all(register, batch_size)
            assert await timeline_of(register.pool, stream) == RENAMED[:2], batch_size
            dialogue = await register.pool.fetchrow("SELECT name FROM reporting.dialogues")
            assert dialogue["name"] == "Name B", batch_size


# ---------------------------------------------------------------- the property

DIALOGUES = 3
"""Dialogues (and as many visits) the random commands are spread over."""
MAX_BATCH = 12
SPREAD_IDS = ("dialogue_id", "session_id", "outcome_id", "progress_id", "visit_id")
PAIRS = [("KZ", "US"), ("KZ", "UZ")]


def spread(command: c._Command, k: int) -> Any:
    """The same command about the k-th dialogue, visit or pair: every id it names is made
    that stream's own (read-model keys such as session ids are unique across streams)."""
    if isinstance(command, c._RelationshipCommand):
        k = PAIRS.index(tuple(sorted(command.parties))) + DIALOGUES  # type: ignore[arg-type]
        fields: tuple[str, ...] = ("indicator_id", "milestone_id")
    else:
        fields = SPREAD_IDS
    return replace(
        command,
        **{
            f: uuid.UUID(int=(k + 1) << 64 | getattr(command, f).int)
            for f in fields
            if hasattr(command, f)
        },
    )


renames = st.builds(
    c.RenameDialogue,
    name=st.sampled_from(["Name A", "Name B", "Name C"]),
    acronym=st.none() | st.sampled_from(["NA", "NB"]),
    **ids,
)
# renames, charter corrections (they can change the parties) and reschedules are what a
# row about an earlier event could wrongly pick up from a later one: give them weight
story_changes = st.one_of(
    command_strategy,
    command_strategy,
    renames,
    st.builds(c.CorrectDialogue, charter=charters, reason=reasons, **ids),
    st.builds(c.RescheduleSession, plan=plans, reason=reasons, **sid),
)
random_commands = st.lists(
    st.builds(spread, story_changes, st.integers(0, DIALOGUES - 1)), min_size=5, max_size=60
)


def opening(k: int) -> list[c.Command]:
    """The k-th dialogue launched with a session held, and the k-th visit planned."""
    plan_visit = c.PlanVisit(visit_id=VISITS[0], plan=builders.visit_plan())
    return [spread(command, k) for command in (*OPENING, plan_visit)]


@dataclass(frozen=True)
class Segment:
    """Some commands appended, then some batches by a worker, maybe one of them crashing."""

    commands: int
    worker: str
    """"same" worker, a "restart" (fresh process, empty cache) or the "other" worker."""
    batch_size: int
    batches: int
    """Batches each projection applies in this segment (fewer if it runs out of events)."""
    crash_at: int | None
    """The projections' batch (counted from 0) that fails after writing and rolls back."""


segments = st.lists(
    st.builds(
        Segment,
        commands=st.integers(0, 15),
        worker=st.sampled_from(["same", "restart", "other"]),
        batch_size=st.integers(1, MAX_BATCH),
        batches=st.integers(0, 6),
        crash_at=st.none() | st.integers(0, 5),
    ),
    min_size=2,
    max_size=8,
)


class Crash(Exception):
    """The injected failure: the process dies inside a batch, after its writes."""


class Crashing:
    """A projection that fails one chosen batch after the real one wrote its rows."""

    def __init__(self, inner: Projection) -> None:
        self.inner = inner
        self.name = inner.name
        self.tables: tuple[Table, ...] = inner.tables
        self.stream_prefixes: tuple[str, ...] = inner.stream_prefixes
        self.crash_in: int | None = None

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        await self.inner.apply(tx, batch, states)
        if self.crash_in is not None:
            self.crash_in -= 1
            if self.crash_in < 0:
                self.crash_in = None
                raise Crash(self.name)


class Worker:
    """One worker process: a runner and its targets, whose in-memory caches live as long."""

    def __init__(self, register: Register, batch_size: int) -> None:
        self.projections = [Crashing(p) for p in PROJECTIONS]
        self.runner = register.runner(batch_size, self.projections)
        self.targets = [Target(p, register.store) for p in self.projections]

    async def start(self) -> Worker:
        await self.runner.ensure_checkpoints()
        return self

    async def work(self, batches: int, crash_at: int | None) -> None:
        for projection, target in zip(self.projections, self.targets, strict=True):
            projection.crash_in = crash_at
            for _ in range(batches):
                try:
                    if not await self.runner.apply_batch(target):
                        break
                except Crash:
                    continue  # rolled back; this worker goes on with its cache dropped
            projection.crash_in = None

    async def drain(self) -> None:
        for target in self.targets:
            await self.runner.drain(target)


def decided(commands: Sequence[c.Command]) -> list[tuple[str, int, list[Any]]]:
    """The commands the domain accepts, decided in memory: (stream, version before, events)."""
    states: dict[str, Any] = {}
    versions: dict[str, int] = {}
    accepted = []
    for command in commands:
        stream_id, decider = stream_id_for(command), decider_for(command)
        state = states.get(stream_id, decider.initial_state)
        try:
            events = decider.decide(state, command)
        except DomainError:
            continue
        if events:
            accepted.append((stream_id, versions.get(stream_id, 0), events))
            states[stream_id] = decider.fold(events, state)
            versions[stream_id] = versions.get(stream_id, 0) + len(events)
    return accepted


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking against a database takes minutes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    story_seed=st.integers(0, 2**16),
    commands=random_commands,
    schedule=segments,
    last_batch_size=st.integers(1, MAX_BATCH),
)
async def test_read_models_are_the_same_however_the_log_was_batched(
    postgres_url: str,
    template_database: str,
    story_seed: int,
    commands: list[c.Command],
    schedule: list[Segment],
    last_batch_size: int,
):
    """Random valid logs applied in random batches, with crashes, restarts and a second
    worker taking over, give every table in `reporting` exactly what a rebuild in one
    batch gives."""
    story = list(dialogue_story(random.Random(story_seed), DIALOGUES))
    openings = [command for k in range(DIALOGUES) for command in opening(k)]
    appends = decided([*openings, *story, *commands])
    async with fresh_register(postgres_url, template_database) as register:
        workers = [await Worker(register, schedule[0].batch_size).start() for _ in range(2)]
        appended = 0

        async def append(count: int) -> None:
            nonlocal appended
            for stream_id, version, events in appends[appended : appended + count]:
                new = [to_new_event(event) for event in events]
                await register.store.append(stream_id, new, version, {"actor": "test"})
            appended = min(appended + count, len(appends))

        for segment in schedule:
            await append(segment.commands)
            if segment.worker == "restart":
                workers[0] = await Worker(register, segment.batch_size).start()
            elif segment.worker == "other":
                workers.reverse()
            await workers[0].work(segment.batches, segment.crash_at)
        await append(len(appends))
        await readable(register)
        await (await Worker(register, last_batch_size).start()).drain()
        live = await snapshot(register.pool)

        await rebuild_all(register, batch_size=100_000)
        rebuilt = await snapshot(register.pool)
    assert sum(map(len, rebuilt.values())) > len(appends)
    assert_same(live, rebuilt)
