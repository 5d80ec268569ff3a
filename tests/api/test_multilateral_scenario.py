"""Issue 12, must-show 2: a six-party dialogue through the API.

C5+1 (the five Central Asian states and the United States), launched in Samarkand and
meeting "about yearly at ministerial level": a ministerial session planned for "2023",
rescheduled to 19 September 2023, held with a head per party but first recorded on the
18th and corrected with a reason (the dialogue's first at ministerial level); an outcome
pledging money to a named programme under a named framework (by name, and as the
register's own C5+1 dialogue by id); compliance scored for every party; a visit logged
after the fact and linked to the dialogue, the session and the outcome; the pledges report
totals; every pair of the six parties answers /relationships/{pair} and its history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest_asyncio
from litestar.testing import AsyncTestClient

from api.app import create_app
from domain import commands as c
from domain.facts import (
    Assessment,
    Charter,
    OutcomeTerms,
    Pledge,
    SessionPlan,
    SessionRecord,
    VisitPlan,
)
from domain.values import OutcomeRef, PartialDate, Person, Place
from tests.api.command_scenario import Driver, ids
from tests.api.conftest import auth

PARTIES = ("KZ", "KG", "TJ", "TM", "UZ", "US")
HEADS = tuple(
    Person(name=f"Head {p}", title="Minister", organization="MFA", party=p) for p in PARTIES
)
NEW_YORK = Place(city="New York", country="US")


def _day(text: str) -> PartialDate:
    return PartialDate.parse(text)


def _record(day: str) -> SessionRecord:
    return SessionRecord(held_on=_day(day), place=NEW_YORK, heads=HEADS)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(database_url: str, tmp_path_factory: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app with its in-process projection worker, so reports see the scenario."""
    root = tmp_path_factory.mktemp("exports")
    app = create_app(database_url, pool_size=10, run_projections=True, export_root=root)
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def scenario(client: Any, tokens: dict[str, str], pool: Any) -> dict[str, Any]:
    i = ids("c5plus1")
    d, s, o = i["d"], i["s1"], i["o1"]
    driver = Driver(client, tokens["writer"])
    charter = Charter(
        name="C5+1",
        format="multilateral",
        parties=PARTIES,
        launched_on=_day("2015-11-01"),
        launched_in=Place(city="Samarkand", country="UZ"),
        cadence="annual",
        cadence_wording="about yearly at ministerial level",
    )
    terms = OutcomeTerms(
        kind="commitment",
        text="Fund the regional water programme",
        responsible=("US",),
        scored=PARTIES,  # every member scored, as the G7/G20 Research Group method does
        frameworks=("C5+1",),
        framework_dialogues=(d,),  # the framework is this very dialogue of the register
        pledges=(
            Pledge(
                amount=Decimal("20000000"), currency="USD", programme="Green Central Asia", by="US"
            ),
            Pledge(amount=Decimal("5000000.50"), currency="USD", programme="Green Central Asia"),
        ),
    )
    commands: list[Any] = [
        c.LaunchDialogue(dialogue_id=d, charter=charter),
        c.ScheduleSession(
            dialogue_id=d,
            session_id=s,
            plan=SessionPlan(
                planned=_day("2023"), agreed_on=_day("2022-11-10"), level="ministerial"
            ),
        ),
        c.RescheduleSession(
            dialogue_id=d,
            session_id=s,
            plan=SessionPlan(
                planned=_day("2023-09-19"), agreed_on=_day("2023-06-01"), level="ministerial"
            ),
            reason="dates fixed at the UN General Assembly",
        ),
        c.HoldSession(dialogue_id=d, session_id=s, record=_record("2023-09-18")),
        c.AdoptOutcome(dialogue_id=d, session_id=s, outcome_id=o, terms=terms),
        c.AdoptOutcome(
            dialogue_id=d,
            session_id=s,
            outcome_id=i["o2"],
            terms=OutcomeTerms(
                kind="joint statement",
                text="Meet again in 2024",
                responsible=PARTIES,
                target=_day("2024"),
            ),
        ),
    ]
    for command in commands:
        response = await driver.send(command)
        assert response.is_success, (command, response.text)
    await asyncio.sleep(0.05)
    corrected = c.CorrectSessionRecord(
        dialogue_id=d,
        session_id=s,
        record=_record("2023-09-19"),
        reason="the summit met on the 19th (State Department readout)",
    )
    assert (await driver.send(corrected)).is_success
    for party in PARTIES:
        assessment = Assessment(
            party=party,
            score=1 if party == "US" else 0,
            on=_day("2024-09"),
            assessor="RG",
            rationale="G7 Research Group method",
        )
        assessed = c.AssessCompliance(dialogue_id=d, outcome_id=o, assessment=assessment)
        assert (await driver.send(assessed)).is_success, party
    visit = VisitPlan(
        visitor=Person(name="Envoy", title="Special Envoy", organization="DoS", party="US"),
        host="KZ",
        destination=Place(city="Astana", country="KZ"),
        window=_day("2024-03"),
        outcome=OutcomeRef(dialogue_id=d, outcome_id=o),
        dialogue_id=d,
        session_id=s,
    )
    logged = await driver.send(c.LogVisit(visit_id=i["v1"], plan=visit, dates=_day("2024-03-12")))
    assert logged.is_success, logged.text
    before_correction: dt.datetime = await pool.fetchval(
        "SELECT recorded_at FROM event_store.events WHERE stream_id = $1 AND version = 5",
        f"dialogue-{d}",
    )
    return {"ids": i, "position": logged.headers["x-position"], "before": before_correction}


