"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

from api import audit, dialogues, health, keys, outcomes, relationships, sessions, visits
from api.auth import require_permission
from api.problems import PROBLEM_MAP, unexpected
from api.request_context import request_ids
from store.database import create_pool

MAX_BODY_BYTES = 256 * 1024


def create_app(database_url: str, *, pool_size: int = 10) -> Litestar:
    """An app bound to one database; the pool lives as long as the app."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_pool(database_url, max_size=pool_size)
        try:
            yield
        finally:
            await app.state.pool.close()

    route_handlers: list[Any] = [
        *dialogues.routes,
        *sessions.routes,
        *outcomes.routes,
        *visits.routes,
        *relationships.routes,
        *audit.routes,
        *keys.routes,
        *health.routes,
    ]
    return Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        guards=[require_permission],
        middleware=[request_ids],
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
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=False,
    )
