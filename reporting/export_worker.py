"""Runs scheduled and requested exports: due runs, claimed once, retried with backoff.

A schedule's due time becomes a run row (unique per schedule and due time, so two workers
cannot create it twice); a worker claims a run with FOR UPDATE SKIP LOCKED and holds it
by a lease, so a worker that dies mid-export loses the run to the next one after the
lease, and files only ever appear whole (see reporting.exporting).

Files do not stay forever (reporting/export_retention.py): a schedule keeps its newest
`retention` files, an on-demand run's file goes ENTENTE_EXPORT_KEEP_HOURS after it
succeeded; a run finishing takes its file's lock (`_record_success`), as the removal does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.catalogue import ReportParameters
from reporting.cron import InvalidSchedule, next_runs
from reporting.export_retention import SWEEP_SECONDS, FileRetention, lock_file
from reporting.exporting import Export, clear_staging, deliver, produce
from reporting.schedules import RUN_COLUMNS, Run, request_run, run_from_row
from reporting.snapshot import drop_stale_snapshots
from store.availability import database_unavailable
from store.event_store import EventStore
from store.settings import positive_number
from store.supervision import SupervisedLoop, running

log = logging.getLogger("entente.exports")


MAX_ATTEMPTS = 5
LEASE = dt.timedelta(seconds=float(os.environ.get("ENTENTE_EXPORT_LEASE_SECONDS", "600")))
DEFAULT_ROOT = Path(os.environ.get("ENTENTE_EXPORT_DIR", ".data/exports"))
KEEP = dt.timedelta(hours=positive_number("ENTENTE_EXPORT_KEEP_HOURS", "24", below=1e6))
"""How long an on-demand run's file is kept after it succeeded (default 24 hours: a
requester polls its job and downloads at once, and a day covers any working day in any
time zone; a file to keep belongs to a schedule, whose retention counts files)."""
IN_PROGRESS_PER_KEY = int(
    positive_number("ENTENTE_EXPORT_JOBS_PER_KEY", "4", whole=True, below=1e6)
)
"""On-demand exports one API key may have queued or running at once (both modes)."""
DUE_SCHEDULES = """SELECT schedule_id, cron, timezone, report, parameters::text, format,
    destination, next_run_at FROM exports.schedules
WHERE NOT paused AND next_run_at <= $1 FOR UPDATE SKIP LOCKED"""

CLAIM = f"""UPDATE exports.runs SET status = 'running', attempts = attempts + 1,
    claimed_by = $1, started_at = now(), lease_until = now() + $2::interval