async def _session(client: Any, reader: dict[str, str], d: uuid.UUID, query: str) -> Any:
    response = await client.get(f"/dialogues/{d}?{query}", headers=reader)
    assert response.status_code == 200, response.text
    return response.json()["state"]["sessions"].get(str(ids("c5plus1")["s1"]))


async def test_the_session_as_known_and_as_valid(client, tokens, scenario):
    d = scenario["ids"]["d"]
    reader = auth(tokens["reader"])
    then = quote(scenario["before"].isoformat())
    assert (await _session(client, reader, d, f"as_of={then}"))["record"]["held_on"][
        "start"
    ] == "2023-09-18"
    assert await _session(client, reader, d, "valid_at=2022-10-01") is None
    imprecise = await _session(client, reader, d, "valid_at=2023-01-15")
    assert (imprecise["status"], imprecise["plan"]["planned"]["precision"]) == (
        "scheduled",
        "year",
    )
    exact = await _session(client, reader, d, "valid_at=2023-07-01")
    assert (exact["status"], exact["plan"]["planned"]["start"]) == ("scheduled", "2023-09-19")
    wrong_day = await _session(client, reader, d, "valid_at=2023-09-18")
    assert (wrong_day["status"], wrong_day["record"]) == ("scheduled", None)
    held = await _session(client, reader, d, "valid_at=2023-09-19")
    assert held["status"] == "held"
    assert [h["party"] for h in held["record"]["heads"]] == list(PARTIES)


async def test_every_party_is_scored_and_the_pledges_total(client, tokens, scenario):
    d = scenario["ids"]["d"]
    reader = auth(tokens["reader"])
    state = (await client.get(f"/dialogues/{d}", headers=reader)).json()["state"]
    outcome = state["outcomes"][str(scenario["ids"]["o1"])]
    assert sorted(outcome["compliance"]) == sorted(PARTIES)
    assert outcome["adopted_on"]["start"] == "2023-09-19"  # moved with the correction

    response = await client.get(
        "/reports/pledges",
        params={"dialogue_id": str(d), "after_position": scenario["position"]},
        headers=reader,
    )
    assert response.status_code == 200, response.text
    rows = {
        (r["party"], r["currency"], r["programme"], r["framework"], r["year"]): r
        for r in response.json()
    }
    us = rows[("US", "USD", "Green Central Asia", "C5+1", 2023)]
    whole = rows[("", "USD", "Green Central Asia", "C5+1", 2023)]
    assert Decimal(us["total"]) == Decimal("20000000")
    assert Decimal(whole["total"]) == Decimal("5000000.50")
    usd_only = await client.get(
        "/reports/pledges", params={"dialogue_id": str(d), "currency": "EUR"}, headers=reader
    )
    assert usd_only.json() == []
    unknown = await client.get("/reports/pledges", params={"currency": "USS"}, headers=reader)
    assert unknown.status_code == 422, unknown.text


