"""Liveness and readiness, open to load balancers without a key."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from api.problems import problem, problem_responses


@get(
    "/health",
    summary="Ready when PostgreSQL answers",
    tags=["health"],
    opt={"permission": "public"},
    responses=problem_responses(503),
)
async def health(request: Request[Any, Any, Any]) -> dict[str, str]:
    """A 503 problem when the database does not answer."""
    try:
        await request.app.state.pool.fetchval("SELECT 1")
    except Exception:
        raise problem(503, "PostgreSQL does not answer") from None
    return {"status": "ok"}


routes = [health]
