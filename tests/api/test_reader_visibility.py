"""Must-show: audit metadata never reaches a reader, by any route or export.

Every GET route a reader key can reach (taken from the app's own route table, so a new
route is walked without touching this file), with its path filled from data seeded
here, answers 200 with content; every report of the catalogue is exported as a reader in
CSV and NDJSON. None of it names an audit field (reporting/disclosure.py) or carries
the values the audit trail holds: the writer's key name, the request, correlation and
idempotency ids sent with the commands. The same walk as an auditor does find them
where docs/API.md says (change feed metadata, timeline `actor`, audit routes), so the
walk can see what it looks for. Reasons are domain facts: a reader sees them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest_asyncio
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.auth import PERMISSIONS, PUBLIC
from api.demo import DEMO_ACTOR
from reporting.disclosure import AUDIT_FIELDS, EVENT_METADATA
from tests.api.command_scenario import Driver, ids, scenario
from tests.api.conftest import auth
from tests.api.test_roles import routes_of

PREFIX = "visibility"
REQUEST_IDS = f"{PREFIX}-request-"
CORRELATION = f"{PREFIX}-correlation"
IDEMPOTENCY = f"{PREFIX}-idempotency-"
WRITER = "test-writer"  # the writer key's name (tests/api/conftest.py), the actor
SECRETS = (WRITER, DEMO_ACTOR, REQUEST_IDS, CORRELATION, IDEMPOTENCY, "demo-")
"""Values only the audit trail holds: none may appear anywhere in a reader's answers."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(demo_client: AsyncTestClient[Any]) -> AsyncTestClient[Any]:
    """The app with its in-process worker over the demo (tests/api/conftest.py)."""
    return demo_client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(live: AsyncTestClient[Any], tokens: dict[str, str]) -> dict[str, str]:
    """Every command kind (corrections and retractions with reasons), each with its own
    request id and idempotency key; then an export run, and the read
    models caught up. Returns what fills the routes' path and query parameters."""
    driver = Driver(live, tokens["writer"])
    position = ""
    for number, command in enumerate(scenario(PREFIX)):
        response = await driver.send(
            command,
            **{
                "X-Request-ID": f"{REQUEST_IDS}{number}",
                "X-Correlation-ID": CORRELATION,
                "Idempotency-Key": f"{IDEMPOTENCY}{number}",
            },
        )
        assert response.is_success, (command, response.text)
        position = response.headers.get("x-position") or position
    caught_up = await live.get(
        "/sessions", params={"after_position": position}, headers=auth(tokens["reader"])
    )
    assert caught_up.status_code == 200, caught_up.text
    run = await live.post(
        "/exports",
        headers=auth(tokens["reader"]),
        json={"report": "relationship-timeline", "format": "csv"},
    )
    assert run.status_code == 201, run.text
    await _feed_reaches_the_scenario(live, tokens["auditor"])
    await _signed_tree_holds_the_scenario(live, tokens["auditor"])
    i = ids(PREFIX)
    return {
        "dialogue_id": str(i["d"]),
        "session_id": str(i["s1"]),
        "outcome_id": str(i["o1"]),
        "visit_id": str(i["v1"]),
        "pair": "KZ-US",
        "run_id": run.json()["run_id"],
        "stream_id": "relationship-KZ-US",
    }


async def _feed_reaches_the_scenario(live: AsyncTestClient[Any], auditor: str) -> None:
    """The change feed serves events once no older transaction can commit before them;
    wait (generously) until the scenario's last event is served."""
    for _ in range(300):
        page = await live.get(
            "/events",
            params={"stream_prefix": "relationship-", "limit": 1000},
            headers=auth(auditor),
        )
        metadata = [e["metadata"] for e in page.json()["events"]]
        if any(m.get("request_id", "").startswith(REQUEST_IDS) for m in metadata):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the change feed never served the scenario's events")