async def test_the_visit_logged_after_the_fact_links_to_the_outcome(client, tokens, scenario):
    v = scenario["ids"]["v1"]
    reader = auth(tokens["reader"])
    state = (await client.get(f"/visits/{v}", headers=reader)).json()["state"]
    assert state["status"] == "completed"
    assert state["plan"]["outcome"]["dialogue_id"] == str(scenario["ids"]["d"])
    assert state["plan"]["dialogue_id"] == str(scenario["ids"]["d"])
    assert state["plan"]["session_id"] == str(scenario["ids"]["s1"])
    listed = await client.get(
        "/visits", params={"after_position": scenario["position"]}, headers=reader
    )
    row = next(r for r in _items(listed) if r["visit_id"] == str(v))
    assert (row["dialogue_id"], row["session_id"]) == (
        str(scenario["ids"]["d"]),
        str(scenario["ids"]["s1"]),
    )
    before = (await client.get(f"/visits/{v}?valid_at=2024-03-11", headers=reader)).json()
    assert before["state"]["status"] == "unrecorded"


async def _export(client: Any, reader: dict[str, str], d: uuid.UUID, fmt: str) -> bytes:
    run = await client.post(
        "/exports",
        headers=reader,
        json={"report": "commitments", "format": fmt, "parameters": {"dialogue_id": str(d)}},
    )
    assert run.status_code == 201, run.text
    assert run.json()["row_count"] == 2
    file = await client.get(f"/exports/{run.json()['run_id']}/file", headers=reader)
    assert file.status_code == 200, file.text
    content: bytes = file.content
    return content


async def test_the_commitments_export_opens_in_pandas_typed(client, tokens, scenario):
    """Must-show 4: one row per commitment; dates as dates, amounts as 2-decimal decimals."""
    d, o = scenario["ids"]["d"], scenario["ids"]["o1"]
    reader = auth(tokens["reader"])
    await client.get(
        "/reports/pledges", params={"after_position": scenario["position"]}, headers=reader
    )

    parquet = pd.read_parquet(io.BytesIO(await _export(client, reader, d, "parquet")))
    assert len(parquet) == 2 and parquet["outcome_id"].is_unique
    pledged = parquet.set_index("outcome_id").loc[str(o)]
    assert pledged["adopted_on"] == dt.date(2023, 9, 19)
    assert isinstance(pledged["amount"], Decimal)
    assert pledged["amount"] == Decimal("25000000.50")
    assert pledged["amount"].as_tuple().exponent == -2  # a fixed scale
    assert pledged["currency"] == "USD"
    assert list(pledged["responsible"]) == ["US"]
    assert pledged["is_final"] is False or pledged["is_final"] == False  # noqa: E712
    other = parquet.set_index("outcome_id").loc[str(scenario["ids"]["o2"])]
    assert pd.isna(other["amount"]) and other["target_from"] == dt.date(2024, 1, 1)

    xlsx = pd.read_excel(io.BytesIO(await _export(client, reader, d, "xlsx")))
    assert len(xlsx) == 2
    assert pd.api.types.is_datetime64_any_dtype(xlsx["adopted_on"])
    assert pd.api.types.is_numeric_dtype(xlsx["amount"])
    assert sorted(xlsx["amount"].dropna()) == [25000000.5]

    csv = pd.read_csv(
        io.BytesIO(await _export(client, reader, d, "csv")),
        parse_dates=["adopted_on", "target_from", "target_to"],
        converters={"amount": lambda text: Decimal(text) if text else None},
    )
    assert len(csv) == 2
    assert pd.api.types.is_datetime64_any_dtype(csv["adopted_on"])
    assert sorted(a for a in csv["amount"] if a is not None) == [Decimal("25000000.50")]


