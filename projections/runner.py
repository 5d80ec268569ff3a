"""Runs projections: batches in global order, checkpoint in the same transaction, ownership.

Each batch is one transaction that locks the projection's checkpoint row, reads the next
events after it, applies them and moves the checkpoint: a crash anywhere rolls all of it
back, so no event's effect is lost or doubled. A worker owns a projection while it holds
the projection's session advisory lock (class 2), so several workers share the work and
a dead worker's projections are taken over by the next one that asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projections.projection import Projection
from projections.states import StreamStates
from projections.tables import SCHEMA
from store.availability import database_unavailable, summary
from store.database import asyncpg_dsn
from store.event_store import EventStore
from store.metrics import PROJECTION_BATCHES
from store.records import Cursor, Page
from store.subscription import Subscription

log = logging.getLogger("entente.projections")

LOCK_CLASS = 2
SHADOW_SCHEMA = "reporting_rebuild"
RETIRED_SCHEMA = "reporting_retired"
BATCH_SIZE = 500

CHECKPOINT_FOR_UPDATE = text(
    "SELECT transaction_id, position, rebuild_requested_at FROM projection_state.checkpoints"
    " WHERE projection = :name FOR UPDATE"
)
ADVANCE = text(
    "UPDATE projection_state.checkpoints SET transaction_id = :txid, position = :pos,"
    " events_applied = events_applied + :applied, updated_at = now(), state = :state,"
    " last_event_recorded_at = coalesce(:last_recorded, last_event_recorded_at),"
    " last_error = NULL WHERE projection = :name"
)
FAILED = text(
    "UPDATE projection_state.checkpoints SET last_error = :error, updated_at = now()"
    " WHERE projection = :name"
)
SLOWEST = text(
    "SELECT transaction_id, position FROM projection_state.checkpoints"
    " WHERE projection = ANY(:names) ORDER BY transaction_id, position LIMIT 1"
)
RETRY_AFTER_FAILURE = 1.0
"""Seconds before a failed batch is tried again (it usually fails the same way at once)."""
WORK_SCHEMA = text("SELECT projection_state.create_work_schema(:name)")
"""Rebuild and snapshot schemas, made for (and owned by) entente_app, which may not CREATE
SCHEMA itself (migrations/versions/0007_least_privilege.py)."""

ENSURE = text(
    "INSERT INTO projection_state.checkpoints (projection, transaction_id, position,"
    " events_applied, updated_at, state) VALUES (:name, 0, 0, 0, now(), :state)"
    " ON CONFLICT (projection) DO NOTHING"
)


def shadow_name(name: str) -> str:
    """The bookkeeping name of a projection's rebuild."""
    return f"{name}:rebuild"


class Target:
    """Where a batch goes: the live tables, a rebuild's shadow tables, or a snapshot's."""

    def __init__(
        self,
        projection: Projection,
        store: EventStore,
        *,
        shadow: bool = False,
        name: str | None = None,
        schema: str | None = None,
    ) -> None:
        self.projection = projection
        self.shadow = shadow or schema is not None
        self.name = name or (shadow_name(projection.name) if shadow else projection.name)
        self.schema = schema or (SHADOW_SCHEMA if shadow else None)
        self.states = StreamStates(store, self.name)

    async def bind(self, tx: AsyncConnection) -> AsyncConnection:
        """The connection, writing to the shadow or snapshot schema when there is one."""
        if self.schema:
            return await tx.execution_options(schema_translate_map={SCHEMA: self.schema})
        return tx


