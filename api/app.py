"""The Litestar application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

from api import (
    audit,
    calendar_tokens,
    dialogues,
    exports,
    feed,
    health,
    keys,
    metrics,
    outcomes,
    projections,
    read_models,
    relationships,
    reports,
    sessions,
    subscriptions,
    transparency,
    visits,
)
from api.auth import require_permission
from api.conditional import conditional_get
from api.contract import EnforcedJsonRenderPlugin
from api.problems import MAX_BODY_BYTES, PROBLEM_MAP, unexpected
from api.request_checks import request_checks
from api.request_context import request_ids
from api.worker import background_work
from delivery.targets import TargetPolicy
from projections.registry import create_engine
from reporting.export_worker import DEFAULT_ROOT
from store.availability import log_outages_in_one_line
from store.database import create_pool
from store.event_store import EventStore
from store.sealing import key_from_env
from store.subscription import Subscription

SYNC_EXPORTS = 2
"""On-demand exports one API process produces at once (each replays the log up to its
position); a request beyond that is a 429, a job waits its turn at the workers."""


def create_app(
    database_url: str,
    *,
    pool_size: int = 10,
    run_projections: bool = False,
    export_root: Path = DEFAULT_ROOT,
    webhook_policy: TargetPolicy | None = None,
) -> Litestar:
    """An app bound to one database; pools (and, locally, the projections) live with it.

    run_projections=True runs the worker (projections, exports) inside the API process, as
    `make run` does so that the local setup stays one command; production runs
    `entente worker` processes instead (docs/SCALING.md). `webhook_policy` says which
    webhook targets subscriptions may name (default: from the environment).
    """

    log_outages_in_one_line()
    key_from_env()  # a malformed webhook sealing key stops the app here, not at a request

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_pool(database_url, max_size=pool_size)
        app.state.store = EventStore(app.state.pool)  # one per process: appends combine
        app.state.database_url = database_url
        app.state.export_root = str(export_root)
        app.state.export_slots = asyncio.Semaphore(SYNC_EXPORTS)
        app.state.webhook_policy = webhook_policy or TargetPolicy.from_env()
        app.state.engine = create_engine(database_url, pool_size=pool_size)
        app.state.loops = []  # this process's supervised loops, for /health/ready
        app.state.wake = Subscription(app.state.store, database_url)  # for live streams
        try:
            async with app.state.wake:
                if run_projections:
                    async with background_work(database_url, export_root) as loops:
                        app.state.loops = loops
                        yield
                else:
                    yield
                feed.close_streams(app)
        finally:
            await app.state.store.settle()
            await app.state.pool.close()
            await app.state.engine.dispose()

    route_handlers: list[Any] = [
        *dialogues.routes,
        *sessions.routes,
        *outcomes.routes,
        *visits.routes,
        *relationships.routes,
        *audit.routes,
        *feed.routes,
        *transparency.routes,
        *read_models.routes,
        *reports.routes,
        *projections.routes,
        *exports.routes,
        *calendar_tokens.routes,
        *subscriptions.routes,
        *keys.routes,
        *health.routes,
        *metrics.routes,
    ]
    app = Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        guards=[require_permission],
        before_request=request_checks,
        middleware=[request_ids, metrics.HTTP_METRICS.middleware, conditional_get],
        plugins=[
            ProblemDetailsPlugin(ProblemDetailsConfig(exception_to_problem_detail_map=PROBLEM_MAP))
        ],
        exception_handlers={Exception: unexpected},
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(
            title="Entente",
            version="0.1.0",
            description="An event-sourced register of diplomatic dialogues. Send API keys as "
            "`Authorization: Bearer <key>`; errors are RFC 9457 problem+json.",
            path="/docs",
            render_plugins=[SwaggerRenderPlugin(), EnforcedJsonRenderPlugin()],
        ),
        debug=False,
    )
    app.state.streams_closing = asyncio.Event()
    return app
