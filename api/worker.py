"""Background work: projections, exports and the checkpointer, in `entente worker` or
in-process.

Production runs `entente worker` processes beside stateless API processes; `make run`
runs the same work inside the API process so the local setup stays one command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from projections.catalog import create_engine
from projections.worker import running_projections
from reporting.export_worker import DEFAULT_ROOT, running_exports
from store.database import create_pool
from store.transparency import WITNESS_DIR_ENV, Checkpointer, load_signer


@asynccontextmanager
async def running_checkpointer(url: str) -> AsyncIterator[Checkpointer]:
    """Extend the transparency log and sign checkpoints while the context is open.

    The key is read once, here, from ENTENTE_LOG_KEY_FILE or ENTENTE_LOG_KEY; without one
    the tree still grows but no checkpoint is signed (the worker says so)."""
    signer = load_signer()
    if signer is None:
        logging.getLogger("entente.transparency").warning(
            "no checkpoint key (ENTENTE_LOG_KEY_FILE): the tree grows, no checkpoint is signed"
        )
    witness = os.environ.get(WITNESS_DIR_ENV)
    pool = await create_pool(url, max_size=2)
    checkpointer = Checkpointer(pool, url, signer, witness_dir=Path(witness) if witness else None)
    stop = asyncio.Event()
    task = asyncio.create_task(checkpointer.run(stop))
    try:
        yield checkpointer
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(task, timeout=5)
        task.cancel()
        await pool.close()


@asynccontextmanager
async def background_work(url: str, export_root: Path = DEFAULT_ROOT) -> AsyncIterator[None]:
    """Projections, exports and the checkpointer run while the context is open."""
    engine = create_engine(url, pool_size=2)
    pool = await create_pool(url, max_size=4)
    try:
        async with (
            running_projections(url),
            running_exports(pool, engine, url, export_root),
            running_checkpointer(url),
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
