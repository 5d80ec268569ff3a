"""Exports from the live read models: one snapshot, a position its checkpoints give, the
same bytes as re-projecting the log to that position, and the same bytes again later."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import commands as c
from domain import demo
from projections.registry import create_engine
from projections.runner import Runner
from reporting.catalogue import CATALOGUE, ReportParameters
from reporting.exporting import produce
from reporting.snapshot import (
    consistent_snapshot,
    live_position,
    projections_reading,
    read_models_at,
)
from service.handling import handle
from store import EventStore
from store.records import Cursor


async def _fulfil(store: EventStore, outcome_id: uuid.UUID) -> None:
    await handle(
        store,
        c.ChangeOutcomeStatus(dialogue_id=demo.ESPD_ID, outcome_id=outcome_id, status="fulfilled"),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _live_at(engine: AsyncEngine, report: str, wanted: Cursor | None) -> Cursor | None:
    async with consistent_snapshot(engine) as connection:
        reads = projections_reading(CATALOGUE[report].reads)
        return await live_position(connection, reads, wanted)


async def test_every_report_reads_the_live_models_as_the_log_at_their_position(
    golden_read_models: Runner, engine: AsyncEngine, pool: Any, database_url: str
) -> None:
    """The live rows equal the rows of the log re-projected up to the same position."""
    store = EventStore(pool)
    for name, report in CATALOGUE.items():
        async with consistent_snapshot(engine) as connection:
            at = await live_position(connection, projections_reading(report.reads), None)
            assert at is not None, name
            live = await report.build(connection, ReportParameters())
        async with read_models_at(engine, store, database_url, at) as connection:
            projected = await report.build(connection, ReportParameters())
        assert live == projected, name
        assert live.rows or name in ("indicators", "pledges"), name  # none in the article


async def test_an_export_pinned_to_a_position_keeps_its_bytes_after_more_events(
    golden_read_models: Runner, engine: AsyncEngine, pool: Any, database_url: str
) -> None:
    runner, store = golden_read_models, EventStore(pool)
    first = await produce(engine, store, database_url, "commitments", ReportParameters(), "csv")
    at = Cursor.decode(first.manifest.position)
    assert await _live_at(engine, "commitments", at) == at, "served by the live models"
    again = await produce(engine, store, database_url, "commitments", ReportParameters(), "csv", at)
    assert again.content == first.content
    assert again.manifest.file_name == first.manifest.file_name

    await _fulfil(store, demo.OUTCOME_GREEN_TECHNOLOGY)
    await runner.catch_up()
    assert await _live_at(engine, "commitments", at) is None, "the live models moved on"
    pinned = await produce(
        engine, store, database_url, "commitments", ReportParameters(), "csv", at
    )
    assert pinned.content == first.content, "re-projected to the pinned position"
    assert pinned.manifest.position == first.manifest.position

    now = await produce(engine, store, database_url, "commitments", ReportParameters(), "csv")
    later = Cursor.decode(now.manifest.position)
    assert later > at
    assert await _live_at(engine, "commitments", later) == later
    assert now.content != first.content, "the newer position sees the new status"


async def test_events_of_streams_a_report_does_not_read_leave_its_position_servable(
    golden_read_models: Runner, engine: AsyncEngine, pool: Any
) -> None:
    """Visits moved on, the dialogues projection did not need to: a dialogue report is
    still served live at the newer position, whichever projection is behind."""
    runner, store = golden_read_models, EventStore(pool)
    before = await _live_at(engine, "commitments", None)
    await _fulfil(store, demo.OUTCOME_PEOPLE_TO_PEOPLE)
    behind = await _live_at(engine, "commitments", None)
    assert behind is not None and before is not None
    assert await _live_at(engine, "visits", None) is not None, "no visit event came"
    await runner.catch_up()
    ahead = await _live_at(engine, "commitments", None)
    assert ahead is not None and ahead > behind
    assert await _live_at(engine, "commitments", behind) is None
