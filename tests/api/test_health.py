"""Liveness, readiness (database, loops, projection lag) and a truthful /projections."""

from __future__ import annotations

from typing import Any

import pytest

from api.demo import load_demo
from projections.registry import PROJECTIONS, create_engine
from projections.runner import Runner
from store import EventStore
from tests.api.conftest import auth


async def test_live_asks_nothing_and_ready_says_what_it_checked(client: Any) -> None:
    assert (await client.get("/health/live")).json() == {"status": "alive"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "projection_lag_seconds": 0.0,
        "max_lag_seconds": 60.0,
        "loops": [],  # this app runs no background loop (the worker is elsewhere)
    }
    assert (await client.get("/health")).json() == {"status": "ok"}


async def test_lagging_projections_make_the_process_not_ready_until_they_catch_up(
    client: Any, database_url: str, pool: Any, tokens: dict[str, str], monkeypatch: Any
) -> None:
    engine = create_engine(database_url)
    try:
        runner = Runner(engine, EventStore(pool), database_url, PROJECTIONS)
        await runner.ensure_checkpoints()  # as a worker that started, then stopped working
        await load_demo(pool)  # events no projection has applied
        monkeypatch.setenv("ENTENTE_READY_MAX_LAG_SECONDS", "0.001")
        refused = await client.get("/health/ready")
        assert refused.status_code == 503
        problem = refused.json()
        assert problem["type"] == "urn:entente:problem:not-ready"
        assert "projections lag" in problem["detail"]
        status = (await client.get("/projections", headers=auth(tokens["admin"]))).json()
        assert {s["state"] for s in status} == {"stalled"}

        await runner.catch_up()
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["projection_lag_seconds"] == 0
        status = (await client.get("/projections", headers=auth(tokens["admin"]))).json()
        assert "stalled" not in {s["state"] for s in status}
    finally:
        await engine.dispose()


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/health"])
async def test_health_needs_no_key(client: Any, path: str) -> None:
    assert (await client.get(path)).status_code != 401
