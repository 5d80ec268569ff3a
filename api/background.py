"""Running the background work (projections, exports, checkpointer, webhook deliveries),
in an `entente worker` process with its probe app, or inside the API process.

Production runs `entente worker` processes beside stateless API processes; `make run`
runs the same work inside the API process so the local setup stays one command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

from api import health, metrics
from api.dependencies import DEPENDENCIES, probe_lifespan
from api.problems import PROBLEM_MAP, unexpected
from api.request_context import request_ids
from delivery.delivering import running_deliveries
from projections.registry import create_engine
from projections.running import running_projections
from reporting.export_worker import DEFAULT_ROOT, running_exports
from store.availability import log_outages_in_one_line
from store.database import create_pool
from store.supervision import SupervisedLoop, running
from store.transparency import WITNESS_DIR_ENV, Checkpointer, load_signer


@asynccontextmanager
async def running_checkpointer(url: str) -> AsyncIterator[SupervisedLoop]:
    """Extend the transparency log and sign checkpoints, supervised, while the context is
    open. The key is read once, here, from ENTENTE_LOG_KEY_FILE or ENTENTE_LOG_KEY; without
    one the tree still grows but no checkpoint is signed (the worker says so)."""
    signer = load_signer()
    if signer is None:
        logging.getLogger("entente.transparency").warning(
            "no checkpoint key (ENTENTE_LOG_KEY_FILE): the tree grows, no checkpoint is signed"
        )
    witness = os.environ.get(WITNESS_DIR_ENV)
    pool = await create_pool(url, max_size=2)
    checkpointer = Checkpointer(pool, url, signer, witness_dir=Path(witness) if witness else None)
    async with running("checkpointer", checkpointer.run, pool.close) as loop:
        yield loop


@asynccontextmanager
async def background_work(
    url: str, export_root: Path = DEFAULT_ROOT
) -> AsyncIterator[list[SupervisedLoop]]:
    """Projections, exports, the checkpointer and webhook deliveries run, each a supervised
    loop, while the context is open; the loops are yielded so health checks can ask each
    whether it is alive."""
    log_outages_in_one_line()
    engine = create_engine(url, pool_size=2)
    pool = await create_pool(url, max_size=4)
    try:
        async with (
            running_projections(url) as projections,
            running_exports(pool, engine, url, export_root) as exports,
            running_checkpointer(url) as checkpointer,
            running_deliveries(url) as deliveries,
        ):
            yield [projections, exports, checkpointer, deliveries]
    finally:
        await pool.close()
        await engine.dispose()


def health_app(url: str, loops: list[SupervisedLoop]) -> Litestar:
    """/health/live, /health/ready and /metrics of a worker process, for its
    orchestrator and scraper: the same checks as the API's, over this process's loops."""

    return Litestar(
        route_handlers=[health.live, health.ready, metrics.metrics],
        lifespan=[probe_lifespan(url, loops)],
        dependencies=DEPENDENCIES,
        middleware=[request_ids],
        plugins=[
            ProblemDetailsPlugin(ProblemDetailsConfig(exception_to_problem_detail_map=PROBLEM_MAP))
        ],
        exception_handlers={Exception: unexpected},
        openapi_config=None,
        debug=False,
        logging_config=None,  # as for the API: Litestar's own would undo log_redaction.install()
    )


async def serve_worker(url: str, health_port: int | None = None) -> None:
    """Run until SIGTERM or SIGINT; a SIGKILL loses nothing (checkpoints, leases).

    With `health_port`, also answer /health/live and /health/ready on it, on the HOST
    interface (default 127.0.0.1: enough for a container's own healthcheck; set HOST to
    0.0.0.0 for probes from outside). uvicorn takes SIGTERM/SIGINT while it serves and
    raises them again once it stopped, so `done` is set either way.
    """
    import uvicorn

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    async with background_work(url) as loops:
        if health_port is None:
            await done.wait()
            return
        host = os.environ.get("HOST", "127.0.0.1")
        config = uvicorn.Config(
            health_app(url, loops), host=host, port=health_port, log_level="warning"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        await asyncio.wait(
            [serving, asyncio.create_task(done.wait())], return_when="FIRST_COMPLETED"
        )
        server.should_exit = True
        await serving
