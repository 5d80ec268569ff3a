"""The read models store what the domain decides (issue 12): a session is upcoming and a
visit open exactly when the domain says so, and the calendar filters on those columns."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain import dialogue, visit
from projections.registry import create_engine
from projections.runner import Runner
from projections.tables import sessions, visits
from reporting.listings import calendar_rows


async def test_projected_rule_columns_are_the_domains_decisions(
    golden_read_models: Runner, pool: Any
) -> None:
    session_rows = await pool.fetch("SELECT status, is_upcoming FROM reporting.sessions")
    visit_rows = await pool.fetch("SELECT status, is_open FROM reporting.visits")
    assert {r["status"] for r in session_rows} >= {"held", "scheduled"}
    assert visit_rows, "the golden register plans visits"
    for row in session_rows:
        assert row["is_upcoming"] is dialogue.is_upcoming(row["status"]), row
    for row in visit_rows:
        assert row["is_open"] is visit.is_open(row["status"]), row


async def test_the_calendar_lists_what_the_columns_call_upcoming_and_open(
    golden_read_models: Runner, database_url: str
) -> None:
    engine = create_engine(database_url)
    start = dt.date(2000, 1, 1)
    try:
        async with engine.connect() as connection:
            entries = await calendar_rows(connection, start, None, None)
            upcoming = (
                await connection.execute(
                    sessions.select().where(sessions.c.is_upcoming, sessions.c.planned_to > start)
                )
            ).all()
            open_ = (await connection.execute(visits.select().where(visits.c.is_open))).all()
    finally:
        await engine.dispose()
    assert entries, "the golden register has plans"
    assert {e["id"] for e in entries if e["kind"] == "session"} == {r.session_id for r in upcoming}
    assert {e["id"] for e in entries if e["kind"] == "visit"} <= {r.visit_id for r in open_}
    assert all(dialogue.is_upcoming(e["status"]) for e in entries if e["kind"] == "session")
    assert all(visit.is_open(e["status"]) for e in entries if e["kind"] == "visit")
