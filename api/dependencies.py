"""What handlers are given, typed: the half of the wiring that opens and hands out resources.

api/app.py composes the application (routes, guards, middleware, plugins); this module
opens what a process serves with (`serving_resources`: the primary's pool, event store and
engine, the read database's, the live-feed wake-up, the webhook policy), keeps it on the
application's state, and hands each thing to the handlers that name it as a parameter
(`DEPENDENCIES`, Litestar `Provide`). A handler asks for `pool: Pool` or
`read_store: EventStore` and gets it, typed; `app.state` is touched here and in api/app.py
only (the worker's probe app is opened here too, `probe_lifespan`; the key check, which
Litestar gives no dependencies, asks `guard_pool`).

Two databases: writes, the worker and everything that must see the latest state go to the
primary (`pool`, `store`, `engine`); reads that may be served by a streaming replica go to
the read database (`read_pool`, `read_store`, `read_engine`), which is the primary itself
when no read URL is given. `read_your_writes` checks positions on the read database, so a
read with `after_position` on a lagging replica waits, then says 503; never stale.

Providers are plain, non-blocking functions of the state (`sync_to_thread=False`) and
are resolved only for handlers that name them; dependencies never appear in the OpenAPI
document (tests/api/test_dependencies.py checks both).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide

from api.freshness import AFTER_POSITION_HEADER, READ_YOUR_WRITES_WAIT, ReadYourWrites
from delivery.targets import TargetPolicy
from projections.registry import create_engine
from service.replaying import FoldedStates
from store.database import Pool, create_pool
from store.event_store import EventStore
from store.subscription import Subscription
from store.supervision import SupervisedLoop

SYNC_EXPORTS = 8
"""On-demand exports one API process produces at once; a request beyond that is a 429, a
job waits its turn at the workers. An export now reads the live read models in one
snapshot and costs its report, not the history (it was 2 while each replayed the log);
the bound remains for the report held in memory and for the rare export that must
re-project because the read models are not moving (docs/ARCHITECTURE.md, exports)."""


@asynccontextmanager
async def serving_resources(
    state: State,
    database_url: str,
    *,
    read_database_url: str | None = None,
    pool_size: int = 10,
    export_root: Path,
    webhook_policy: TargetPolicy | None = None,
) -> AsyncIterator[None]:
    """Open the API process's connections, keep them on `state` while the context is open.

    Without `read_database_url` the read side is the primary's own pool, store and
    engine (the same objects). The live feed's wake-up LISTENs on the primary (a standby
    cannot LISTEN) and asks the read store whether something new is readable there.
    """
    state.pool = await create_pool(database_url, max_size=pool_size)
    state.store = EventStore(state.pool)  # one per process: appends combine
    state.engine = create_engine(database_url, pool_size=pool_size)
    if read_database_url:
        state.read_pool = await create_pool(read_database_url, max_size=pool_size)
        state.read_store = EventStore(state.read_pool)
        state.read_engine = create_engine(read_database_url, pool_size=pool_size)
    else:
        state.read_pool, state.read_store, state.read_engine = state.pool, state.store, state.engine
    state.database_url = database_url
    state.read_database_url = read_database_url
    state.export_root = str(export_root)
    state.export_slots = asyncio.Semaphore(SYNC_EXPORTS)
    state.webhook_policy = webhook_policy or TargetPolicy.from_env()
    state.loops = []  # this process's supervised loops, for /health/ready
    state.wake = Subscription(state.read_store, database_url)  # for live streams
    state.folded = FoldedStates.from_env()  # the process's cache of folded states
    try:
        async with state.wake:
            yield
    finally:
        await state.store.settle()
        await state.pool.close()
        await state.engine.dispose()
        if read_database_url:
            await state.read_pool.close()
            await state.read_engine.dispose()


def keep_loops(state: State, loops: list[SupervisedLoop]) -> None:
    """Record the supervised loops this process runs, for the health checks and metrics."""
    state.loops = loops


def new_state() -> State:
    """An application's state before its lifespan opens anything: only the stop signal
    of the live streams, which `close_streams` may set at any time."""
    return State({"streams_closing": asyncio.Event()})


def close_streams(app: Litestar) -> None:
    """End every open live stream of `app` (within the feed's CHECK_CLOSING seconds)."""
    app.state.streams_closing.set()


def probe_lifespan(
    url: str, loops: list[SupervisedLoop]
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The lifespan of a worker's probe app: a small pool for the readiness check, and the
    worker's loops for /health/ready and /metrics."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_pool(url, min_size=0, max_size=2)
        app.state.read_pool = app.state.pool
        app.state.loops = loops
        try:
            yield
        finally:
            await app.state.pool.close()

    return lifespan


def _kept(name: str) -> Provide:
    """Hand out what the lifespan kept on the state under `name`; the handler's parameter
    annotation names its type (`pool: Pool`, `loops: list[SupervisedLoop]`)."""

    def provide(state: State) -> Any:
        return state[name]

    return Provide(provide, sync_to_thread=False)


def _export_root(state: State) -> Path:
    return Path(state.export_root)


def _read_your_writes(
    state: State, request: Request[Any, Any, Any], pool: Pool, store: EventStore
) -> ReadYourWrites:
    return ReadYourWrites(
        pool,
        store,
        request.headers.get(AFTER_POSITION_HEADER),
        float(state.get("read_your_writes_wait", READ_YOUR_WRITES_WAIT)),
        primary=state.store,
    )


def read_your_writes_of(state: State, request: Request[Any, Any, Any]) -> ReadYourWrites:
    """Read-your-writes on the read database, with the caller's `X-After-Position` header
    as the position when no `after_position` parameter is given."""
    return _read_your_writes(state, request, state.read_pool, state.read_store)


def guard_pool(connection: ASGIConnection[Any, Any, Any, Any]) -> Pool:
    """The primary's pool, for the key check (api/auth.py), which Litestar calls with the
    connection only and never gives dependencies: keys and tokens are checked there."""
    pool: Pool = connection.app.state.pool
    return pool


def command_store(request: Request[Any, Any, Any]) -> EventStore:
    """The primary's event store, for the command routes (api/commanding.py): read here
    rather than injected because resolving a dependency costs Litestar more per request
    than the lookup, on the path every command takes."""
    store: EventStore = request.app.state.store
    return store


DEPENDENCIES: dict[str, Provide] = {
    **{
        name: _kept(name)
        for name in (
            "pool",
            "store",
            "engine",
            "read_pool",
            "read_store",
            "read_engine",
            "database_url",
            "loops",
            "wake",
            "streams_closing",
            "webhook_policy",
            "export_slots",
            "folded",
        )
    },
    "export_root": Provide(_export_root, sync_to_thread=False),
    "read_your_writes": Provide(read_your_writes_of, sync_to_thread=False),
}
"""Every dependency a handler may name, by parameter name: `pool`, `store`, `engine`
(the primary: asyncpg pool, EventStore, SQLAlchemy AsyncEngine), `read_pool`,
`read_store`, `read_engine` (the read database), `read_your_writes` (ReadYourWrites on the
read database), `database_url` (the primary's serving URL), `loops`
(list[SupervisedLoop]), `wake` (Subscription), `streams_closing` (asyncio.Event),
`webhook_policy` (TargetPolicy), `export_root` (Path), `export_slots` (asyncio.Semaphore),
`folded` (FoldedStates, the cache of folded states every replayed read shares)."""