class Runner:
    """Applies every projection this process owns until told to stop."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: EventStore,
        database_url: str,
        projections: Sequence[Projection],
        *,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._engine = engine
        self._store = store
        self._url = database_url
        self.projections = list(projections)
        self._batch_size = batch_size
        self._live = {p.name: Target(p, store, shadow=False) for p in projections}
        self._shadow = {p.name: Target(p, store, shadow=True) for p in projections}
        self._locks: Any | None = None
        self.owned: set[str] = set()
        self.failed: set[str] = set()
        """The projections whose batch failed in the last `step`."""
        self._last_failure: dict[str, str] = {}

    async def ensure_checkpoints(self) -> None:
        """A checkpoint row at the start of the log for every projection that has none."""
        async with self._engine.begin() as tx:
            for projection in self.projections:
                await tx.execute(ENSURE, {"name": projection.name, "state": "idle"})

    async def try_own(self, name: str) -> bool:
        """Take the projection if no other process holds it; True when this one does."""
        if self._locks is not None and self._locks.is_closed():
            # the session that held the locks is gone, and the locks with it
            log.warning("lost the projection lock connection; taking ownership again")
            self._locks = None
            self.owned.clear()
        if name in self.owned:
            return True
        if self._locks is None:
            self._locks = await asyncpg.connect(asyncpg_dsn(self._url))
        if await self._locks.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CLASS, name
        ):
            self.owned.add(name)
            log.info("owning projection %s", name)
        return name in self.owned

    async def release(self) -> None:
        """Give up every projection (closing the lock connection releases its locks)."""
        if self._locks is not None:
            try:
                await self._locks.close(timeout=2)
            except Exception:  # a dead connection: the server released the locks with it
                self._locks.terminate()
            self._locks = None
        self.owned.clear()

    async def apply_batch(self, target: Target, until: Cursor | None = None) -> int:
        """Apply the next batch for `target` (up to `until`); returns events read.

        The cached states are trusted only while this process is the one that moved the
        checkpoint (`StreamStates.follow`), and are dropped when a batch fails: the rows
        then depend on the log alone, not on which process applied which batch.
        """
        projection = target.projection
        try:
            async with self._engine.begin() as tx:
                row = (await tx.execute(CHECKPOINT_FOR_UPDATE, {"name": target.name})).one()
                after = Cursor(row.transaction_id, row.position)
                target.states.follow(after)
                page = await self._store.read_all(after, limit=self._batch_size)
                if until is not None and page.cursor > until:
                    page = Page(
                        events=[e for e in page.events if e.cursor <= until],
                        cursor=max(until, after),
                    )
                wanted = [
                    e for e in page.events if e.stream_id.startswith(projection.stream_prefixes)
                ]
                if wanted:
                    await projection.apply(await target.bind(tx), wanted, target.states)
                    await target.states.flush(tx)
                if page.cursor != after:
                    await tx.execute(
                        ADVANCE,
                        {
                            "name": target.name,
                            "txid": page.cursor.transaction_id,
                            "pos": page.cursor.position,
                            "applied": len(wanted),
                            "state": "rebuilding" if target.shadow else "running",
                            "last_recorded": page.events[-1].recorded_at if page.events else None,
                        },
                    )
            target.states.committed(page.cursor)
            if page.cursor != after:
                PROJECTION_BATCHES.labels(target.name).inc()
            return len(page.events)
        except BaseException:
            target.states.forget()
            raise

    async def catch_up(self, names: Sequence[str] | None = None) -> int:
        """Apply batches until every (named) projection has read all it can; for tests, CLI."""
        total = 0
        for projection in self.projections:
            if names is None or projection.name in names:
                total += await self.drain(self._live[projection.name])
        return total

    async def drain(self, target: Target, until: Cursor | None = None) -> int:
        """Apply batches to one target until it has read everything (up to `until`)."""
        total = 0
        while read := await self.apply_batch(target, until):
            total += read
        return total

    async def request_rebuild(self, name: str) -> None:
        """Ask the owner of `name` to rebuild it beside the live tables."""
        async with self._engine.begin() as tx:
            await tx.execute(
                text(
                    "UPDATE projection_state.checkpoints SET rebuild_requested_at = now()"
                    " WHERE projection = :name AND rebuild_requested_at IS NULL"
                ),
                {"name": name},
            )

    async def _start_shadow(self, projection: Projection) -> None:
        async with self._engine.begin() as tx:
            await tx.execute(WORK_SCHEMA, {"name": SHADOW_SCHEMA})
            for table in projection.tables:
                await tx.execute(text(f"DROP TABLE IF EXISTS {SHADOW_SCHEMA}.{table.name}"))
                await tx.execute(
                    text(
                        f"CREATE TABLE {SHADOW_SCHEMA}.{table.name}"
                        f" (LIKE {SCHEMA}.{table.name} INCLUDING ALL)"
                    )
                )
            shadow = shadow_name(projection.name)
            await tx.execute(
                text("DELETE FROM projection_state.stream_versions WHERE projection = :name"),
                {"name": shadow},
            )
            await tx.execute(
                text("DELETE FROM projection_state.checkpoints WHERE projection = :name"),
                {"name": shadow},
            )
            await tx.execute(ENSURE, {"name": shadow, "state": "rebuilding"})
        self._shadow[projection.name].states.forget()

    async def _swap(self, projection: Projection) -> bool:
        """Swap the caught-up shadow in, in one transaction; False if live ran ahead."""
        shadow = shadow_name(projection.name)
        async with self._engine.begin() as tx:
            live = (await tx.execute(CHECKPOINT_FOR_UPDATE, {"name": projection.name})).one()
            built = (await tx.execute(CHECKPOINT_FOR_UPDATE, {"name": shadow})).one()
            if Cursor(built.transaction_id, built.position) < Cursor(
                live.transaction_id, live.position
            ):
                return False
            await tx.execute(WORK_SCHEMA, {"name": RETIRED_SCHEMA})
            for table in projection.tables:
                name = table.name
                await tx.execute(text(f"DROP TABLE IF EXISTS {RETIRED_SCHEMA}.{name}"))
                await tx.execute(text(f"ALTER TABLE {SCHEMA}.{name} SET SCHEMA {RETIRED_SCHEMA}"))
                await tx.execute(text(f"ALTER TABLE {SHADOW_SCHEMA}.{name} SET SCHEMA {SCHEMA}"))
                await tx.execute(text(f"DROP TABLE {RETIRED_SCHEMA}.{name}"))
            params = {"name": projection.name, "shadow": shadow}
            await tx.execute(
                text("DELETE FROM projection_state.stream_versions WHERE projection = :name"),
                params,
            )
            await tx.execute(
                text(
                    "UPDATE projection_state.stream_versions SET projection = :name"
                    " WHERE projection = :shadow"
                ),
                params,
            )
            await tx.execute(
                text(
                    "UPDATE projection_state.checkpoints AS live"
                    " SET transaction_id = s.transaction_id,"
                    " position = s.position, events_applied = s.events_applied, updated_at = now(),"
                    " state = 'running', rebuild_requested_at = NULL,"
                    " last_event_recorded_at = s.last_event_recorded_at"
                    " FROM projection_state.checkpoints AS s"
                    " WHERE live.projection = :name AND s.projection = :shadow"
                ),
                params,
            )
            await tx.execute(
                text("DELETE FROM projection_state.checkpoints WHERE projection = :shadow"), params
            )
        self._live[projection.name].states.forget()
        self._shadow[projection.name].states.forget()
        log.info("rebuilt projection %s and swapped it in", projection.name)
        return True

    async def _rebuild_step(self, projection: Projection) -> int:
        """Advance a requested rebuild by one batch; swap when it has caught up."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT projection, rebuild_requested_at FROM projection_state.checkpoints"
                        " WHERE projection IN (:name, :shadow)"
                    ),
                    {"name": projection.name, "shadow": shadow_name(projection.name)},
                )
            ).all()
        found = {r.projection: r.rebuild_requested_at for r in rows}
        if found.get(projection.name) is None:
            return 0
        if shadow_name(projection.name) not in found:
            await self._start_shadow(projection)
        read = await self.apply_batch(self._shadow[projection.name])
        if read == 0:
            await self._swap(projection)
        return read + 1

    async def rebuild(self, name: str) -> None:
        """Rebuild `name` to completion in this process (it must own the projection)."""
        projection = next(p for p in self.projections if p.name == name)
        await self.request_rebuild(name)
        while await self._rebuild_step(projection):
            await self.apply_batch(self._live[name])

    async def step(self) -> int:
        """One round over every projection this process owns (or can take); work done.

        A projection whose batch fails keeps its checkpoint (the batch rolled back), gets
        the error in its `last_error` (shown by `projections status`) and is tried again
        next round; the others go on. Its traceback is logged when the error first appears,
        not again every round while it stays the same.
        """
        done = 0
        self.failed.clear()
        for projection in self.projections:
            if not await self.try_own(projection.name):
                continue
            try:
                done += await self.apply_batch(self._live[projection.name])
                done += await self._rebuild_step(projection)
            except Exception as error:
                if database_unavailable(error):
                    raise  # the database, not the projection: the loop is restarted
                if self._last_failure.get(projection.name) != summary(error):
                    log.exception("projection %s: batch failed", projection.name)
                self._last_failure[projection.name] = summary(error)
                self.failed.add(projection.name)
                await self._record_failure(projection.name, error)
            else:
                self._last_failure.pop(projection.name, None)
        return done

    async def _record_failure(self, name: str, error: Exception) -> None:
        with contextlib.suppress(Exception):  # best effort: the database may be the problem
            async with self._engine.begin() as connection:
                await connection.execute(FAILED, {"name": name, "error": str(error)[:2000]})

    async def run(
        self,
        stop: asyncio.Event,
        *,
        idle_wait: float = 1.0,
        progressed: Callable[[], None] = lambda: None,
    ) -> None:
        """Work until `stop` is set: batches while there is work, else wait for a NOTIFY.

        One projection's failure is recorded and retried here; anything else (the database
        went away, the lock connection died) escapes after the locks are released, and the
        supervisor (projections.worker) starts `run` again: connect, listen, own afresh.
        `progressed` is called after every round, idle or not.
        """
        try:
            await self.ensure_checkpoints()
            async with Subscription(self._store, self._url) as subscription:
                while not stop.is_set():
                    worked = await self.step()
                    progressed()
                    if self.failed:
                        await asyncio.sleep(RETRY_AFTER_FAILURE)
                    elif not worked:
                        cursor = await self._slowest_cursor()
                        await subscription.wait_for_new(cursor, idle_wait)
        finally:
            await self.release()

    async def _slowest_cursor(self) -> Cursor:
        """Where the slowest of this runner's live projections stands (snapshots and
        rebuilds have checkpoint rows too, but are not waited for here)."""
        names = [p.name for p in self.projections]
        async with self._engine.connect() as connection:
            row = (await connection.execute(SLOWEST, {"names": names})).first()
        return Cursor(row.transaction_id, row.position) if row else Cursor(0, 0)
