"""One read of the log feeds every projection that is behind: the rows stay a function of
the log whoever shared which batch.

Projections start behind by different amounts (each advanced alone by a random number of
batches), then go on together, one pass per batch, with one of them failing a batch (its
part rolls back, the others commit); the result equals a rebuild in one batch. And the
pass really is one read: catching four projections up reads the log once, not four times.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from benchmarks.workload import dialogue_story
from projections.registry import PROJECTIONS
from projections.runner import Runner, Target, followed_types
from service.handling import to_new_event
from store import START, Cursor, EventStore
from store.records import Page
from tests.integration.read_models import assert_same, snapshot
from tests.integration.test_projection_determinism import (
    DIALOGUES,
    MAX_BATCH,
    Crash,
    Crashing,
    decided,
    fresh_register,
    opening,
    random_commands,
    readable,
    rebuild_all,
)

NAMES = [p.name for p in PROJECTIONS]


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    story_seed=st.integers(0, 2**16),
    commands=random_commands,
    ahead=st.lists(st.integers(0, 8), min_size=len(NAMES), max_size=len(NAMES)),
    solo_batch=st.integers(1, MAX_BATCH),
    pass_batch=st.integers(1, MAX_BATCH),
    crashing=st.sampled_from(NAMES),
    crash_at=st.none() | st.integers(0, 4),
)
async def test_projections_behind_by_different_amounts_share_passes_and_match_a_rebuild(
    postgres_url: str,
    template_database: str,
    story_seed: int,
    commands: list[Any],
    ahead: list[int],
    solo_batch: int,
    pass_batch: int,
    crashing: str,
    crash_at: int | None,
):
    story = list(dialogue_story(random.Random(story_seed), DIALOGUES))
    openings = [command for k in range(DIALOGUES) for command in opening(k)]
    async with fresh_register(postgres_url, template_database) as register:
        for stream_id, version, events in decided([*openings, *story, *commands]):
            new = [to_new_event(event) for event in events]
            await register.store.append(stream_id, new, version, {"actor": "test"})
        await readable(register)
        projections = [Crashing(p) for p in PROJECTIONS]
        solo = register.runner(solo_batch, projections)
        await solo.ensure_checkpoints()
        targets = [Target(p, register.store) for p in projections]
        for target, batches in zip(targets, ahead, strict=True):
            for _ in range(batches):  # each alone, so that they stand at different places
                await solo.apply_batch(target)

        shared = register.runner(pass_batch, projections)  # a fresh process, empty caches
        together = [Target(p, register.store) for p in projections]
        next(p for p in projections if p.name == crashing).crash_in = crash_at
        while True:
            done = await shared.apply_pass(together)
            assert set(done.failures) <= {crashing}
            assert all(isinstance(error, Crash) for error in done.failures.values())
            if not done.read and not done.failures:
                break
        positions = await register.pool.fetch(
            "SELECT DISTINCT transaction_id, position FROM projection_state.checkpoints"
        )
        assert len(positions) == 1, "every projection caught up to the same place"
        live = await snapshot(register.pool)

        await rebuild_all(register, batch_size=100_000)
        rebuilt = await snapshot(register.pool)
    assert sum(map(len, rebuilt.values())) > 0
    assert_same(live, rebuilt)


class CountingStore(EventStore):
    """The store, counting reads of the log."""

    reads = 0

    async def read_all(self, after: Cursor = START, **options: Any) -> Page:
        self.reads += 1
        return await super().read_all(after, **options)


async def test_catching_up_every_projection_reads_the_log_once(
    postgres_url: str, template_database: str
):
    async with fresh_register(postgres_url, template_database) as register:
        commands = [c for k in range(DIALOGUES) for c in opening(k)]
        for stream_id, version, events in decided(commands):
            new = [to_new_event(event) for event in events]
            await register.store.append(stream_id, new, version, {"actor": "test"})
        await readable(register)
        logged = len((await register.store.read_all(limit=10_000)).events)
        store = CountingStore(register.pool)
        runner = Runner(register.engine, store, register.url, PROJECTIONS, batch_size=2)
        await runner.ensure_checkpoints()
        assert await runner.catch_up() == logged
        pages = -(-logged // 2)
        assert store.reads in (pages, pages + 1)  # + the read that finds nothing more
        rows = await register.pool.fetch(
            "SELECT projection, events_applied, transaction_id, position"
            " FROM projection_state.checkpoints"
        )
        applied = {r["projection"]: r["events_applied"] for r in rows}
        assert set(applied) == set(NAMES)
        assert applied["timeline"] == logged  # every event, each read once
        assert applied["dialogues"] > 0 and applied["visits"] > 0
        assert len({(r["transaction_id"], r["position"]) for r in rows}) == 1


def event_types(names: Sequence[str]) -> list[str] | None:
    return followed_types([p for p in PROJECTIONS if p.name in names])


def test_a_projection_of_one_stream_kind_reads_only_its_event_types():
    dialogues = event_types(["dialogues"])
    assert dialogues is not None
    assert "DialogueLaunched" in dialogues and "SessionHeld" in dialogues
    assert "VisitPlanned" not in dialogues and "IndicatorRecorded" not in dialogues
    visits_and_facts = event_types(["visits", "relationship_facts"])
    assert visits_and_facts is not None
    assert {"VisitPlanned", "IndicatorRecorded"} <= set(visits_and_facts)
    assert "DialogueLaunched" not in visits_and_facts
    assert event_types(["timeline"]) is None  # it follows every kind: no filter at all
    assert event_types(["dialogues", "visits", "relationship_facts"]) is None
