"""Workers as separate processes: killed mid-batch, started in pairs, rebuilt under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest_asyncio

from benchmarks.workload import load_workload
from projections import rebuild
from projections.registry import PROJECTIONS, create_engine
from projections.runner import LOCK_CLASS, Runner
from projections.tables import APPLY_INDEXES
from store import EventStore
from tests.integration.read_models import assert_same, reporting_tables, snapshot

ROOT = Path(__file__).resolve().parents[2]


def start_worker(url: str, batch: int = 20) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--database-url", url, "worker"],
        cwd=ROOT,
        env={**os.environ, "ENTENTE_BATCH_SIZE": str(batch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def caught_up(pool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        behind = await pool.fetchval(
            "SELECT count(*) FROM projection_state.checkpoints c WHERE EXISTS ("
            " SELECT 1 FROM event_store.events e WHERE (e.transaction_id, e.position)"
            " > (c.transaction_id::text::xid8, c.position))"
        )
        registered = await pool.fetchval("SELECT count(*) FROM projection_state.checkpoints")
        if registered >= len(PROJECTIONS) and behind == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("projections did not catch up")


async def worker_backends(pool) -> set[int]:
    """Backends of this database other than the test's own."""
    rows = await pool.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    return {r["pid"] for r in rows}


async def settled_owners(pool, timeout: float = 30) -> list[Any]:
    """The projection locks held in this database, once every projection has an owner (a
    worker restarting its loop under load holds none for its back-off; never two)."""
    deadline = time.monotonic() + timeout
    while True:
        owners: list[Any] = await pool.fetch(
            "SELECT l.objid, a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            LOCK_CLASS,
        )
        if len(owners) >= len(PROJECTIONS) or time.monotonic() > deadline:
            return owners
        await asyncio.sleep(0.1)


async def reset_read_models(pool) -> None:
    tables = await reporting_tables(pool)
    async with pool.acquire() as connection, connection.transaction():
        for table in tables:
            await connection.execute(f"DELETE FROM reporting.{table}")
        await connection.execute("DELETE FROM projection_state.checkpoints")
        await connection.execute("DELETE FROM projection_state.stream_versions")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def reference(database_url, pool):
    """The workload, and its read models built in one uninterrupted in-process run."""
    written = await load_workload(EventStore(pool), dialogues=60)
    engine = create_engine(database_url)
    runner = Runner(engine, EventStore(pool), database_url, PROJECTIONS, batch_size=500)
    await runner.ensure_checkpoints()
    await runner.catch_up()
    expected = await snapshot(pool)
    await runner.release()
    await engine.dispose()
    assert written > 600
    assert len(expected["relationship_timeline"]) == written
    return expected


async def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(
    reference, database_url, pool, owner_pool
):
    await reset_read_models(pool)
    worker = start_worker(database_url, batch=20)
    killed_mid_batch = False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and not killed_mid_batch:
            in_batch = await owner_pool.fetchval(  # the owner sees other sessions' queries
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                " AND query ILIKE '%reporting.%'"
            )
            applied = await pool.fetchval(
                "SELECT coalesce(sum(events_applied), 0) FROM projection_state.checkpoints"
            )
            if in_batch and applied > 50:
                worker.send_signal(signal.SIGKILL)
                killed_mid_batch = True
            await asyncio.sleep(0.005)
    finally:  # never left running, whatever happened above
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=10)
    assert killed_mid_batch, "never caught the worker inside a batch"
    partial = await pool.fetchval("SELECT count(*) FROM reporting.relationship_timeline")
    assert 0 < partial < len(reference["relationship_timeline"])

    restarted = start_worker(database_url)
    try:
        await caught_up(pool)
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
    assert_same(await snapshot(pool), reference)


async def test_two_workers_share_the_projections_without_overlap(reference, database_url, pool):
    await reset_read_models(pool)
    workers = [start_worker(database_url), start_worker(database_url)]
    try:
        await caught_up(pool)
        owners = await settled_owners(pool)
        assert len(owners) == len(PROJECTIONS), "each projection has exactly one owner"
        assert len({o["objid"] for o in owners}) == len(PROJECTIONS)
        assert {o["pid"] for o in owners} <= await worker_backends(pool)
        applied = await pool.fetch(
            "SELECT projection, events_applied FROM projection_state.checkpoints"
        )
        assert all(r["events_applied"] > 0 for r in applied)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=10)
    assert_same(await snapshot(pool), reference)


async def test_a_rebuild_equals_the_incremental_model_and_readers_never_see_a_gap(
    reference, database_url, pool
):
    engine = create_engine(database_url)
    runner = Runner(engine, EventStore(pool), database_url, PROJECTIONS, batch_size=50)
    await runner.ensure_checkpoints()
    await runner.catch_up()
    before = await snapshot(pool)
    assert before == reference
    expected_counts = {t: len(rows) for t, rows in before.items()}
    stop = asyncio.Event()
    observed: list[int] = []

    async def read_while_rebuilding() -> None:
        while not stop.is_set():
            observed.append(await pool.fetchval("SELECT count(*) FROM reporting.sessions"))
            observed.append(
                await pool.fetchval(
                    "SELECT count(*) FROM reporting.dialogues d JOIN reporting.outcomes o"
                    " USING (dialogue_id)"
                )
                - expected_counts["outcomes"]
                + expected_counts["sessions"]
            )
            await asyncio.sleep(0)

    reader = asyncio.create_task(read_while_rebuilding())
    assert await runner.try_own("dialogues")
    await runner.rebuild("dialogues")
    stop.set()
    await reader
    await runner.release()
    await engine.dispose()
    assert len(observed) > 10
    assert set(observed) == {expected_counts["sessions"]}, "a reader saw a partial model"
    assert_same(await snapshot(pool), reference)
    tables = await pool.fetchval(
        "SELECT count(*) FROM pg_tables WHERE schemaname IN ('reporting_rebuild',"
        " 'reporting_retired')"
    )
    assert tables == 0


async def reporting_indexes(pool) -> list[tuple[str, str, str]]:
    rows = await pool.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'reporting'"
        " ORDER BY tablename, indexname"
    )
    return [tuple(r.values()) for r in rows]


async def test_a_rebuild_of_every_model_keeps_each_index_under_its_own_name(
    reference, database_url, pool
):
    """Shadows are filled with only the indexes their own statements need; the rest are
    built before the swap, so the swapped-in tables carry exactly the live definitions."""
    engine = create_engine(database_url)
    runner = Runner(engine, EventStore(pool), database_url, PROJECTIONS, batch_size=500)
    await runner.ensure_checkpoints()
    await runner.catch_up()
    before = await reporting_indexes(pool)
    assert any(name == "ix_timeline_parties" for _, name, _ in before)
    names = [p.name for p in PROJECTIONS]
    for name in names:
        assert await runner.try_own(name)
        await runner.request_rebuild(name)
    await rebuild.requested(engine, list(PROJECTIONS))
    shadow = await pool.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'reporting_rebuild'"
        " AND indexname NOT LIKE '%pkey'"
    )
    assert len(APPLY_INDEXES) == 3  # sessions, outcomes and outcome_progress by dialogue
    assert {r["indexname"] for r in shadow} == set(APPLY_INDEXES)
    # as a shadow begun by a version that copied every index under generated names has
    await pool.execute(
        "CREATE INDEX relationship_timeline_parties_idx"
        " ON reporting_rebuild.relationship_timeline USING gin (parties)"
    )
    await runner.rebuild_all(names)
    await runner.release()
    await engine.dispose()
    assert await reporting_indexes(pool) == before
    assert_same(await snapshot(pool), reference)
