"""Projections over the golden scenario: the rows say what the article says."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from domain import demo
from projections.registry import PROJECTIONS
from projections.status import projection_status


async def test_the_espd_dialogue_row(golden_read_models, pool):
    row = await pool.fetchrow(
        "SELECT * FROM reporting.dialogues WHERE dialogue_id = $1", demo.ESPD_ID
    )
    assert row["name"] == "Enhanced Strategic Partnership Dialogue"
    assert row["acronym"] == "ESPD"
    assert sorted(row["parties"]) == ["KZ", "US"]
    assert row["status"] == "active"
    assert row["sessions_held"] == 1
    assert row["last_session_from"] == dt.date(2021, 12, 15)


async def test_the_session_held_in_nur_sultan(golden_read_models, pool):
    row = await pool.fetchrow(
        "SELECT * FROM reporting.sessions WHERE session_id = $1", demo.ESPD_2021_SESSION_ID
    )
    assert row["status"] == "held"
    assert (row["held_from"], row["held_to"]) == (dt.date(2021, 12, 15), dt.date(2021, 12, 16))
    assert (row["place_city"], row["place_country"]) == ("Nur-Sultan", "KZ")

    heads = {h["name"]: h for h in json.loads(row["heads"])}
    assert heads["Akan Rakhmetullin"]["title"] == "Deputy Minister of Foreign Affairs"
    assert heads["Donald Lu"]["party"] == "US"
    members = {m["name"] for m in json.loads(row["members"])}
    assert {"Kairat Torebayev", "Afreen Akhter"} <= members


async def test_outcomes_and_the_next_meeting(golden_read_models, pool):
    rows = await pool.fetch("SELECT * FROM reporting.outcomes WHERE dialogue_id = $1", demo.ESPD_ID)
    by_id = {r["outcome_id"]: r for r in rows}
    hlddr = by_id[demo.OUTCOME_HLDDR_PREPARATIONS]
    assert hlddr["target_wording"] == "early 2022"
    assert hlddr["target_from"] == dt.date(2022, 1, 1)
    visit = by_id[demo.OUTCOME_TILEUBERDI_VISIT]
    assert visit["target_wording"] == "first half of 2022"
    assert all(r["status"] == "adopted" for r in rows)


async def test_the_tileuberdi_visit(golden_read_models, pool):
    row = await pool.fetchrow(
        "SELECT * FROM reporting.visits WHERE visit_id = $1", demo.TILEUBERDI_VISIT_ID
    )
    assert row["status"] == "planned"
    assert (row["visitor_party"], row["host"]) == ("KZ", "US")
    assert row["destination_city"].startswith("Washington")
    assert (row["window_from"], row["window_to"]) == (dt.date(2022, 1, 1), dt.date(2022, 7, 1))


async def test_indicators_and_milestones(golden_read_models, pool):
    indicators = await pool.fetch("SELECT * FROM reporting.indicators")
    values = {(r["unit"], r["value"]) for r in indicators}
    assert ("USD", Decimal("2000000000")) in values or any(
        r["value"] == Decimal("2") and "billion" in r["unit"].lower() for r in indicators
    )
    assert any(r["value"] == 406 for r in indicators)
    assert any(r["value"] == 600 and r["approximation"] != "exact" for r in indicators)
    milestones = await pool.fetch("SELECT * FROM reporting.milestones")
    assert any(r["on_from"] == dt.date(1991, 12, 25) for r in milestones)


async def test_the_timeline_has_one_row_per_event_in_log_order(golden_read_models, pool):
    events = await pool.fetchval(
        "SELECT count(*) FROM event_store.events"
        " WHERE stream_id ~ '^(dialogue|visit|relationship)-'"
    )
    rows = await pool.fetch("SELECT * FROM reporting.relationship_timeline ORDER BY position")
    assert len(rows) == events
    kz_us = [r for r in rows if {"KZ", "US"} <= set(r["parties"])]
    assert len(kz_us) >= 20
    assert all(r["actor"] == "demo-loader" for r in kz_us)


async def test_status_reports_no_lag_once_caught_up(golden_read_models, pool):
    status = {s.projection: s for s in await projection_status(pool)}
    assert set(status) == {p.name for p in PROJECTIONS}
    assert all(s.lag_events == 0 for s in status.values())
    assert status["timeline"].events_applied > 20
