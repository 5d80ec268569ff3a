"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from api.demo import load_demo
from projections.registry import PROJECTIONS, create_engine
from projections.runner import Runner
from store import EventStore


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def golden_read_models(database_url: str, pool: Any) -> AsyncIterator[Runner]:
    """The article loaded through the command path and projected (small batches on purpose)."""
    await load_demo(pool)
    engine = create_engine(database_url)
    runner = Runner(engine, EventStore(pool), database_url, PROJECTIONS, batch_size=7)
    await runner.ensure_checkpoints()
    await runner.catch_up()
    yield runner
    await runner.release()
    await engine.dispose()
