"""Issue 12, must-show 5: events stored under old schemas still load through the API.

The payloads below are what earlier versions of Entente wrote (written out by hand, as a
v1 writer produced them: no plan `agreed_on` or `level`, a held day as a bare ISO string,
no charter `launched_in`/`cadence_wording`, no `framework_dialogues`, no visit
`dialogue_id`/`session_id`). They are appended as the owner, straight into the store with
their old schema versions and hashed as stored; the API reads them back upcast, the read
models project them, and the hash chains still verify.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from litestar.testing import AsyncTestClient

from api.app import create_app
from store import EventStore
from store.records import NewEvent
from tests.api.conftest import auth

NS = uuid.UUID("7c1e0c1e-5d1f-4c3b-8a9e-0f1d2c3b4a50")
D, S, O, V = (uuid.uuid5(NS, name) for name in ("dialogue", "session", "outcome", "visit"))  # noqa: E741
HEAD = {"name": "A", "organization": "MFA", "party": "KZ", "title": "Minister"}
DAY_2021 = {"end": "2022-01-01", "precision": "year", "start": "2021-01-01", "wording": "2021"}

DIALOGUE_V1: list[tuple[str, int, dict[str, Any]]] = [
    (
        "DialogueLaunched",
        1,
        {
            "charter": {
                "acronym": "OLD",
                "cadence": "annual",
                "format": "bilateral",
                "launched_by": None,
                "launched_on": None,
                "name": "A dialogue recorded long ago",
                "parties": ["KZ", "US"],
            },
            "dialogue_id": str(D),
        },
    ),
    (
        "SessionScheduled",
        1,
        {
            "dialogue_id": str(D),
            "plan": {
                "format": "in person",
                "host": "KZ",
                "place": None,
                "planned": DAY_2021,
            },
            "session_id": str(S),
        },
    ),
    (
        "SessionHeld",
        1,
        {
            "dialogue_id": str(D),
            "record": {
                "heads": [HEAD],
                "held_on": "2021-12-15",
                "members": [],
                "place": {"city": "Nur-Sultan", "country": "KZ"},
                "sources": [],
                "statements": [],
                "summary": "",
                "topics": ["trade"],
            },
            "session_id": str(S),
        },
    ),
    (
        "OutcomeAdopted",
        1,
        {
            "adopted_on": {
                "end": "2021-12-16",
                "precision": "day",
                "start": "2021-12-15",
                "wording": "2021-12-15",
            },
            "dialogue_id": str(D),
            "outcome_id": str(O),
            "session_id": str(S),
            "terms": {
                "frameworks": ["TIFA"],
                "kind": "commitment",
                "leads_to": [],
                "pledges": [],
                "responsible": ["KZ", "US"],
                "scored": [],
                "target": None,
                "text": "Meet again",
            },
        },
    ),
]
VISIT_V1 = (
    "VisitLogged",
    1,
    {
        "dates": {
            "end": "2022-03-13",
            "precision": "day",
            "start": "2022-03-12",
            "wording": "12 March 2022",
        },
        "plan": {
            "destination": {"city": "Washington", "country": "US"},
            "host": "US",
            "outcome": None,
            "purpose": "talks",
            "visitor": HEAD,
            "window": {
                "end": "2022-04-01",
                "precision": "month",
                "start": "2022-03-01",
                "wording": "March 2022",
            },
        },
        "visit_id": str(V),
    },
)


def _new(event_type: str, version: int, data: dict[str, Any]) -> NewEvent:
    return NewEvent(type=event_type, schema_version=version, data=data)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stored(owner_pool: Any) -> str:
    """The old payloads, appended as the owner; returns the last position token."""
    store = EventStore(owner_pool)
    metadata = {"actor": "v1-writer"}
    await store.append(f"dialogue-{D}", [_new(*event) for event in DIALOGUE_V1], 0, metadata)
    result = await store.append(f"visit-{V}", [_new(*VISIT_V1)], 0, metadata)
    assert result.cursor is not None
    return result.cursor.encode()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(database_url, pool_size=5, run_projections=True)
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_the_log_keeps_the_old_versions_as_stored(live, tokens, stored):
    events = (
        await live.get(f"/streams/dialogue-{D}/events", headers=auth(tokens["auditor"]))
    ).json()["events"]
    assert [(e["type"], e["schema_version"]) for e in events] == [(t, v) for t, v, _ in DIALOGUE_V1]
    assert events[2]["data"]["record"]["held_on"] == "2021-12-15"  # served as stored
    verified = (await live.get("/verify", headers=auth(tokens["auditor"]))).json()
    assert verified["broken"] == []


async def test_old_dialogue_events_are_upcast_when_read(live, tokens, stored):
    response = await live.get(f"/dialogues/{D}", headers=auth(tokens["reader"]))
    assert response.status_code == 200, response.text
    state = response.json()["state"]
    assert (state["charter"]["cadence_wording"], state["charter"]["launched_in"]) == ("", None)
    session = state["sessions"][str(S)]
    assert session["status"] == "held"
    assert session["record"]["held_on"]["precision"] == "day"
    assert session["record"]["held_on"]["start"] == "2021-12-15"
    assert (session["plan"]["agreed_on"], session["plan"]["level"]) == (None, None)
    assert session["first_at_level"] is False
    assert state["outcomes"][str(O)]["terms"]["framework_dialogues"] == []
    # valid time reads the upcast facts too: a plan with no agreed_on holds from the start
    then = await live.get(f"/dialogues/{D}?valid_at=2021-06-01", headers=auth(tokens["reader"]))
    assert then.json()["state"]["sessions"][str(S)]["status"] == "scheduled"


async def test_an_old_visit_is_upcast_and_projected(live, tokens, stored):
    reader = auth(tokens["reader"])
    visit = (await live.get(f"/visits/{V}", headers=reader)).json()["state"]
    assert visit["status"] == "completed"
    assert (visit["plan"]["dialogue_id"], visit["plan"]["session_id"]) == (None, None)
    listed = await live.get("/visits", params={"after_position": stored}, headers=reader)
    assert listed.status_code == 200, listed.text
    rows = [r for r in listed.json()["items"] if r["visit_id"] == str(V)]
    assert [(r["status"], r["dialogue_id"]) for r in rows] == [("completed", None)]
    session = await live.get(f"/sessions/{S}", params={"after_position": stored}, headers=reader)
    assert session.status_code == 200, session.text
    assert (session.json()["status"], session.json()["level"]) == ("held", None)
