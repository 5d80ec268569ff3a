"""A projection that cannot apply an event says so and waits; the others go on."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy import text

from api.demo import load_demo
from projections.registry import PROJECTIONS, create_engine
from projections.runner import Runner
from projections.status import projection_status
from store import NO_STREAM, EventStore, NewEvent


async def test_a_failing_batch_logs_its_traceback_once_not_every_round(
    database_url: str, pool: Any, caplog: Any
):
    store = EventStore(pool)
    await store.append(
        f"dialogue-{uuid.uuid4()}", [NewEvent(type="DialogueLaunched", data={})], NO_STREAM
    )
    engine = create_engine(database_url)
    runner = Runner(engine, store, database_url, PROJECTIONS)
    try:
        await runner.ensure_checkpoints()
        with caplog.at_level(logging.ERROR, "entente.projections"):
            for _ in range(3):
                await runner.step()
                assert "dialogues" in runner.failed
    finally:
        await runner.release()
        await engine.dispose()
    traced = [r for r in caplog.records if r.exc_info and "dialogues" in r.getMessage()]
    assert len(traced) == 1


async def test_a_poison_event_stops_only_the_projections_it_reaches(database_url: str, pool: Any):
    store = EventStore(pool)
    # written around the domain: no decider would produce it, no projection can fold it
    await store.append(
        f"dialogue-{uuid.uuid4()}", [NewEvent(type="DialogueLaunched", data={})], NO_STREAM
    )
    await load_demo(pool)
    engine = create_engine(database_url)
    runner = Runner(engine, store, database_url, PROJECTIONS, batch_size=50)
    stop = asyncio.Event()
    try:
        await runner.ensure_checkpoints()
        running = asyncio.create_task(runner.run(stop, idle_wait=0.05))
        for _ in range(400):  # up to 20 s on a busy machine
            status = {s.projection: s for s in await projection_status(pool)}
            if status["visits"].lag_events == 0 and status["dialogues"].last_error:
                break
            await asyncio.sleep(0.05)
        assert not running.done()  # the runner keeps going
        assert status["dialogues"].last_error
        assert status["dialogues"].events_applied == 0  # stuck before the poison, not past it
        assert status["visits"].lag_events == 0 and status["visits"].last_error is None
        async with engine.connect() as connection:
            visits = await connection.execute(text("SELECT count(*) FROM reporting.visits"))
            assert visits.scalar_one() >= 1
    finally:
        stop.set()
        await runner.release()
        await engine.dispose()