async def _signed_tree_holds_the_scenario(live: AsyncTestClient[Any], auditor: str) -> None:
    """The worker's checkpointer signs a tree over every event of the feed (a bundle
    holds only events a checkpoint covers)."""
    params, last = {"limit": "1000"}, 0
    while True:
        page = (await live.get("/events", params=params, headers=auth(auditor))).json()
        if not page["events"]:
            break
        last, params["cursor"] = page["events"][-1]["position"], page["next_cursor"]
    for _ in range(600):
        found = await live.get(
            "/transparency/checkpoint", params={"position": last}, headers=auth(auditor)
        )
        if found.status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("no checkpoint covered the scenario")


QUERIES: dict[str, dict[str, str]] = {
    "/calendar": {"from": "2021-01-01"},
    "/calendar.ics": {"since": "2021-01-01"},
    "/events": {"limit": "1000"},
    "/events/stream": {"follow": "false"},
    "/relationships/{pair:str}/history": {"limit": "1000"},
    "/streams/{stream_id:str}/events": {"limit": "1000"},
    "/relationships/{pair:str}/timeline": {"limit": "500"},
    "/reports/commitments": {"as_of": "2022-07-01"},
    "/transparency/inclusion": {"position": "1"},
    "/transparency/consistency": {"first": "1"},
}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


NOT_WALKED = ("/docs", "/subscriptions")
"""Docs pages, and webhook subscriptions: a subscription and its delivery log show its
owner (an API key's name, like /calendar/tokens) its own settings and attempts, never an
event or its metadata (what targets receive is checked in tests/api/test_webhooks.py)."""


def _reachable(role: str) -> list[tuple[str, str]]:
    """(template, permission) of every GET route `role` may call, NOT_WALKED aside."""
    app = create_app("postgresql://unused/unused")
    return [
        (template, permission)
        for method, template, _, permission in routes_of(app)
        if method == "GET"
        and not template.startswith(NOT_WALKED)
        and (permission == PUBLIC or role in PERMISSIONS[permission])
    ]


