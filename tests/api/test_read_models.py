"""The query and report endpoints, with the projections running inside the app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest_asyncio
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.demo import load_demo
from domain import demo
from reporting.served import CALENDAR_ENTRY, SERVED, page_type
from tests.api.conftest import auth


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(database_url: str, pool: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app with its in-process projection worker, over the loaded article."""
    await load_demo(pool)
    app = create_app(database_url, pool_size=10, run_projections=True)
    async with AsyncTestClient(app=app) as client:
        yield client


def json_of(schema: Any) -> str:
    """A schema as text, to find the values an enum (however nested) lists."""
    return msgspec.json.encode(schema).decode()


async def _get(client: Any, token: str, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


async def _caught_up(client: Any, token: str) -> None:
    """Wait until the worker has applied the demo (read-your-writes on the last position)."""
    feed = await _get(client, token, "/events", limit=1000)
    last = feed["events"][-1]
    token_of_last = feed["next_cursor"]
    assert last
    await _get(client, token, "/dialogues", after_position=token_of_last)


async def test_query_endpoints_return_the_articles_facts(live, tokens):
    reader = tokens["reader"]
    await _caught_up(live, reader)
    dialogues = await _get(live, reader, "/dialogues", party="KZ")
    espd = next(d for d in dialogues["items"] if d["dialogue_id"] == str(demo.ESPD_ID))
    assert (espd["acronym"], espd["status"], sorted(espd["parties"])) == (
        "ESPD",
        "active",
        ["KZ", "US"],
    )
    assert espd["sessions_held"] == 1

    session = await _get(live, reader, f"/sessions/{demo.ESPD_2021_SESSION_ID}")
    assert (session["held_from"], session["place_city"]) == ("2021-12-15", "Nur-Sultan")
    assert {h["name"] for h in session["heads"]} == {"Akan Rakhmetullin", "Donald Lu"}

    outcome = await _get(live, reader, f"/outcomes/{demo.OUTCOME_TILEUBERDI_VISIT}")
    assert outcome["target_wording"] == "first half of 2022"
    assert (outcome["target_from"], outcome["target_to"]) == ("2022-01-01", "2022-07-01")

    visits = await _get(live, reader, "/visits", party="US")
    assert [v["visit_id"] for v in visits["items"]] == [str(demo.TILEUBERDI_VISIT_ID)]

    indicators = await _get(live, reader, "/indicators", party="KZ", limit=100)
    assert any(i["value"] in ("406", 406) for i in indicators["items"])

    calendar = await _get(live, reader, "/calendar", **{"from": "2022-01-01"})
    assert {c["kind"] for c in calendar} == {"session", "visit"}

    timeline = await _get(live, reader, "/relationships/US-KZ/timeline", limit=500)
    assert len(timeline["items"]) >= 20
    positions = [row["position"] for row in timeline["items"]]
    assert positions == sorted(positions)


async def test_outcomes_filter_by_the_framework_they_refer_to(live, tokens):
    reader = tokens["reader"]
    await _caught_up(live, reader)
    c5 = await _get(live, reader, "/outcomes", framework="C5+1")
    assert {o["outcome_id"] for o in c5["items"]} == {
        str(demo.OUTCOME_REGIONAL_ENGAGEMENT),
        str(demo.OUTCOME_GREEN_TECHNOLOGY),
    }
    assert all("C5+1" in o["frameworks"] for o in c5["items"])
    none = await _get(live, reader, "/outcomes", framework="C5")  # names match whole
    assert none["items"] == []


async def test_pagination_cursors_walk_every_row_once(live, tokens):
    reader = tokens["reader"]
    await _caught_up(live, reader)
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4, "dialogue_id": str(demo.ESPD_ID)}
        if cursor:
            params["cursor"] = cursor
        page = await _get(live, reader, "/outcomes", **params)
        seen += [o["outcome_id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = await _get(live, reader, "/outcomes", limit=500, dialogue_id=str(demo.ESPD_ID))
    assert seen == [o["outcome_id"] for o in everything["items"]]
    bad = await live.get("/outcomes", params={"cursor": "nonsense"}, headers=auth(reader))
    assert bad.status_code == 400
    assert bad.json()["type"] == "urn:entente:problem:invalid-cursor"


async def test_reports(live, tokens):
    reader = tokens["reader"]
    await _caught_up(live, reader)
    commitments = await _get(
        live, reader, "/reports/commitments", as_of="2022-07-01", dialogue_id=str(demo.ESPD_ID)
    )
    assert {r["party"] for r in commitments} >= {"KZ", "US"}
    assert all(r["overdue"] >= 1 for r in commitments if r["party"] in ("KZ", "US"))
    activity = await _get(live, reader, "/reports/activity", dialogue_id=str(demo.ESPD_ID))
    assert [(r["year"], r["sessions_held"]) for r in activity] == [(2021, 1)]
    fulfilment = await _get(live, reader, "/reports/fulfilment", party="KZ")
    assert fulfilment and all(r["party"] == "KZ" for r in fulfilment)


async def test_the_frameworks_report_names_what_the_article_adopted_under_each(live, tokens):
    reader = tokens["reader"]
    await _caught_up(live, reader)
    frameworks = await _get(live, reader, "/reports/frameworks", party="US")
    by_name = {r["framework"]: r for r in frameworks}
    assert set(by_name) == {
        "C5+1",
        "Trade and Investment Framework Agreement (TIFA)",
        "Fourth Five-Year Plan for Military Cooperation between the Ministry of Defense "
        "of Kazakhstan and the United States Department of Defense",
    }
    c5 = by_name["C5+1"]
    assert (c5["outcomes"], c5["dialogues"], c5["parties"]) == (2, 1, ["KZ", "US"])
    assert c5["first_adopted"] == c5["last_adopted"] == "2021-12-15"
    assert await _get(live, reader, "/reports/frameworks", party="FR") == []


async def test_read_your_writes(live, tokens):
    writer = tokens["writer"]
    dialogue_id = uuid.uuid4()
    body = {
        "dialogue_id": str(dialogue_id),
        "charter": {
            "name": "Read Your Writes Dialogue",
            "format": "bilateral",
            "parties": ["KZ", "FR"],
        },
    }
    written = await live.post("/dialogues", json=body, headers=auth(writer))
    assert written.status_code == 201, written.text
    position = written.headers["X-Position"]
    page = await _get(live, writer, "/dialogues", party="FR", after_position=position)
    assert [d["dialogue_id"] for d in page["items"]] == [str(dialogue_id)]
    via_header = await live.get(
        "/dialogues", params={"party": "FR"}, headers=auth(writer, **{"X-After-Position": position})
    )
    assert via_header.status_code == 200 and len(via_header.json()["items"]) == 1


async def test_a_position_not_reached_is_a_503_with_retry_after(live, tokens, pool):
    """A position the log may yet reach (the next transaction's) is waited for, then a 503
    to retry; one far beyond the head was never issued: a 400, not a retry for ever."""
    from store.records import Cursor

    xmax = await pool.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
    live.app.state.read_your_writes_wait = 0.2
    try:
        responses = [
            await live.get(
                "/dialogues", params={"after_position": token}, headers=auth(tokens["reader"])
            )
            for token in (Cursor(int(xmax), 0).encode(), Cursor(2**40, 0).encode())
        ]
    finally:
        live.app.state.read_your_writes_wait = 5.0
    next_one, far = responses
    assert next_one.status_code == 503, next_one.text
    assert next_one.headers["Retry-After"] == "1"
    assert next_one.json()["type"] == "urn:entente:problem:not-yet-consistent"
    assert far.status_code == 400
    assert far.json()["type"] == "urn:entente:problem:invalid-cursor"


async def test_projection_status_and_rebuild_over_http(live, tokens):
    admin = tokens["admin"]
    await _caught_up(live, tokens["reader"])
    status = await _get(live, admin, "/projections")
    assert {s["projection"] for s in status} >= {"dialogues", "visits", "timeline"}
    before = await _get(live, tokens["reader"], "/dialogues", limit=500)
    accepted = await live.post("/projections/dialogues/rebuild", headers=auth(admin))
    assert accepted.status_code == 202
    missing = await live.post("/projections/nope/rebuild", headers=auth(admin))
    assert missing.status_code == 404

    for _ in range(100):
        rows = {s["projection"]: s for s in await _get(live, admin, "/projections")}
        if rows["dialogues"]["rebuild_requested_at"] is None and "dialogues:rebuild" not in rows:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the rebuild did not finish")
    after = await _get(live, tokens["reader"], "/dialogues", limit=500)
    assert after == before


async def test_every_listing_answers_its_typed_rows(live, tokens):
    """What each listing and item route answers is what its typed schema says: every
    field it carries is declared, and each decodes strictly to its declared type (dates
    as dates, ids as ids, decimals as strings), for readers and for auditors."""
    await _caught_up(live, tokens["reader"])
    for role in ("reader", "all"):
        for served in SERVED:
            row, page = page_type(served)
            url = served.path.replace("{pair:str}", "KZ-US")
            response = await live.get(url, headers=auth(tokens[role]))
            assert response.status_code == 200, response.text
            items = msgspec.json.decode(response.content, type=page).items  # type: ignore[attr-defined]
            assert items, url
            for found in response.json()["items"]:
                assert set(found) <= set(row.__struct_fields__), url
            if served.item:
                ident = getattr(items[0], served.item.parameter)
                one = await live.get(f"{served.path}/{ident}", headers=auth(tokens[role]))
                assert msgspec.json.decode(one.content, type=row) == items[0]
        calendar = await live.get(
            "/calendar", params={"from": "2000-01-01"}, headers=auth(tokens[role])
        )
        entries = msgspec.json.decode(calendar.content, type=list[CALENDAR_ENTRY])  # type: ignore[valid-type]
        assert entries and all(
            set(e) <= set(CALENDAR_ENTRY.__struct_fields__) for e in calendar.json()
        )


async def test_status_and_kind_filters_take_their_vocabulary(live, tokens):
    reader = tokens["reader"]
    await _caught_up(live, reader)
    seen = set()
    for listing in ("/dialogues", "/sessions", "/outcomes", "/visits"):
        everything = (await _get(live, reader, listing, limit=500))["items"]
        for status in {row["status"] for row in everything}:
            page = await _get(live, reader, listing, status=status, limit=500)
            assert page["items"] and {row["status"] for row in page["items"]} == {status}
            seen.add((listing, status))
    assert len(seen) > 4, seen
    commitments = await _get(live, reader, "/outcomes", kind="commitment", limit=500)
    assert commitments["items"] and {o["kind"] for o in commitments["items"]} == {"commitment"}
    refused = await live.get("/outcomes", params={"status": "done"}, headers=auth(reader))
    assert refused.status_code == 400, refused.text

    document = (await live.get("/docs/openapi.json")).json()
    parameters = document["paths"]["/outcomes"]["get"]["parameters"]
    status = next(p for p in parameters if p["name"] == "status")
    assert "fulfilled" in json_of(status["schema"]) and "retracted" in json_of(status["schema"])
