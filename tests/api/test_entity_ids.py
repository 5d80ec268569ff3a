"""Ids are unique across the register: reusing another dialogue's (or pair's) id is a 409.

Each stream's decider sees only its own stream, so without this the same session id
could be scheduled in two dialogues, and `GET /sessions/{id}` would have to pick one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from litestar.testing import AsyncTestClient

from api.app import create_app
from domain import commands as c
from tests.api.command_scenario import Driver, event_count
from tests.api.conftest import auth
from tests.unit import builders as b


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app with its in-process projection worker."""
    app = create_app(database_url, pool_size=10, run_projections=True)
    async with AsyncTestClient(app=app) as client:
        yield client


def _refused_as_taken(response: Any, owner: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "urn:entente:problem:already-exists"
    assert owner in problem["detail"]


async def test_a_session_id_of_another_dialogue_is_refused(live, tokens, pool):
    writer = Driver(live, tokens["writer"])
    first, second, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for dialogue in (first, second):
        launched = await writer.send(c.LaunchDialogue(dialogue_id=dialogue, charter=b.charter()))
        assert launched.status_code == 201, launched.text
    scheduled = await writer.send(
        c.ScheduleSession(dialogue_id=first, session_id=session, plan=b.plan())
    )
    assert scheduled.is_success, scheduled.text
    before = await event_count(pool)
    for reuse in (
        c.ScheduleSession(dialogue_id=second, session_id=session, plan=b.plan()),
        c.HoldSession(dialogue_id=second, session_id=session, record=b.record()),
    ):
        _refused_as_taken(await writer.send(reuse), f"dialogue-{first}")
    assert await event_count(pool) == before

    # the register stays consistent: the session is the first dialogue's, and it is read
    session_url = f"/sessions/{session}"
    read = await live.get(
        session_url,
        params={"after_position": scheduled.json()["position"]},
        headers=auth(tokens["reader"]),
    )
    assert read.status_code == 200, read.text
    assert read.json()["dialogue_id"] == str(first)
    listed = await live.get(
        "/sessions", params={"dialogue_id": str(second)}, headers=auth(tokens["reader"])
    )
    assert listed.json()["items"] == []


async def test_an_outcome_id_of_another_dialogue_is_refused(live, tokens):
    writer = Driver(live, tokens["writer"])
    first, second, shared, other_outcome = (uuid.uuid4() for _ in range(4))
    sessions = {first: uuid.uuid4(), second: uuid.uuid4()}
    for dialogue, session in sessions.items():
        launched = await writer.send(c.LaunchDialogue(dialogue_id=dialogue, charter=b.charter()))
        assert launched.is_success, launched.text
        held = await writer.send(
            c.HoldSession(dialogue_id=dialogue, session_id=session, record=b.record())
        )
        assert held.is_success, held.text

    def adopt(dialogue: uuid.UUID, outcome: uuid.UUID) -> c.AdoptOutcome:
        return c.AdoptOutcome(
            dialogue_id=dialogue, session_id=sessions[dialogue], outcome_id=outcome, terms=b.terms()
        )

    assert (await writer.send(adopt(first, shared))).is_success
    _refused_as_taken(await writer.send(adopt(second, shared)), f"dialogue-{first}")
    assert (await writer.send(adopt(second, other_outcome))).is_success

    # progress notes live under their outcome: the same progress id elsewhere is fine
    for dialogue, outcome in ((first, shared), (second, other_outcome)):
        progress = c.RecordProgress(
            dialogue_id=dialogue, outcome_id=outcome, progress_id=shared, progress=b.progress()
        )
        assert (await writer.send(progress)).is_success


async def test_an_indicator_or_milestone_id_of_another_pair_is_refused(live, tokens):
    writer = Driver(live, tokens["writer"])
    shared = uuid.uuid4()
    for record in (
        lambda pair: c.RecordIndicator(parties=pair, indicator_id=shared, indicator=b.indicator()),
        lambda pair: c.RecordMilestone(parties=pair, milestone_id=shared, milestone=b.milestone()),
    ):
        assert (await writer.send(record(("KZ", "US")))).is_success
        _refused_as_taken(await writer.send(record(("KZ", "UZ"))), "relationship-KZ-US")
        # the same record again on its own pair is still an idempotent no-op, not a 409
        again = await writer.send(record(("KZ", "US")))
        assert again.is_success and again.json()["events"] == []