def _items(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    items: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return items


async def test_the_charter_keeps_its_launch_place_and_cadence_in_words(client, tokens, scenario):
    d = scenario["ids"]["d"]
    charter = (await client.get(f"/dialogues/{d}", headers=auth(tokens["reader"]))).json()["state"][
        "charter"
    ]
    assert charter["launched_in"] == {"city": "Samarkand", "country": "UZ"}
    assert (charter["cadence"], charter["cadence_wording"]) == (
        "annual",
        "about yearly at ministerial level",
    )


async def test_the_summit_is_the_first_at_ministerial_level(client, tokens, scenario):
    d, s = scenario["ids"]["d"], scenario["ids"]["s1"]
    reader = auth(tokens["reader"])
    held = await _session(client, reader, d, "")
    assert held["first_at_level"] is True
    assert held["plan"]["level"] == "ministerial"
    before = await _session(client, reader, d, "valid_at=2023-07-01")
    assert before["first_at_level"] is False  # only scheduled then
    listed = await client.get(
        "/sessions",
        params={"dialogue_id": str(d), "after_position": scenario["position"]},
        headers=reader,
    )
    row = next(r for r in _items(listed) if r["session_id"] == str(s))
    assert (row["level"], row["first_at_level"]) == ("ministerial", True)


async def test_a_framework_is_found_by_its_name_or_its_dialogue(client, tokens, scenario):
    """`+` in a query string means a space: a name with a plus is sent URL-encoded (%2B)."""
    d, o = scenario["ids"]["d"], scenario["ids"]["o1"]
    reader = auth(tokens["reader"])
    settled = scenario["position"]

    async def outcomes(query: str) -> set[str]:
        response = await client.get(f"/outcomes?{query}&after_position={settled}", headers=reader)
        return {row["outcome_id"] for row in _items(response)}

    assert str(o) in await outcomes("framework=C5%2B1")
    assert str(o) in await outcomes(f"framework={d}")
    assert str(o) not in await outcomes("framework=C5+1")  # read as "C5 1"
    assert str(scenario["ids"]["o2"]) not in await outcomes(f"framework={d}")


async def test_every_pair_of_the_parties_answers(client, tokens, scenario):
    d = str(scenario["ids"]["d"])
    reader, auditor = auth(tokens["reader"]), auth(tokens["auditor"])
    settled = {"after_position": scenario["position"]}
    pairs = [(a, b) for i, a in enumerate(PARTIES) for b in PARTIES[i + 1 :]]
    assert len(pairs) == 15
    for a, b in pairs:
        state = await client.get(f"/relationships/{a}-{b}", params=settled, headers=reader)
        assert state.status_code == 200, (a, b, state.text)
        body = state.json()
        assert sorted(body["state"]["parties"]) == sorted((a, b))
        timeline = await client.get(f"/relationships/{a}-{b}/timeline", headers=reader)
        assert f"dialogue-{d}" in {row["stream_id"] for row in _items(timeline)}
        history = await client.get(
            f"/relationships/{b}-{a}/history", params={"limit": 1000}, headers=auditor
        )
        assert history.status_code == 200, history.text
        events = history.json()["events"]
        through = [e for e in events if e["stream_id"] == f"dialogue-{d}"]
        assert {e["type"] for e in through} >= {"DialogueLaunched", "SessionHeld"}
        assert all(
            e["dialogue"] == {"dialogue_id": d, "party_count": 6, "multilateral": True}
            for e in through
        )


async def test_multilateral_dialogues_can_be_left_out(client, tokens, scenario):
    reader, auditor = auth(tokens["reader"]), auth(tokens["auditor"])
    bilateral = {"multilateral": "false", "after_position": scenario["position"]}
    # KG and TJ meet only in C5+1 here: leaving multilateral dialogues out leaves nothing
    assert (
        await client.get("/relationships/KG-TJ", params=bilateral, headers=reader)
    ).status_code == 404
    history = await client.get("/relationships/KG-TJ/history", params=bilateral, headers=auditor)
    assert history.status_code == 200 and history.json()["events"] == []
    # US and KZ also have the envoy's visit: it stays, the dialogue goes
    state = await client.get("/relationships/US-KZ", params=bilateral, headers=reader)
    assert state.status_code == 200, state.text
    assert state.json()["version"] == 0  # no indicator or milestone of its own
    events = (
        await client.get("/relationships/US-KZ/history", params=bilateral, headers=auditor)
    ).json()["events"]
    assert {e["stream_id"] for e in events} == {f"visit-{scenario['ids']['v1']}"}
    assert all(e["dialogue"] is None for e in events)
    # a pair with no history at all is still a 404
    assert (await client.get("/relationships/FR-KZ", headers=reader)).status_code == 404
