"""Migration 0020: on-demand export runs get an expiry and a requester, and go back."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid

import asyncpg

from store.database import asyncpg_dsn
from store.migrate import downgrade, upgrade
from tests.conftest import drop_database
from tests.integration.test_migrations import empty_database

BEFORE = "0019_one_statement_batches"
COLUMNS = """SELECT array_agg(column_name::text ORDER BY column_name)
FROM information_schema.columns WHERE table_schema = 'exports' AND table_name = 'runs'
  AND column_name IN ('expires_at', 'requested_by')"""
INDEXES = """SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes
WHERE schemaname = 'exports'
  AND indexname IN ('runs_expiring', 'runs_in_progress_by_key', 'runs_kept_files')"""

INSERT = """INSERT INTO exports.runs (run_id, schedule_id, report, parameters, format,
    destination, due_at, status, next_attempt_at, finished_at, file_name)
VALUES ($1, $2, 'visits', '{}', 'csv', $3, now(), $4, now(), $5, 'f.csv')"""


async def test_the_export_retention_migration_backfills_old_files_and_downgrades(
    postgres_url: str,
):
    url = await empty_database(postgres_url, f"entente_migration_export_keep_{os.getpid()}")
    try:
        await asyncio.to_thread(upgrade, url, BEFORE)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        finished = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        schedule_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO exports.schedules (schedule_id, name, cron, timezone, report, format,"
            " destination, retention, next_run_at)"
            " VALUES ($1, 'daily', '0 8 * * *', 'UTC', 'visits', 'csv', 'daily', 3, now())",
            schedule_id,
        )
        on_demand, scheduled, failed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await connection.execute(INSERT, on_demand, None, "on-demand", "succeeded", finished)
        await connection.execute(INSERT, scheduled, schedule_id, "daily", "succeeded", finished)
        await connection.execute(INSERT, failed, None, "on-demand", "failed", finished)
        assert await connection.fetchval(COLUMNS) is None

        await asyncio.to_thread(upgrade, url)
        assert await connection.fetchval(COLUMNS) == ["expires_at", "requested_by"]
        assert await connection.fetchval(INDEXES) == [
            "runs_expiring",
            "runs_in_progress_by_key",
            "runs_kept_files",
        ]
        expiry = {
            r["run_id"]: r["expires_at"]
            for r in await connection.fetch("SELECT run_id, expires_at FROM exports.runs")
        }
        assert expiry == {
            on_demand: finished + dt.timedelta(hours=24),  # files already on disk go in a day
            scheduled: None,  # its schedule's retention counts files
            failed: None,  # no file
        }
        async with connection.transaction():  # the sweep and the cap read their indexes
            await connection.execute("SET LOCAL enable_seqscan = off")
            sweep = await connection.fetchval(
                "EXPLAIN (FORMAT JSON) SELECT run_id FROM exports.runs WHERE status = 'succeeded'"
                " AND expires_at IS NOT NULL AND expires_at <= now() ORDER BY expires_at LIMIT 500"
            )
            cap = await connection.fetchval(
                "EXPLAIN (FORMAT JSON) SELECT count(*) FROM exports.runs WHERE requested_by = 'k'"
                " AND status IN ('due', 'retrying', 'running')"
            )
        assert "runs_expiring" in sweep
        assert "runs_in_progress_by_key" in cap

        await asyncio.to_thread(downgrade, url, BEFORE)
        assert await connection.fetchval(COLUMNS) is None
        assert await connection.fetchval(INDEXES) is None
        assert await connection.fetchval("SELECT count(*) FROM exports.runs") == 3
        await asyncio.to_thread(upgrade, url)
        assert await connection.fetchval(COLUMNS) == ["expires_at", "requested_by"]
        await connection.close()
    finally:
        await drop_database(postgres_url, url)
