"""Background work: the projections and the export worker, in `entente worker` or in-process.

Production runs `entente worker` processes beside stateless API processes; `make run`
runs the same work inside the API process so the local setup stays one command.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from projections.catalog import create_engine
from projections.worker import running_projections
from reporting.export_worker import DEFAULT_ROOT, running_exports
from store.availability import log_outages_in_one_line
from store.database import create_pool
from store.supervision import SupervisedLoop


@asynccontextmanager
async def background_work(
    url: str, export_root: Path = DEFAULT_ROOT
) -> AsyncIterator[list[SupervisedLoop]]:
    """Projections and exports run, each a supervised loop, while the context is open;
    the loops are yielded so health checks can ask each whether it is alive."""
    log_outages_in_one_line()
    engine = create_engine(url, pool_size=2)
    pool = await create_pool(url, max_size=4)
    try:
        async with (
            running_projections(url) as projections,
            running_exports(pool, engine, url, export_root) as exports,
        ):
            yield [projections, exports]
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