def _keys(value: Any) -> Iterator[str]:
    """Every key of every object nested in a JSON value."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield str(key)
            yield from _keys(child)
    elif isinstance(value, list):
        for child in value:
            yield from _keys(child)


def _names_in(content_type: str, body: bytes) -> set[str]:
    """The field names an answer carries: JSON keys, CSV header, NDJSON keys."""
    text = body.decode()
    if content_type.startswith("text/csv"):
        return set(next(csv.reader(io.StringIO(text))))
    if content_type.startswith("application/x-ndjson"):
        return {k for line in text.splitlines() for k in _keys(json.loads(line))}
    if content_type.startswith("application/json"):
        return set(_keys(json.loads(text)))
    if content_type.startswith("text/plain; version=0.0.4"):  # /metrics: its label names
        families = text_string_to_metric_families(text)
        return {label for f in families for s in f.samples for label in s.labels}
    if content_type.startswith("text/event-stream"):
        return {k for line in _sse_data(text) for k in _keys(json.loads(line))}
    assert content_type.startswith("text/calendar"), content_type
    return set()


def _sse_data(text: str) -> list[str]:
    """The `data:` payloads of a Server-Sent Events body."""
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def _has_content(content_type: str, body: bytes) -> bool:
    if content_type.startswith("application/json"):
        value = json.loads(body)
        if isinstance(value, dict):
            value = value.get("items", value.get("events", value))
        return bool(value)
    if content_type.startswith("text/calendar"):
        return b"BEGIN:VEVENT" in body
    if content_type.startswith("text/event-stream"):
        return bool(_sse_data(body.decode()))
    return len(body.decode().splitlines()) > 1 or content_type.startswith("application/x-")


async def _walk(
    live: AsyncTestClient[Any], seeded: dict[str, str], role: str, token: str
) -> dict[str, tuple[set[str], str]]:
    """Every GET route `role` reaches → (field names, body text); each answered 200 with
    content."""
    seen: dict[str, tuple[set[str], str]] = {}
    feed = await live.post("/calendar/tokens", headers=auth(token), json={"name": f"{role} walk"})
    assert feed.status_code == 201, feed.text
    for template, permission in _reachable(role):
        path = _PARAM.sub(lambda m: seeded[m.group(1)], template)
        params = dict(QUERIES.get(template, {}))
        headers = auth(token)
        if permission == "feed":
            params["token"], headers = feed.json()["token"], {}
        response = await live.get(path, params=params, headers=headers)
        assert response.status_code == 200, (role, path, response.text)
        kind = response.headers["content-type"]
        assert _has_content(kind, response.content), (role, path, response.text)
        seen[template] = (_names_in(kind, response.content), response.text)
    return seen


async def _exports(
    live: AsyncTestClient[Any], token: str
) -> dict[tuple[str, str], tuple[set[str], str]]:
    """Every report of the catalogue exported in CSV and NDJSON → (names, file text)."""
    catalogue = await live.get("/reports/catalogue", headers=auth(token))
    assert catalogue.status_code == 200
    found = {}
    for report in (r["name"] for r in catalogue.json()):
        for fmt in ("csv", "ndjson"):
            run = await live.post(
                "/exports", headers=auth(token), json={"report": report, "format": fmt}
            )
            assert run.status_code == 201, (report, fmt, run.text)
            file = await live.get(f"/exports/{run.json()['run_id']}/file", headers=auth(token))
            assert file.status_code == 200, file.text
            kind = file.headers["content-type"]
            found[report, fmt] = (_names_in(kind, file.content), file.text)
    return found


async def test_no_reader_route_or_export_carries_audit_metadata(live, tokens, seeded):
    walked = await _walk(live, seeded, "reader", tokens["reader"])
    assert "/relationships/{pair:str}/timeline" in walked and "/events" in walked
    exported = await _exports(live, tokens["reader"])
    assert len(exported) >= 2 * 9
    for where, (names, text) in [*walked.items(), *exported.items()]:
        assert not names & AUDIT_FIELDS, (where, names & AUDIT_FIELDS)
        assert not [s for s in SECRETS if s in text], (where, [s for s in SECRETS if s in text])
    timeline_csv = exported["relationship-timeline", "csv"][0]
    assert {"summary", "event_type", "recorded_at"} <= timeline_csv
    # Reasons are domain facts: the reader sees why an indicator was retracted.
    assert "unsourced" in walked["/relationships/{pair:str}/timeline"][1]
    events = json.loads(walked["/events"][1])["events"]
    retracted = [e for e in events if e["type"] == "IndicatorRetracted"]
    assert retracted and all(e["data"]["reason"] for e in retracted)


async def test_an_auditor_walking_the_same_routes_finds_the_audit_trail(live, tokens, seeded):
    walked = await _walk(live, seeded, "auditor", tokens["auditor"])
    assert "/streams/{stream_id:str}/events" in walked  # auditors reach the audit routes
    timeline_names, timeline = walked["/relationships/{pair:str}/timeline"]
    assert "actor" in timeline_names and WRITER in timeline
    for template in ("/events", "/streams/{stream_id:str}/events"):
        names, text = walked[template]
        assert names >= AUDIT_FIELDS, (template, AUDIT_FIELDS - names)
        assert f'"{IDEMPOTENCY}' in text or f":{IDEMPOTENCY}" in text
        assert REQUEST_IDS in text and CORRELATION in text
        for event in json.loads(text)["events"]:
            assert set(event["metadata"]) <= EVENT_METADATA, set(event["metadata"])
    # Exports are shared files any reader may download: never audit metadata, for anyone.
    exported = await _exports(live, tokens["auditor"])
    for where, (names, _) in exported.items():
        assert not names & AUDIT_FIELDS, where


async def test_a_reader_fetching_one_timeline_row_or_event_sees_no_actor(live, tokens, seeded):
    reader = auth(tokens["reader"])
    page = await live.get(
        f"/relationships/{seeded['pair']}/timeline", params={"limit": 1}, headers=reader
    )
    assert page.status_code == 200 and page.json()["items"]
    assert "actor" not in page.json()["items"][0]
    state = await live.get(f"/dialogues/{uuid.UUID(seeded['dialogue_id'])}", headers=reader)
    assert state.status_code == 200 and not [s for s in SECRETS if s in state.text]
