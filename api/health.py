"""Liveness and readiness, open to load balancers without a key.

/health/live: the process answers (no database). /health/ready: the database answers,
every background loop of this process is running and no projection lags more than
ENTENTE_READY_MAX_LAG_SECONDS. /health is the database check alone, as before.
"""

from __future__ import annotations

import asyncio

import msgspec
from litestar import get

from api.problems import database_unavailable_problem, problem, problem_responses
from projections.registry import NAMES
from projections.status import max_lag_seconds, worst_lag_seconds
from store.database import Pool
from store.supervision import LoopStatus, SupervisedLoop

PUBLIC = {"permission": "public"}
DATABASE_TIMEOUT = 2.0
"""Seconds a health check waits for the database (a hung pool is a failed check)."""


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """Why this process is ready: what it checked, with each loop's state."""

    status: str
    projection_lag_seconds: float
    max_lag_seconds: float
    loops: list[LoopStatus]


async def _database_answers(pool: Pool) -> bool:
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), DATABASE_TIMEOUT)
    except Exception:
        return False
    return True


@get(
    "/health",
    summary="Ready when PostgreSQL answers",
    tags=["health"],
    opt=PUBLIC,
    responses=problem_responses(503),
)
async def health(pool: Pool) -> dict[str, str]:
    """A 503 problem when the database does not answer (see /health/ready for more)."""
    if not await _database_answers(pool):
        raise database_unavailable_problem("PostgreSQL does not answer")
    return {"status": "ok"}


@get("/health/live", summary="The process answers", tags=["health"], opt=PUBLIC)
async def live() -> dict[str, str]:
    """Always 200 while the process serves requests; asks nothing of the database."""
    return {"status": "alive"}


@get(
    "/health/ready",
    summary="Ready: database, background loops and projection lag",
    tags=["health"],
    opt=PUBLIC,
    responses=problem_responses(503),
)
async def ready(pool: Pool, read_pool: Pool, loops: list[SupervisedLoop]) -> Readiness:
    """A 503 problem naming every reason when the process should get no traffic."""
    if not await _database_answers(pool):
        raise database_unavailable_problem("not ready: PostgreSQL does not answer")
    if read_pool is not pool and not await _database_answers(read_pool):
        raise database_unavailable_problem("not ready: the read database does not answer")
    reasons = [
        f"the {s.loop} loop is {s.state} since {s.since.isoformat()}"
        + (f" ({s.last_error})" if s.last_error else "")
        for loop in loops
        if not loop.alive
        for s in [loop.status()]
    ]
    bound = max_lag_seconds()
    try:
        lag = await asyncio.wait_for(worst_lag_seconds(pool, NAMES), DATABASE_TIMEOUT)
    except Exception:
        raise database_unavailable_problem("not ready: PostgreSQL does not answer") from None
    if bound > 0 and lag > bound:
        reasons.append(f"projections lag {lag:.1f} s behind the log (bound {bound:g} s)")
    if reasons:
        raise problem(503, "not ready: " + "; ".join(reasons), kind="not-ready")
    return Readiness(
        status="ready",
        projection_lag_seconds=round(lag, 3),
        max_lag_seconds=bound,
        loops=[loop.status() for loop in loops],
    )


routes = [health, live, ready]