WHERE run_id = (
    SELECT run_id FROM exports.runs
    WHERE (status IN ('due', 'retrying') AND next_attempt_at <= now())
       OR (status = 'running' AND lease_until < now())
    ORDER BY due_at, run_id FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING {RUN_COLUMNS}"""


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at 30 min."""
    return dt.timedelta(seconds=min(30 * 2 ** (attempts - 1), 1800))


def failure_summary(error: Exception) -> str:
    """What a run's `error` shows its requester: the first line of the error, never the
    SQL text and parameters a database error carries on the lines after it."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[0][:500]


class ExportWorker:
    """One process's share of the export work."""

    def __init__(
        self,
        pool: Any,
        engine: AsyncEngine,
        url: str,
        root: Path = DEFAULT_ROOT,
        *,
        lease: dt.timedelta = LEASE,
        keep: dt.timedelta = KEEP,
        sweep_seconds: float = SWEEP_SECONDS,
    ) -> None:
        self._pool = pool
        self._engine = engine
        self._store = EventStore(pool)
        self._url = url
        self.root = root
        self._lease = lease
        self._keep = keep
        self.retention = FileRetention(pool, root, sweep_seconds)
        """Schedules' retention and the on-demand sweep (reporting/export_retention.py)."""
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._started = False

    async def schedule_due_runs(self) -> int:
        """Turn every due schedule into a run (at most one catch-up run per schedule)."""
        created = 0
        async with self._pool.acquire() as connection, connection.transaction():
            now = await connection.fetchval("SELECT now()")
            for row in await connection.fetch(DUE_SCHEDULES, now):
                status = await connection.execute(
                    """INSERT INTO exports.runs (run_id, schedule_id, report, parameters, format,
                        destination, due_at, status, next_attempt_at)
                    VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, 'due', $7)
                    ON CONFLICT (schedule_id, due_at) DO NOTHING""",
                    uuid.uuid4(),
                    row["schedule_id"],
                    row["report"],
                    row["parameters"],
                    row["format"],
                    row["destination"],
                    row["next_run_at"],
                )
                created += status.endswith(" 1")
                try:
                    following = next_runs(
                        row["cron"], row["timezone"], max(now, row["next_run_at"])
                    )[0]
                except InvalidSchedule as error:  # e.g. its zone left the IANA database
                    log.warning("schedule %s paused: %s", row["schedule_id"], error)
                    await connection.execute(
                        "UPDATE exports.schedules SET paused = true WHERE schedule_id = $1",
                        row["schedule_id"],
                    )
                    continue
                await connection.execute(
                    "UPDATE exports.schedules SET next_run_at = $2 WHERE schedule_id = $1",
                    row["schedule_id"],
                    following,
                )
        return created

    async def claim(self) -> Run | None:
        """The oldest due run no one else holds (or whose holder's lease ran out)."""
        row = await self._pool.fetchrow(CLAIM, self.worker_id, self._lease)
        return run_from_row(row) if row else None

    async def run_now(
        self,
        report: str,
        parameters: ReportParameters,
        fmt: str,
        destination: str,
        *,
        requested_by: str | None = None,
        in_progress_limit: int | None = None,
    ) -> uuid.UUID:
        """Create a run held by this worker from the start and execute it here: an
        on-demand export the API answers with, which no other worker can take over.
        Raises TooManyInProgress (nothing written) when `requested_by` is at its limit."""
        run = await request_run(
            self._pool,
            report,
            parameters,
            fmt,
            destination,
            held_by=(self.worker_id, self._lease),
            requested_by=requested_by,
            in_progress_limit=in_progress_limit,
        )
        await self.execute(run)
        return run.run_id

    async def execute(self, run: Run) -> None:
        """Produce, deliver and record one run; on failure, schedule a retry or give up."""
        try:
            export = await produce(
                self._engine,
                self._store,
                self._url,
                run.report,
                msgspec.convert(run.parameters, ReportParameters),
                run.format,
            )
            await asyncio.to_thread(deliver, export, self.root / run.destination)
        except Exception as error:  # any failure is recorded on the run, never lost
            if database_unavailable(error):
                raise  # not the export's fault: the loop restarts and hands the run back
            log.warning("export run %s failed: %s", run.run_id, error)
            final = run.attempts >= MAX_ATTEMPTS
            await self._pool.execute(
                """UPDATE exports.runs SET status = $2, error = $3, lease_until = NULL,
                    finished_at = CASE WHEN $2 = 'failed' THEN now() END,
                    next_attempt_at = now() + $4::interval
                WHERE run_id = $1 AND claimed_by = $5""",
                run.run_id,
                "failed" if final else "retrying",
                failure_summary(error),
                backoff(run.attempts),
                self.worker_id,
            )
            return
        await self._record_success(run, export)
        if run.schedule_id is not None:
            await self.retention.apply(run.schedule_id)

    async def _record_success(self, run: Run, export: Export) -> None:
        """Mark the run succeeded (an on-demand one with its expiry), holding its file's
        lock: a sweep that removed the file of an expired run at this position after
        `deliver` wrote it (they share the name) is repaired by writing it again."""
        manifest = export.manifest
        folder = self.root / run.destination
        async with self._pool.acquire() as connection, connection.transaction():
            await lock_file(connection, run.destination, manifest.file_name)
            if not all(
                (folder / f"{manifest.file_name}{suffix}").is_file()
                for suffix in ("", ".manifest.json")
            ):
                await asyncio.to_thread(deliver, export, folder)
            await connection.execute(
                """UPDATE exports.runs SET status = 'succeeded', finished_at = now(),
                    lease_until = NULL, error = NULL, position = $2, row_count = $3,
                    sha256 = $4, file_name = $5, manifest = $6::jsonb,
                    expires_at = CASE WHEN schedule_id IS NULL THEN now() + $7::interval END
                WHERE run_id = $1""",
                run.run_id,
                manifest.position,
                manifest.row_count,
                manifest.sha256,
                manifest.file_name,
                msgspec.json.encode(manifest).decode(),
                self._keep,
            )

    async def step(self) -> bool:
        """Create due runs, expire old on-demand ones (when a sweep is due), then execute
        one; True when there was a run to execute."""
        await self.schedule_due_runs()
        await self.retention.sweep_when_due()
        run = await self.claim()
        if run is None:
            return False
        await self.execute(run)
        return True

    async def release_held_runs(self) -> int:
        """Hand back the runs this worker claimed but is no longer executing (its loop
        restarted after an error, the database's): retried now rather than after the
        lease, and without counting the attempt the outage cut short."""
        status = await self._pool.execute(
            """UPDATE exports.runs SET status = 'retrying', lease_until = NULL,
                next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
            WHERE claimed_by = $1 AND status = 'running'""",
            self.worker_id,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def run(
        self,
        stop: asyncio.Event,
        progressed: Callable[[], None] = lambda: None,
        *,
        idle_wait: float = 1.0,
    ) -> None:
        """Work until stopped; `progressed` after every round, idle or not. The signature
        is a SupervisedLoop's body (store/supervision.py), as the projection Runner's is.

        Errors escape to the supervisor (see running_exports), which calls `run` again:
        the first thing it does then is hand back the runs it held.
        """
        if self._started:
            if released := await self.release_held_runs():
                log.info("released %d export runs held when the loop failed", released)
        else:
            await asyncio.to_thread(clear_staging, self.root)
            if dropped := await drop_stale_snapshots(self._engine):
                log.warning("dropped %d snapshots left by exports that died", dropped)
            self._started = True
        while not stop.is_set():
            worked = await self.step()
            progressed()
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_wait)


@asynccontextmanager
async def running_exports(
    pool: Any, engine: AsyncEngine, url: str, root: Path = DEFAULT_ROOT
) -> AsyncIterator[SupervisedLoop]:
    """Run the export worker (schedules and runs), supervised, while the context is open."""
    async with running("exports", ExportWorker(pool, engine, url, root).run) as loop:
        yield loop
