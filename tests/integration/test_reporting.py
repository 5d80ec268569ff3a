"""Listings and reports over the golden read models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import insert

from domain import demo
from projections.registry import create_engine
from projections.tables import indicators
from reporting.listings import Filters, calendar_query, list_rows
from reporting.reports import activity_per_year, commitments_status, fulfilment_and_compliance


async def _with(database_url: str, work: Any) -> Any:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await work(connection)
    finally:
        await engine.dispose()


async def test_listing_pages_with_cursors_cover_everything_once(golden_read_models, database_url):
    async def pages(connection):
        seen, cursor = [], None
        while True:
            rows, cursor = await list_rows(
                connection, "outcomes", Filters(dialogue_id=demo.ESPD_ID), cursor=cursor, limit=3
            )
            seen += [r["outcome_id"] for r in rows]
            if cursor is None:
                return seen

    seen = await _with(database_url, pages)
    assert len(seen) == len(set(seen)) >= 10
    assert demo.OUTCOME_HLDDR_PREPARATIONS in seen


async def test_filters_by_party_status_topic_and_valid_time(golden_read_models, database_url):
    async def run(connection):
        held, _ = await list_rows(
            connection,
            "sessions",
            Filters(
                party="KZ",
                status="held",
                valid_from=dt.date(2021, 12, 1),
                valid_to=dt.date(2022, 1, 1),
            ),
        )
        nothing, _ = await list_rows(connection, "sessions", Filters(party="FR"))
        overdue, _ = await list_rows(
            connection, "outcomes", Filters(overdue_as_of=dt.date(2022, 7, 1))
        )
        not_yet, _ = await list_rows(
            connection, "outcomes", Filters(overdue_as_of=dt.date(2021, 12, 31))
        )
        return held, nothing, overdue, not_yet

    held, nothing, overdue, not_yet = await _with(database_url, run)
    assert [r["session_id"] for r in held] == [demo.ESPD_2021_SESSION_ID]
    assert nothing == []
    assert demo.OUTCOME_HLDDR_PREPARATIONS in {r["outcome_id"] for r in overdue}
    assert not_yet == []


async def test_calendar_lists_what_is_ahead(golden_read_models, database_url):
    async def run(connection):
        return [
            dict(r._mapping)
            for r in (await connection.execute(calendar_query(dt.date(2022, 1, 1), None, "KZ")))
        ]

    rows = await _with(database_url, run)
    kinds = {(r["kind"], r["id"]) for r in rows}
    assert ("visit", demo.TILEUBERDI_VISIT_ID) in kinds
    assert ("session", demo.ESPD_2022_SESSION_ID) in kinds


async def test_reports(golden_read_models, database_url):
    async def run(connection):
        return (
            await commitments_status(connection, dt.date(2022, 7, 1), dialogue_id=demo.ESPD_ID),
            await activity_per_year(connection, dialogue_id=demo.ESPD_ID),
            await fulfilment_and_compliance(connection, party="US"),
        )

    commitments, activity, fulfilment = await _with(database_url, run)
    by_party = {r["party"]: r for r in commitments}
    assert set(by_party) >= {"KZ", "US"}
    assert by_party["KZ"]["overdue"] >= 1 and by_party["KZ"]["fulfilled"] == 0
    assert [(r["year"], r["sessions_held"]) for r in activity] == [(2021, 1)]
    assert activity[0]["outcomes_adopted"] >= 10
    assert all(r["party"] == "US" and r["fulfilment_rate"] == 0 for r in fulfilment)


async def test_pages_go_on_past_rows_without_a_date(golden_read_models, database_url):
    """Keyset cursors follow PostgreSQL's NULL order (last ascending, first descending)."""
    ids = [uuid.UUID(int=n + 1) for n in range(7)]
    undated = set(ids[::2])

    async def walk(connection: Any, descending: bool) -> list[uuid.UUID]:
        await connection.execute(
            insert(indicators),
            [
                {
                    "indicator_id": i,
                    "parties": ["AQ"],
                    "name": f"n{n}",
                    "period_from": None if i in undated else dt.date(2020, 1, 1 + n % 2),
                    "value": n,
                    "unit": "u",
                    "approximation": "exact",
                    "kind": "figure",
                }
                for n, i in enumerate(ids)
            ],
        )
        seen, cursor = [], None
        while True:
            rows, cursor = await list_rows(
                connection,
                "indicators",
                Filters(party="AQ"),
                cursor=cursor,
                limit=2,
                descending=descending,
            )
            seen += [r["indicator_id"] for r in rows]
            if cursor is None:
                await connection.rollback()
                return seen

    for descending in (False, True):
        seen = await _with(database_url, lambda c, d=descending: walk(c, d))
        assert sorted(seen) == ids, seen  # every row once, dated or not
        dated_first = [i in undated for i in seen]
        assert dated_first == sorted(dated_first, reverse=descending)


async def test_a_name_filter_matches_percent_and_underscore_as_typed(
    golden_read_models, database_url
):
    async def names(connection: Any, typed: str) -> list[str]:
        rows, _ = await list_rows(connection, "dialogues", Filters(name=typed))
        return [r["name"] for r in rows]

    everything = await _with(database_url, lambda c: names(c, "e"))
    assert everything  # the golden dialogues have an "e" in their names
    assert await _with(database_url, lambda c: names(c, "%")) == []
    assert await _with(database_url, lambda c: names(c, "_")) == []
