"""Reads on a real streaming replica: never stale after a position, never wrong without.

The test server gets a hot standby (tests/replica.py: pg_basebackup, standby.signal,
primary_conninfo, its own socket under .data/). The app writes on the primary and reads
the audit routes and read models on the standby. Pausing WAL replay on the standby
(`pg_wal_replay_pause()`, as its superuser) makes its lag observable: a read that names
a position the standby has not replayed is a 503 with Retry-After; a read that names none
answers what the standby has, which is a prefix of the primary's truth.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from litestar.exceptions import HTTPException
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.freshness import ReadYourWrites
from store.database import asyncpg_dsn, create_pool
from store.event_store import EventStore
from store.records import START
from tests.api.conftest import auth
from tests.replica import on_replica, stop_replica, streaming_replica

SHORT_WAIT = 0.3
"""How long a read waits for the paused standby in these tests before its 503."""


async def _fetchval(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def replica(postgres_url: str, owner_database_url: str) -> AsyncIterator[Path]:
    """A hot standby of the test server, once it serves this module's database."""
    major = int(await _fetchval(postgres_url, "SHOW server_version_num")) // 10000
    with streaming_replica(postgres_url, major) as socket_dir:
        for _ in range(200):  # the module's database reaches the standby by WAL
            try:
                await _fetchval(on_replica(owner_database_url, socket_dir), "SELECT 1")
                break
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.1)
        yield socket_dir


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def replica_owner_url(replica: Path, owner_database_url: str) -> str:
    """The module's database on the standby as a superuser (to pause and resume replay)."""
    return on_replica(owner_database_url, replica)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def replica_pool(replica: Path, database_url: str) -> AsyncIterator[Any]:
    """The module's database on the standby, as the least-privilege login."""
    pool = await create_pool(on_replica(database_url, replica), max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(replica: Path, database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app writing on the primary and reading on the standby, with its worker."""
    app = create_app(
        database_url,
        pool_size=5,
        run_projections=True,
        read_database_url=on_replica(database_url, replica),
    )
    async with AsyncTestClient(app=app) as client:
        yield client


async def _pause_replay(url: str) -> None:
    await _fetchval(url, "SELECT pg_wal_replay_pause()")
    for _ in range(200):
        if await _fetchval(url, "SELECT pg_get_wal_replay_pause_state()") == "paused":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the standby did not pause its replay")


async def _resume_replay(url: str) -> None:
    await _fetchval(url, "SELECT pg_wal_replay_resume()")


async def _launch(client: Any, token: str, name: str) -> tuple[uuid.UUID, str]:
    dialogue_id = uuid.uuid4()
    body = {
        "dialogue_id": str(dialogue_id),
        "charter": {"name": name, "format": "bilateral", "parties": ["KZ", "FR"]},
    }
    written = await client.post("/dialogues", json=body, headers=auth(token))
    assert written.status_code == 201, written.text
    return dialogue_id, written.headers["X-Position"]


async def _rename(client: Any, token: str, dialogue_id: uuid.UUID, name: str) -> str:
    body = {"dialogue_id": str(dialogue_id), "name": name}
    written = await client.post(f"/dialogues/{dialogue_id}/rename", json=body, headers=auth(token))
    assert written.status_code == 200, written.text
    return str(written.headers["X-Position"])


async def _stream(client: Any, token: str, dialogue_id: uuid.UUID, **headers: str) -> Any:
    return await client.get(
        f"/streams/dialogue-{dialogue_id}/events", headers=auth(token, **headers)
    )


async def test_a_write_is_read_on_the_replica_after_its_position(client, tokens, store):
    dialogue_id, position = await _launch(client, tokens["writer"], "Replica Dialogue")
    read = await _stream(client, tokens["auditor"], dialogue_id, **{"X-After-Position": position})
    assert read.status_code == 200, read.text
    primary = await store.read_stream(f"dialogue-{dialogue_id}")
    assert [e["event_id"] for e in read.json()["events"]] == [str(e.event_id) for e in primary]


async def test_a_lagging_replica_is_503_after_a_position_and_stale_but_right_without(
    client, tokens, store, replica_owner_url
):
    auditor = tokens["auditor"]
    dialogue_id, launched = await _launch(client, tokens["writer"], "Lagging Dialogue")
    seen = await _stream(client, auditor, dialogue_id, **{"X-After-Position": launched})
    assert seen.status_code == 200 and len(seen.json()["events"]) == 1
    await _pause_replay(replica_owner_url)
    client.app.state.read_your_writes_wait = SHORT_WAIT
    try:
        renamed = await _rename(client, tokens["writer"], dialogue_id, "Renamed While Lagging")

        refused = await _stream(client, auditor, dialogue_id, **{"X-After-Position": renamed})
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["type"] == "urn:entente:problem:not-yet-consistent"

        stale = await _stream(client, auditor, dialogue_id)
        truth = await store.read_stream(f"dialogue-{dialogue_id}")
        assert stale.status_code == 200
        got = [(e["version"], e["hash"]) for e in stale.json()["events"]]
        assert len(truth) == 2 and len(got) == 1  # behind the primary ...
        assert got == [(e.version, _hex(e.hash)) for e in truth][: len(got)]  # ... never wrong

        feed = await client.get("/events", params={"limit": 1000}, headers=auth(auditor))
        assert feed.status_code == 200
        replica_ids = [e["event_id"] for e in feed.json()["events"]]
        primary_ids = [str(e.event_id) for e in (await store.read_all(START, limit=1000)).events]
        assert replica_ids == primary_ids[: len(replica_ids)] != primary_ids
    finally:
        await _resume_replay(replica_owner_url)
        client.app.state.read_your_writes_wait = 5.0

    caught_up = await _stream(client, auditor, dialogue_id, **{"X-After-Position": renamed})
    assert caught_up.status_code == 200
    assert [e["version"] for e in caught_up.json()["events"]] == [1, 2]


async def test_replayed_states_are_read_on_the_replica(client, tokens, replica_owner_url):
    """GET /dialogues/{id} replays the replica's log: while replay is paused it answers the
    version the standby holds (stale, never wrong), and the new one once it has caught up."""
    reader = tokens["reader"]
    dialogue_id, launched = await _launch(client, tokens["writer"], "Replayed Dialogue")
    assert (
        await _stream(client, tokens["auditor"], dialogue_id, **{"X-After-Position": launched})
    ).status_code == 200
    await _pause_replay(replica_owner_url)
    try:
        renamed = await _rename(client, tokens["writer"], dialogue_id, "Renamed Unseen")
        stale = await client.get(f"/dialogues/{dialogue_id}", headers=auth(reader))
        assert stale.status_code == 200, stale.text
        assert stale.json()["version"] == 1
        assert stale.json()["state"]["charter"]["name"] == "Replayed Dialogue"
    finally:
        await _resume_replay(replica_owner_url)
    caught_up = await _stream(
        client, tokens["auditor"], dialogue_id, **{"X-After-Position": renamed}
    )
    assert caught_up.status_code == 200
    fresh = await client.get(f"/dialogues/{dialogue_id}", headers=auth(reader))
    assert fresh.json()["version"] == 2
    assert fresh.json()["state"]["charter"]["name"] == "Renamed Unseen"


async def test_read_models_on_the_replica_wait_for_its_own_checkpoints(
    client, tokens, pool, store, replica_pool, replica_owner_url
):
    on_primary = ReadYourWrites(pool, store, None, 10.0)
    on_replica = ReadYourWrites(replica_pool, EventStore(replica_pool), None, 10.0)
    first, position = await _launch(client, tokens["writer"], "Projected Dialogue")
    await on_replica.read_models(position)
    assert await _dialogue_rows(replica_pool, first) == 1

    await _pause_replay(replica_owner_url)
    try:
        second, later = await _launch(client, tokens["writer"], "Projected While Lagging")
        await on_primary.read_models(later)  # the primary's read models have it ...
        lagging = ReadYourWrites(replica_pool, EventStore(replica_pool), None, SHORT_WAIT)
        with pytest.raises(HTTPException) as refused:  # ... the paused standby's do not
            await lagging.read_models(later)
        assert refused.value.status_code == 503
        assert refused.value.headers == {"Retry-After": "1"}
        with pytest.raises(HTTPException):
            await lagging.log(later)
        assert await _dialogue_rows(replica_pool, first) == 1  # what it has is right
        assert await _dialogue_rows(replica_pool, second) == 0
    finally:
        await _resume_replay(replica_owner_url)
    await on_replica.read_models(later)
    await on_replica.log(later)
    assert await _dialogue_rows(replica_pool, second) == 1


async def test_the_replica_verifies_the_chains_it_holds(client, tokens, store):
    _, position = await _launch(client, tokens["writer"], "Verified Dialogue")
    headers = auth(tokens["auditor"], **{"X-After-Position": position})
    assert (await client.get("/events", headers=headers)).status_code == 200  # replayed
    verified = await client.get("/verify", headers=auth(tokens["auditor"]))
    assert verified.status_code == 200, verified.text
    report = verified.json()
    assert report["broken"] == []
    assert report["events_checked"] >= len((await store.read_all(START, limit=1000)).events)


async def test_readiness_asks_the_replica_too(client, replica, postgres_url):
    assert (await client.get("/health/ready")).status_code == 200
    major = int(await _fetchval(postgres_url, "SHOW server_version_num")) // 10000
    stop_replica(replica, major)  # the last test of the module: the standby is gone
    not_ready = await client.get("/health/ready")
    assert not_ready.status_code == 503
    assert "the read database does not answer" in not_ready.json()["detail"]


async def _dialogue_rows(replica_pool: Any, dialogue_id: uuid.UUID) -> int:
    return int(
        await replica_pool.fetchval(
            "SELECT count(*) FROM reporting.dialogues WHERE dialogue_id = $1", dialogue_id
        )
    )


def _hex(value: bytes) -> str:
    return value.hex()
