"""Running the projections: the supervised loop (in `entente worker` or the API), or once."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from projections.registry import PROJECTIONS, create_engine
from projections.runner import BATCH_SIZE, Runner
from store.database import create_pool
from store.event_store import EventStore
from store.supervision import SupervisedLoop, running


@asynccontextmanager
async def running_projections(url: str) -> AsyncIterator[SupervisedLoop]:
    """Run every projection in the background, supervised, while the context is open."""
    engine = create_engine(url)
    pool = await create_pool(url, max_size=4)
    batch = int(os.environ.get("ENTENTE_BATCH_SIZE", BATCH_SIZE))
    runner = Runner(engine, EventStore(pool), url, PROJECTIONS, batch_size=batch)
    async with running("projections", runner.run, pool.close, engine.dispose) as loop:
        yield loop


async def catch_up(url: str) -> int:
    """Apply everything once, without waiting for more (used by `projections catch-up`)."""
    engine = create_engine(url)
    pool = await create_pool(url, max_size=2)
    try:
        runner = Runner(engine, EventStore(pool), url, PROJECTIONS)
        await runner.ensure_checkpoints()
        return await runner.catch_up()
    finally:
        await pool.close()
        await engine.dispose()


async def rebuild(url: str, name: str) -> bool:
    """Rebuild `name` here if no worker owns it; else ask its owner. True if done here."""
    engine = create_engine(url)
    pool = await create_pool(url, max_size=2)
    runner = Runner(engine, EventStore(pool), url, PROJECTIONS)
    try:
        await runner.ensure_checkpoints()
        if await runner.try_own(name):
            await runner.rebuild(name)
            return True
        await runner.request_rebuild(name)
        return False
    finally:
        await runner.release()
        await pool.close()
        await engine.dispose()
