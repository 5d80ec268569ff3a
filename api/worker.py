"""Background work: projections, exports and webhook deliveries, in `entente worker` or
in-process.

Production runs `entente worker` processes beside stateless API processes; `make run`
runs the same work inside the API process so the local setup stays one command.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from delivery.worker import running_deliveries
from projections.catalog import create_engine
from projections.worker import running_projections
from reporting.export_worker import DEFAULT_ROOT, running_exports
from store.database import create_pool


@asynccontextmanager
async def background_work(url: str, export_root: Path = DEFAULT_ROOT) -> AsyncIterator[None]:
    """Projections, exports and webhook deliveries run while the context is open."""
    engine = create_engine(url, pool_size=2)
    pool = await create_pool(url, max_size=4)
    try:
        async with (
            running_projections(url),
            running_exports(pool, engine, url, export_root),
            running_deliveries(url),
        ):
            yield
    finally:
        await pool.close()
        await engine.dispose()


async def serve_worker(url: str) -> None:
    """Run until SIGTERM or SIGINT; a SIGKILL loses nothing (checkpoints, leases)."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    async with background_work(url):
        await done.wait()
