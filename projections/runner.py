"""Runs projections: one read of the log per batch feeding every projection that is behind.

A batch is one transaction that locks the checkpoints of the projections it serves, reads
the next events after the slowest of them once (filtered in SQL to the event types they
follow), hands each projection the events past its own checkpoint and moves that
checkpoint, each projection inside a savepoint of its own: a crash anywhere rolls all of
it back, and one projection's failure rolls back only its own part. A worker owns a
projection while it holds the projection's session advisory lock (class 2), so several
workers share the work and a dead worker's projections are taken over by the next one.
Blue/green rebuilds (projections.rebuild) are batches too, into the shadow tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from typing import NamedTuple, get_args

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.events import DialogueEvent, RelationshipEvent, VisitEvent
from projections import checkpoints, rebuild
from projections.collector import Collector
from projections.projection import Projection
from projections.states import SharedSteps, StreamStates
from projections.tables import SCHEMA
from store.availability import database_unavailable, summary
from store.event_store import EventStore
from store.metrics import PROJECTION_BATCHES
from store.ownership import AdvisoryOwnership
from store.records import Cursor, Page, RecordedEvent
from store.subscription import Subscription

log = logging.getLogger("entente.projections")

LOCK_CLASS = 2
BATCH_SIZE = 10_000
"""Events per read of the log: large enough that a batch's fixed costs (a transaction, a
read, a statement per table, and above all rewriting the rows and stream version of every
dialogue the batch touches, once per batch) are small beside its events; small enough to
commit often. Rebuilding every model of 976,429 events, same-run A/B: 72.5 / 67.9 s in
batches of 2,000, 57.7 / 55.4 s in batches of 10,000; 5,000 and 20,000 were slower than
10,000 (docs/PERFORMANCE.md, "Deferred indexes and 10,000-event batches")."""
RETRY_AFTER_FAILURE = 1.0
"""Seconds before a failed batch is tried again (it usually fails the same way at once)."""

STREAM_EVENTS = {
    "dialogue-": DialogueEvent,
    "visit-": VisitEvent,
    "relationship-": RelationshipEvent,
}
"""The event types written to the streams of each prefix (the domain's stream kinds)."""


def followed_types(projections: Sequence[Projection]) -> list[str] | None:
    """The event types these projections follow, for the read's SQL filter; None (read
    everything) when they follow every stream kind or one this map does not know."""
    prefixes = {p for projection in projections for p in projection.stream_prefixes}
    if not prefixes <= STREAM_EVENTS.keys() or prefixes == STREAM_EVENTS.keys():
        return None
    kinds = [get_args(STREAM_EVENTS[prefix]) for prefix in sorted(prefixes)]
    return sorted(cls.__struct_config__.tag for kind in kinds for cls in kind)


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
        self.name = name or (rebuild.shadow_name(projection.name) if shadow else projection.name)
        self.schema = schema or (rebuild.SHADOW_SCHEMA if shadow else None)
        self.states = StreamStates(store, self.name)

    async def bind(self, tx: AsyncConnection) -> AsyncConnection:
        """The connection, writing to the shadow or snapshot schema when there is one."""
        if self.schema:
            return await tx.execution_options(schema_translate_map={SCHEMA: self.schema})
        return tx

    def wanted(self, page: Page, after: Cursor) -> list[RecordedEvent]:
        """The page's events past this target's checkpoint, of the streams it follows."""
        prefixes = self.projection.stream_prefixes
        return [e for e in past(page, after) if e.stream_id.startswith(prefixes)]

    async def apply(self, tx: AsyncConnection, after: Cursor, page: Page) -> None:
        """Apply a page's events past `after` and move the checkpoint to the page's end."""
        self.states.follow(after)
        wanted = self.wanted(page, after)
        if wanted:
            await self.projection.apply(await self.bind(tx), wanted, self.states)
            await self.states.flush(tx)
        recorded = [e.recorded_at for e in past(page, after)[-1:]]
        await checkpoints.advance(
            tx,
            self.name,
            page.cursor,
            applied=len(wanted),
            state="rebuilding" if self.shadow else "running",
            last_recorded=recorded[-1] if recorded else None,
        )


async def read_page(
    store: EventStore, after: Cursor, targets: Sequence[Target], limit: int, until: Cursor | None
) -> Page:
    """The next page of the log after `after` (up to `until`), of the event types the
    targets follow; payloads as their stored text, which folding decodes into events."""
    types = followed_types([t.projection for t in targets])
    page = await store.read_all(after, limit=limit, types=types, decoded=False)
    if until is not None and page.cursor > until:
        events = [e for e in page.events if e.cursor <= until]
        return Page(events=events, cursor=max(until, after))
    return page


class ReadAhead:
    """The next page of the log for these targets, read while the current one is applied.

    A batch waits on the database for its read and its writes; reading page n+1 (on the
    store's pool, another connection) while page n is folded and written hides most of
    the read. The page read ahead is used only by a pass that starts exactly where it was
    read from: what it holds is then exactly what that pass would have read (a page never
    reaches past the horizon of its read, so one read a little earlier is merely
    shorter), and the checkpoints move as they would without it.
    """

    def __init__(
        self, store: EventStore, targets: Sequence[Target], limit: int, until: Cursor | None
    ) -> None:
        self._read = functools.partial(read_page, store, targets=targets, limit=limit, until=until)
        self._after: Cursor | None = None
        self._task: asyncio.Task[Page] | None = None

    def start(self, after: Cursor) -> None:
        """Begin reading the page after `after`."""
        self._after, self._task = after, asyncio.ensure_future(self._read(after))

    async def take(self, after: Cursor) -> Page:
        """The page after `after`: the one read ahead if it is that page, else read now."""
        task, read_from = self._task, self._after
        self._task = self._after = None
        if task is not None and read_from == after:
            return await task
        await _dropped(task)
        return await self._read(after)

    async def cancel(self) -> None:
        """Drop the page being read ahead (the draining stopped)."""
        task, self._task, self._after = self._task, None, None
        await _dropped(task)


async def _dropped(task: asyncio.Task[Page] | None) -> None:
    """Cancel a read ahead that will not be used, and wait until its connection is back."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task  # its error, if any, is the next read's to meet


def past(page: Page, after: Cursor) -> list[RecordedEvent]:
    """The page's events after `after` (all of them unless a target is partly through it)."""
    start = (after.transaction_id, after.position)
    first = page.events[0] if page.events else None
    if first is None or (first.transaction_id, first.position) > start:
        return page.events
    return [e for e in page.events if (e.transaction_id, e.position) > start]


class Pass(NamedTuple):
    """What one batch did: events read, the targets whose part failed (rolled back), and
    those already past what was read (they wait for the slower ones, or a pass of their
    own)."""

    read: int
    failures: dict[str, Exception]
    waiting: list[Target]


class Failures:
    """Which projections failed their last batch. Each failure is recorded on the
    projection's checkpoint (`last_error`, shown by `projections status`); its traceback
    is logged when the error first appears, not again every round while it stays."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.failed: set[str] = set()
        self._last: dict[str, str] = {}

    async def note(self, name: str, error: Exception | None) -> None:
        """How a projection's last batch went."""
        if error is None:
            self._last.pop(name, None)
            return
        if self._last.get(name) != summary(error):
            log.error("projection %s: batch failed", name, exc_info=error)
        self._last[name] = summary(error)
        self.failed.add(name)
        with contextlib.suppress(Exception):  # best effort: the database may be the problem
            async with self._engine.begin() as tx:
                await checkpoints.record_failure(tx, name, str(error))


class Runner:
    """Applies every projection this process owns, in batches, until told to stop."""

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
        self._live = {p.name: Target(p, store) for p in projections}
        self._shadow = {p.name: Target(p, store, shadow=True) for p in projections}
        self._ownership = AdvisoryOwnership(database_url, LOCK_CLASS)
        self._failures = Failures(engine)
        self._collector = Collector()

    @property
    def owned(self) -> set[str]:
        """The projections this process holds the lock of."""
        return self._ownership.owned

    @property
    def failed(self) -> set[str]:
        """The projections whose batch failed in the last `step`."""
        return self._failures.failed

    async def ensure_checkpoints(self) -> None:
        """A checkpoint row at the start of the log for every projection that has none."""
        async with self._engine.begin() as tx:
            await checkpoints.ensure(tx, [p.name for p in self.projections], "idle")

    async def try_own(self, name: str) -> bool:
        """Take the projection if no other process holds it; True when this one does."""
        return await self._ownership.try_own(name)

    async def release(self) -> None:
        """Give up every projection."""
        await self._ownership.release()

    async def apply_batch(self, target: Target, until: Cursor | None = None) -> int:
        """Apply the next batch for one target (up to `until`); returns events read."""
        done = await self.apply_pass([target], until)
        for error in done.failures.values():
            raise error
        return done.read

    async def apply_pass(
        self,
        targets: Sequence[Target],
        until: Cursor | None = None,
        ahead: ReadAhead | None = None,
    ) -> Pass:
        """One read of the log, applied to every target that is behind it.

        The read starts after the slowest target's checkpoint; a target ahead of what was
        read waits for the next pass. With `ahead` (made for these targets, size and
        `until`), the page is taken from it when it read this one, and the next page is
        read ahead while this one is applied.

        The cached states are trusted only while this process is the one that moved the
        checkpoint (`StreamStates.follow`), and are dropped when a target's part fails:
        rows depend on the log alone, not on which process applied which batch, nor on
        which targets shared it.
        """
        failures: dict[str, Exception] = {}
        moved: list[Target] = []
        waiting: list[Target] = []
        shared = SharedSteps() if len(targets) > 1 else None  # nothing to share with one
        try:
            async with self._engine.begin() as tx, self._collector.paused():
                points = await checkpoints.lock(tx, [t.name for t in targets])
                start = min(p.cursor for p in points.values())
                if ahead is None:
                    size = self._batch_size
                    page = await read_page(self._store, start, targets, size, until)
                else:
                    page = await ahead.take(start)
                    if page.events:
                        ahead.start(page.cursor)
                for target in targets:
                    after = points[target.name].cursor
                    if page.cursor <= after:
                        waiting.append(target)
                        continue
                    target.states.shared = shared
                    try:
                        async with tx.begin_nested():
                            await target.apply(tx, after, page)
                        moved.append(target)
                    except Exception as error:
                        if database_unavailable(error):
                            raise  # the whole pass is lost, not this projection's part
                        target.states.forget()
                        failures[target.name] = error
                    finally:
                        target.states.shared = None
        except BaseException:
            for target in targets:
                target.states.forget()
            raise
        for target in moved:
            target.states.committed(page.cursor)
            PROJECTION_BATCHES.labels(target.name).inc()
        return Pass(len(page.events), failures, waiting)

    async def catch_up(self, names: Sequence[str] | None = None) -> int:
        """Apply batches until every (named) projection has read all it can, all of them
        fed by one read of the log per batch; for tests and the CLI."""
        chosen = [p.name for p in self.projections if names is None or p.name in names]
        return await self.drain_all([self._live[name] for name in chosen])

    async def drain(self, target: Target, until: Cursor | None = None) -> int:
        """Apply batches to one target until it has read everything (up to `until`)."""
        return await self.drain_all([target], until)

    async def drain_all(self, targets: Sequence[Target], until: Cursor | None = None) -> int:
        """Apply passes until every target has read everything (up to `until`); events read.
        A target that fails stops the draining with its error. Each pass's page is read
        while the previous one is applied (`ReadAhead`)."""
        total, ahead = 0, ReadAhead(self._store, targets, self._batch_size, until)
        try:
            while True:
                done = await self.apply_pass(targets, until, ahead)
                for error in done.failures.values():
                    raise error
                if not done.read:
                    return total
                total += done.read
        finally:
            await ahead.cancel()

    async def request_rebuild(self, name: str) -> None:
        """Ask the owner of `name` to rebuild it beside the live tables."""
        await checkpoints.request_rebuild(self._store.pool, name)

    async def rebuild(self, name: str) -> None:
        """Rebuild `name` to completion in this process (it must own the projection)."""
        await self.rebuild_all([name])

    async def rebuild_all(self, names: Sequence[str]) -> None:
        """Rebuild the named projections together, in one pass over the log, and swap each
        in once it has caught up (this process must own them)."""
        for name in names:
            await self.request_rebuild(name)
        chosen = [p for p in self.projections if p.name in names]
        while pending := await rebuild.requested(self._engine, chosen):
            await self.drain_all([self._shadow[p.name] for p in pending])
            for projection in pending:
                await self._swap(projection)

    async def _swap(self, projection: Projection) -> bool:
        """Swap a caught-up shadow in; the caches of both sides are stale afterwards."""
        swapped = await rebuild.swap(self._engine, projection)
        if swapped:
            self._live[projection.name].states.forget()
            self._shadow[projection.name].states.forget()
        return swapped

    async def step(self) -> int:
        """One pass over every projection this process owns (or can take), then one over
        the rebuilds asked of them; the events read.

        A projection whose part fails keeps its checkpoint (rolled back), its failure is
        recorded (`Failures`) and it is tried again next round; the others go on.
        """
        self.failed.clear()
        owned = [p for p in self.projections if await self.try_own(p.name)]
        done = await self._guarded([self._live[p.name] for p in owned])
        rebuilding = await rebuild.requested(self._engine, owned)
        if rebuilding:
            read = await self._guarded([self._shadow[p.name] for p in rebuilding])
            if not read:
                for projection in rebuilding:
                    if projection.name not in self.failed:
                        await self._swap(projection)
            done += read + 1
        return done

    async def _guarded(self, targets: Sequence[Target]) -> int:
        """Passes over the targets, the slowest with whoever it reaches, the ones ahead of
        it in a pass of their own, so that a projection far behind (new, or stuck on a
        poison event) never holds the others back. Failures are recorded rather than
        raised, unless the database is gone: then the loop is restarted."""
        owner = {t.name: t.projection.name for t in targets}
        read, pending = 0, list(targets)
        while pending:  # the slowest target is never waiting: each pass serves fewer
            try:
                done = await self.apply_pass(pending)
            except Exception as error:
                if database_unavailable(error):
                    raise
                done = Pass(0, {t.name: error for t in pending}, [])
            for target in pending:
                if target not in done.waiting:
                    await self._failures.note(owner[target.name], done.failures.get(target.name))
            read, pending = read + done.read, done.waiting
        return read

    async def run(
        self,
        stop: asyncio.Event,
        progressed: Callable[[], None] = lambda: None,
        *,
        idle_wait: float = 1.0,
    ) -> None:
        """Work until `stop` is set: batches while there is work, else wait for a NOTIFY.

        A supervised loop's body (store.supervision): one projection's failure is recorded
        and retried here; anything else (the database went away, the lock connection
        died) escapes after the locks are released, and the supervisor starts `run`
        again: connect, listen, own afresh. `progressed` is called after every round.
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
                        async with self._engine.connect() as connection:
                            names = [p.name for p in self.projections]
                            cursor = await checkpoints.slowest(connection, names)
                        await subscription.wait_for_new(cursor, idle_wait)
        finally:
            await self.release()
