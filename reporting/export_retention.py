"""Export files do not stay forever; their run rows do, as 'expired'.

A schedule keeps its newest `retention` files; an on-demand run's file is removed
ENTENTE_EXPORT_KEEP_HOURS after it succeeded, by a sweep at most every SWEEP_SECONDS in
each worker's loop, rows taken with SKIP LOCKED so several workers share it. File names are
deterministic, so runs at one position share one file: a file goes only when no succeeded
run names it, decided under an advisory lock on the file (`lock_file`) that a run
finishing with that name takes too (reporting/export_worker.py `_record_success`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("entente.exports")

SWEEP_SECONDS = 60.0
"""How often each worker looks for on-demand runs whose files are due to go."""
SWEEP_BATCH = 500
"""Runs expired per transaction (a backlog is swept in several)."""
FILE_LOCK = 18
"""Advisory lock class for one file (hashtext of destination/file name): the decision to
remove a file and a run's claim to it take turns."""


class FileRetention:
    """Which export files go, and when; one per export worker."""

    def __init__(self, pool: Any, root: Path, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self._pool = pool
        self.root = root
        self._sweep_seconds = sweep_seconds
        self._next_sweep = 0.0

    async def apply(self, schedule_id: uuid.UUID) -> None:
        """Keep the newest `retention` files of a schedule; older runs become 'expired'."""
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                """UPDATE exports.runs r SET status = 'expired'
                FROM exports.schedules s
                WHERE r.schedule_id = s.schedule_id AND s.schedule_id = $1
                  AND r.status = 'succeeded' AND r.run_id NOT IN (
                      SELECT run_id FROM exports.runs WHERE schedule_id = $1
                        AND status = 'succeeded' ORDER BY due_at DESC LIMIT s.retention)
                RETURNING r.destination, r.file_name""",
                schedule_id,
            )
            await self._keep_or_remove(connection, rows)

    async def expire_on_demand(self, batch: int = SWEEP_BATCH) -> int:
        """Mark the runs whose `expires_at` has passed 'expired' and remove their files (a
        file another succeeded run still names stays); how many runs expired.

        Rows are taken with FOR UPDATE SKIP LOCKED through the `runs_expiring` index, a
        batch per transaction: several workers sweeping at once expire each run once.
        """
        expired = 0
        while True:
            async with self._pool.acquire() as connection, connection.transaction():
                rows = await connection.fetch(
                    """UPDATE exports.runs SET status = 'expired'
                    WHERE run_id IN (
                        SELECT run_id FROM exports.runs
                        WHERE status = 'succeeded' AND expires_at IS NOT NULL
                          AND expires_at <= now()
                        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                    RETURNING destination, file_name""",
                    batch,
                )
                await self._keep_or_remove(connection, rows)
            expired += len(rows)
            if len(rows) < batch:
                return expired

    async def _keep_or_remove(self, connection: Any, rows: Sequence[Any]) -> None:
        """Remove each expired run's file and manifest unless a succeeded run names the
        same file; in the caller's transaction, holding each file's lock until it commits."""
        names = sorted({(r["destination"], r["file_name"]) for r in rows if r["file_name"]})
        doomed: list[Path] = []
        for destination, file_name in names:  # in order: two sweeps never deadlock
            await lock_file(connection, destination, file_name)
            held = await connection.fetchval(
                """SELECT EXISTS (SELECT 1 FROM exports.runs WHERE destination = $1
                    AND file_name = $2 AND status = 'succeeded')""",
                destination,
                file_name,
            )
            if not held:
                doomed += [
                    self.root / destination / f"{file_name}{suffix}"
                    for suffix in ("", ".manifest.json")
                ]
        if doomed:
            await asyncio.to_thread(_unlink_all, doomed)

    async def sweep_when_due(self) -> int:
        """Expire on-demand runs if SWEEP_SECONDS passed since this worker last did."""
        if time.monotonic() < self._next_sweep:
            return 0
        self._next_sweep = time.monotonic() + self._sweep_seconds
        expired = await self.expire_on_demand()
        if expired:
            log.info("expired %d on-demand export runs and removed their files", expired)
        return expired


async def lock_file(connection: Any, destination: str, file_name: str) -> None:
    await connection.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", FILE_LOCK, f"{destination}/{file_name}"
    )


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
