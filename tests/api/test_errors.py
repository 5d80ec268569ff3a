"""Each error class as an RFC 9457 problem, and no refused request writes an event."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from api.freshness import ReadYourWrites
from domain import commands as c
from store.api_keys import create_key, revoke_key
from store.errors import InvalidCursor
from store.event_store import EventStore
from store.records import Cursor
from tests.api.command_scenario import Driver, body_of, event_count, ids, path_for
from tests.unit import builders as b

IDS = ids("errors")
D, S = IDS["d"], IDS["s1"]
HUGE_CURSOR = Cursor(10**20, 10**20).encode()
BEYOND_HEAD = Cursor(99_999_999, 0).encode()
"""Well formed, but far past the head: a reader holding it would skip every event."""


def _listing_cursor(parts: list[object]) -> str:
    """A listing cursor as a client could forge one."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


UNKNOWN = ids("nowhere")["d"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dialogue(client: Any, tokens: dict[str, str]) -> dict[str, Any]:
    """A dialogue at version 2: launched, with one session scheduled (not held)."""
    driver = Driver(client, tokens["writer"])
    assert (await driver.send(c.LaunchDialogue(dialogue_id=D, charter=b.charter()))).is_success
    schedule = c.ScheduleSession(dialogue_id=D, session_id=S, plan=b.plan("2022"))
    assert (await driver.send(schedule)).is_success
    return {"id": D, "version": 2}


def _auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def assert_problem(response: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["type"].startswith("urn:entente:problem:"), problem
    assert problem["status"] == status
    assert problem["title"]
    if kind is not None:
        assert problem["type"] == f"urn:entente:problem:{kind}", problem
    assert "Traceback" not in response.text
    return problem


RENAME = c.RenameDialogue(dialogue_id=D, name="Renamed")
CORRECT = c.CorrectDialogue(dialogue_id=D, charter=b.charter(cadence="annual"), reason="cadence")


async def _post(client: Any, command: Any, headers: dict[str, str], **kw: Any) -> Any:
    path = path_for(client.app, command)
    if "content" in kw:
        return await client.post(path, content=kw["content"], headers=headers)
    return await client.post(path, json=kw.get("json", body_of(command)), headers=headers)


CASES: list[tuple[str, int, str | None]] = [
    ("malformed-json", 400, "invalid-request"),
    ("body-not-a-command", 400, "invalid-request"),
    ("bad-if-match", 400, "invalid-request"),
    ("weak-if-match", 400, "invalid-request"),
    ("bad-idempotency-key", 400, "invalid-request"),
    ("no-key", 401, "unauthenticated"),
    ("invalid-key", 401, "unauthenticated"),
    ("wrong-scheme", 401, "unauthenticated"),
    ("revoked-key", 401, "unauthenticated"),
    ("reader-writes", 403, "forbidden"),
    ("auditor-writes", 403, "forbidden"),
    ("admin-writes", 403, "forbidden"),
    ("unknown-dialogue", 404, "not-found"),
    ("stale-if-match", 409, "conflict"),
    ("relaunch", 409, "already-exists"),
    ("too-large", 413, "too-large"),
    ("session-not-held", 422, "rule-violated"),
    ("unknown-party", 422, "invalid-value"),
    ("bad-enum", 422, "invalid-value"),
    ("path-body-mismatch", 422, "path-body-mismatch"),
    ("too-long-string", 422, "too-long"),
    ("correction-without-if-match", 428, "precondition-required"),
]


@pytest.mark.parametrize(("case", "status", "kind"), CASES, ids=[c[0] for c in CASES])
async def test_refused_commands_are_problems_and_write_nothing(
    client: Any,
    tokens: dict[str, str],
    pool: Any,
    dialogue: dict[str, Any],
    case: str,
    status: int,
    kind: str | None,
) -> None:
    writer = _auth(tokens["writer"])
    current = f'"{dialogue["version"]}"'
    before = await event_count(pool)
    if case == "malformed-json":
        response = await _post(
            client, RENAME, {**writer, "Content-Type": "application/json"}, content=b'{"dia'
        )
    elif case == "body-not-a-command":
        response = await _post(client, RENAME, writer, json={"dialogue_id": str(D), "name": 7})
    elif case == "bad-if-match":
        response = await _post(client, CORRECT, {**writer, "If-Match": "yesterday"})
    elif case == "weak-if-match":  # If-Match compares strongly: a weak ETag never matches
        response = await _post(client, CORRECT, {**writer, "If-Match": f"W/{current}"})
    elif case == "bad-idempotency-key":
        response = await _post(client, RENAME, {**writer, "Idempotency-Key": "x" * 201})
    elif case == "no-key":
        response = await _post(client, RENAME, {})
    elif case == "invalid-key":
        response = await _post(client, RENAME, _auth("not-a-key"))
    elif case == "wrong-scheme":
        response = await _post(client, RENAME, {"Authorization": f"Basic {tokens['writer']}"})
    elif case == "revoked-key":
        _, token = await create_key(pool, "soon-revoked", ["writer"])
        assert (await _post(client, RENAME, _auth(token, **{"If-Match": '"0"'}))).status_code == 409
        assert await revoke_key(pool, "soon-revoked")
        response = await _post(client, RENAME, _auth(token))
    elif case in {"reader-writes", "auditor-writes", "admin-writes"}:
        role = case.split("-")[0]
        response = await _post(client, RENAME, _auth(tokens[role]))
    elif case == "unknown-dialogue":
        response = await _post(client, c.RenameDialogue(dialogue_id=UNKNOWN, name="X"), writer)
    elif case == "stale-if-match":
        response = await _post(client, CORRECT, {**writer, "If-Match": '"1"'})
    elif case == "relaunch":
        launch = c.LaunchDialogue(dialogue_id=D, charter=b.charter(cadence="annual"))
        response = await _post(client, launch, writer)
    elif case == "too-large":
        big = {**body_of(RENAME), "name": "x" * (257 * 1024)}
        response = await _post(client, RENAME, writer, json=big)
    elif case == "session-not-held":
        adopt = c.AdoptOutcome(dialogue_id=D, session_id=S, outcome_id=IDS["o1"], terms=b.terms())
        response = await _post(client, adopt, writer)
    elif case == "unknown-party":
        body = body_of(c.LaunchDialogue(dialogue_id=IDS["d2"], charter=b.charter()))
        body["charter"]["parties"] = ["KZ", "XX"]
        response = await client.post("/dialogues", json=body, headers=writer)
    elif case == "bad-enum":
        body = body_of(c.LaunchDialogue(dialogue_id=IDS["d2"], charter=b.charter()))
        body["charter"]["cadence"] = "weekly"
        response = await client.post("/dialogues", json=body, headers=writer)
    elif case == "path-body-mismatch":
        response = await client.post(
            f"/dialogues/{UNKNOWN}/rename", json=body_of(RENAME), headers=writer
        )
    elif case == "too-long-string":
        long = {**body_of(RENAME), "name": "x" * 20_001}
        response = await _post(client, RENAME, writer, json=long)
    elif case == "correction-without-if-match":
        response = await _post(client, CORRECT, writer)
    else:  # pragma: no cover
        raise AssertionError(case)
    assert_problem(response, status, kind)
    assert await event_count(pool) == before
    check = await client.get(f"/dialogues/{D}", headers=_auth(tokens["reader"]))
    assert check.headers["etag"] == current


async def test_stale_if_match_names_the_current_version(client, tokens, dialogue):
    response = await _post(client, CORRECT, _auth(tokens["writer"], **{"If-Match": '"1"'}))
    problem = assert_problem(response, 409, "conflict")
    assert problem["current_version"] == dialogue["version"]


@pytest.mark.parametrize(
    ("url", "role", "status", "kind"),
    [
        ("/events?cursor=not-a-cursor", "reader", 400, "invalid-cursor"),
        ("/relationships/KZ-US/history?cursor=garbage", "auditor", 400, "invalid-cursor"),
        ("/relationships/KZ-US/history?cursor=%%%", "auditor", 400, None),
        ("/events?limit=0", "reader", 400, None),
        ("/events?limit=abc", "reader", 400, None),
        ("/events?limit=2.0", "reader", 400, None),  # an integer only by lax conversion
        ("/transparency/checkpoint?at_least=0", "auditor", 400, None),  # as documented
        (f"/sessions?after_position={BEYOND_HEAD}", "reader", 400, "invalid-cursor"),
        (f"/relationships/KZ-US/history?after_position={BEYOND_HEAD}", "auditor", 400, None),
        ("/transparency/checkpoint?position=-1", "auditor", 400, None),
        ("/transparency/inclusion?position=1&tree_size=0", "auditor", 400, None),
        ("/streams/dialogue-x/events?after_version=1e0", "auditor", 400, None),
        ("/relationships/KZ-US/history?limit=5.0", "auditor", 400, None),
        ("/relationships/KZ-US/bundle?known_size=2&known_size=3.0", "auditor", 400, None),
        (f"/dialogues/{UNKNOWN}", "reader", 404, "not-found"),
        ("/dialogues/not-a-uuid", "reader", 404, None),
        (f"/visits/{UNKNOWN}", "reader", 404, "not-found"),
        (f"/dialogues/{D}?as_of=2020-01-01T00:00:00", "reader", 400, None),
        (f"/dialogues/{D}?as_of=garbage", "reader", 400, None),
        (f"/dialogues/{D}?valid_at=2020-13-45", "reader", 400, None),
        (f"/dialogues/{D}?as_of=2000-01-01T00:00:00Z", "reader", 404, "not-found"),
        ("/relationships/KZ/history", "auditor", 400, None),
        ("/relationships/KZ-XX", "reader", 422, None),
        ("/relationships/KZ-KZ", "reader", 422, "invalid-value"),
        ("/relationships/kz-KZ/history", "auditor", 422, "invalid-value"),
        ("/relationships/KZ-KZ/bundle", "auditor", 422, "invalid-value"),
        ("/streams/dialogue-x/events?after_version=-1", "auditor", 400, None),
        ("/nowhere", "reader", 404, None),
        ("/verify?stream_id=dialogue-nosuch", "auditor", 404, "not-found"),
        # a range given backwards is a mistake, not a question whose answer is "nothing"
        ("/sessions?from=2022-05-01&to=2022-01-01", "reader", 422, "invalid-value"),
        ("/calendar?from=2022-05-01&to=2022-01-01", "reader", 422, "invalid-value"),
        (
            "/subscriptions/" + str(UNKNOWN) + "/deliveries?before=9223372036854775808",
            "admin",
            400,
            None,
        ),
        ("/reports/activity?year_from=" + "9" * 50, "reader", 400, None),
        ("/reports/activity?year_from=2024&year_to=2020", "reader", 422, None),
        (
            "/relationships/KZ-US/history?recorded_from=2024-01-01T00:00:00Z"
            "&recorded_until=2020-01-01T00:00:00Z",
            "auditor",
            422,
            "invalid-value",
        ),
    ],
)
async def test_bad_reads_are_problems(client, tokens, dialogue, url, role, status, kind):
    response = await client.get(url, headers=_auth(tokens[role]))
    assert_problem(response, status, kind)


async def test_unknown_method_is_a_problem(client, tokens, dialogue):
    response = await client.put(f"/dialogues/{D}", headers=_auth(tokens["writer"]))
    assert_problem(response, 405)


async def test_admin_errors(client, tokens, pool):
    admin = _auth(tokens["admin"])
    bad = await client.post("/keys", json={"name": "bad name!", "roles": ["reader"]}, headers=admin)
    assert_problem(bad, 422, "invalid-value")
    ok = await client.post("/keys", json={"name": "dup", "roles": ["reader"]}, headers=admin)
    assert ok.status_code == 201, ok.text
    again = await client.post("/keys", json={"name": "dup", "roles": ["reader"]}, headers=admin)
    assert_problem(again, 409, "already-exists")
    assert_problem(await client.delete("/keys/nobody", headers=admin), 404, "not-found")
    token = ok.json()["token"]
    assert (await client.get("/events", headers=_auth(token))).status_code == 200
    assert (await client.delete("/keys/dup", headers=admin)).status_code == 204
    assert_problem(await client.get("/events", headers=_auth(token)), 401, "unauthenticated")


@pytest.mark.parametrize(
    ("url", "role"),
    [
        ("/streams/dialogue-x/events?recorded_until=2020-01-01T00:00:00", "auditor"),
        ("/streams/dialogue-x/events?after_version=99999999999999999999", "auditor"),
        ("/streams/dialogue-x/events?after_version=9223372036854775806", "auditor"),
        ("/relationships/KZ-US/history?recorded_from=2020-01-01T00:00:00", "auditor"),
        ("/relationships/KZ-US/history?limit=99999999999999999999", "auditor"),
        ("/relationships/KZ-US/history?cursor=" + "A" * 5000, "auditor"),
        ("/events?limit=99999999999999999999", "reader"),
        ("/events?stream_prefix=%00", "reader"),
        ("/streams/%00/events", "auditor"),
        ("/verify?stream_id=%00", "auditor"),
        (f"/dialogues/{D}?as_of=9999-12-31T23:59:59Z", "reader"),
        (f"/dialogues/{D}?as_of=0001-01-01T00:00:00Z", "reader"),
        (f"/dialogues/{D}?valid_at=0001-01-01", "reader"),
        (f"/dialogues/{D}?as_of=9999-12-31T23:00:00-05:00", "reader"),
        ("/streams/dialogue-x/events?recorded_until=9999-12-31T23:00:00-05:00", "auditor"),
        ("/relationships/KZ-US/history?recorded_until=9999-12-31T23:00:00-05:00", "auditor"),
        (f"/events?cursor={HUGE_CURSOR}", "reader"),
        (f"/relationships/KZ-US/history?cursor={HUGE_CURSOR}", "auditor"),
        (f"/dialogues?after_position={HUGE_CURSOR}", "reader"),
        ("/dialogues?status=%00", "reader"),
        ("/dialogues?name=%00", "reader"),
        ("/dialogues?name=" + "x" * 5000, "reader"),
        ("/sessions?topic=%00", "reader"),
        ("/outcomes?framework=%00", "reader"),
        ("/outcomes?kind=%00", "reader"),
        (f"/dialogues?cursor={_listing_cursor(['dialogues', 'x', 5])}", "reader"),
        (f"/dialogues?cursor={_listing_cursor(['dialogues', 5, 'x'])}", "reader"),
        (
            f"/relationships/KZ-US/timeline?cursor={_listing_cursor(['timeline', 'x', 10**30])}",
            "reader",
        ),
        ("/reports/activity?year_from=99999999999", "reader"),
    ],
)
async def test_hostile_reads_never_fail_on_our_side(client, tokens, dialogue, url, role):
    response = await client.get(url, headers=_auth(tokens[role]))
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"null",
        b'"text"',
        b'{"dialogue_id": "not-a-uuid", "name": "x"}',
        b'{"dialogue_id": null}',
        b"\xff\xfe",
        b'{"dialogue_id": "' + str(D).encode() + b'", "name": "x", "effective": {"x": 1}}',
    ],
)
async def test_hostile_bodies_are_400_or_422(client, tokens, pool, dialogue, body):
    before = await event_count(pool)
    response = await client.post(
        f"/dialogues/{D}/rename",
        content=body,
        headers=_auth(tokens["writer"], **{"Content-Type": "application/json"}),
    )
    assert response.status_code in {400, 422}, response.text
    assert_problem(response, response.status_code)
    assert await event_count(pool) == before


async def test_a_nul_character_in_a_body_is_refused(client, tokens, pool, dialogue):
    before = await event_count(pool)
    body = {**body_of(RENAME), "name": "bad\x00name"}
    response = await _post(client, RENAME, _auth(tokens["writer"]), json=body)
    assert_problem(response, 422, "invalid-value")
    assert await event_count(pool) == before


@pytest.mark.parametrize(
    "authorization",
    ["Bearer " + "x" * 10_000, "Bearer", "Bearer  ", "bearer \x7f", "Bearer a.b.c"],
)
async def test_hostile_keys_are_401(client, authorization):
    response = await client.get("/events", headers={"Authorization": authorization})
    assert_problem(response, 401, "unauthenticated")


async def test_a_calendar_token_with_a_nul_is_401(client):
    response = await client.get("/calendar.ics", params={"token": "cal_\x00_x"})
    assert_problem(response, 401, "unauthenticated")


async def test_revoking_a_key_named_with_a_nul_is_400(client, tokens):
    response = await client.delete("/keys/%00", headers=_auth(tokens["admin"]))
    assert_problem(response, 400)


async def test_a_huge_if_match_is_a_conflict_not_a_crash(client, tokens, dialogue):
    headers = _auth(tokens["writer"], **{"If-Match": '"999999999999999999"'})
    assert_problem(await _post(client, CORRECT, headers), 409, "conflict")


# ------------------------------------------------ inputs that used to end in a 500

DEEP = b"[" * 990 + b"]" * 990
"""Under 2 KB; msgspec recursed once per bracket and overflowed Python's stack."""


async def _register_state(pool: Any) -> tuple[int, int, int, int]:
    """What a refused request must not change: events, keys, schedules, export runs."""
    return (
        await event_count(pool),
        int(await pool.fetchval("SELECT count(*) FROM access.api_keys")),
        int(await pool.fetchval("SELECT count(*) FROM exports.schedules")),
        int(await pool.fetchval("SELECT count(*) FROM exports.runs")),
    )


def _body_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route that decodes a JSON body, path parameters filled in."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "data" not in handler.parsed_fn_signature.parameters:
                continue
            path = route.path.replace("{pair:str}", "KZ-US")
            for name in ("dialogue_id", "session_id", "outcome_id", "progress_id", "visit_id"):
                path = path.replace(f"{{{name}:uuid}}", str(UNKNOWN))
            for name in ("indicator_id", "milestone_id", "schedule_id", "subscription_id"):
                path = path.replace(f"{{{name}:uuid}}", str(UNKNOWN))
            assert "{" not in path, path
            found += [(method, path) for method in handler.http_methods]
    return sorted(found)


async def test_a_deeply_nested_body_is_a_400_on_every_json_route(client, tokens, pool, dialogue):
    routes = _body_routes(client.app)
    assert len(routes) > 40 and ("PUT", f"/schedules/{UNKNOWN}") in routes
    before = await _register_state(pool)
    headers = _auth(tokens["all"], **{"Content-Type": "application/json"})
    for method, path in routes:
        response = await client.request(method, path, content=DEEP, headers=headers)
        problem = assert_problem(response, 400, "invalid-request")
        assert "32" in problem["detail"], (method, path, problem)
    assert await _register_state(pool) == before


FORGED_CURSORS: dict[str, list[object]] = {
    "null-key-and-id": ["dialogues", None, None],
    "null-id": ["dialogues", "Name", None],
    "nul-in-key": ["dialogues", "Na\x00me", str(UNKNOWN)],
    "nul-in-id": ["dialogues", "Name", "x\x00"],
    "huge-int-key": ["dialogues", 10**30, str(UNKNOWN)],
    "object-key": ["dialogues", {"a": 1}, str(UNKNOWN)],
    "list-id": ["dialogues", "Name", [1]],
    "float-key": ["dialogues", 1.5, str(UNKNOWN)],
    "bool-key": ["dialogues", True, str(UNKNOWN)],
    "other-listing": ["sessions", None, str(UNKNOWN)],
    "two-parts": ["dialogues", "Name"],
}


DEEP_CURSOR = base64.urlsafe_b64encode(b"[" * 1500 + b"]" * 1500).decode().rstrip("=")


@pytest.mark.parametrize(
    "url",
    [
        "/dialogues",
        "/sessions",
        "/outcomes",
        "/visits",
        "/indicators",
        "/relationships/KZ-US/timeline",
    ],
)
@pytest.mark.parametrize("token", [DEEP_CURSOR, "A" * 60_000], ids=["deep", "long"])
async def test_deeply_nested_or_huge_listing_cursors_are_400(client, tokens, url, token):
    response = await client.get(url, params={"cursor": token}, headers=_auth(tokens["reader"]))
    assert_problem(response, 400, "invalid-cursor")


@pytest.mark.parametrize("forged", list(FORGED_CURSORS), ids=list(FORGED_CURSORS))
async def test_forged_listing_cursors_are_400(client, tokens, pool, dialogue, forged):
    before = await _register_state(pool)
    cursor = _listing_cursor(FORGED_CURSORS[forged])
    response = await client.get(
        "/dialogues", params={"cursor": cursor}, headers=_auth(tokens["reader"])
    )
    assert_problem(response, 400, "invalid-cursor")
    assert await _register_state(pool) == before


@pytest.mark.parametrize(
    ("url", "role"),
    [
        ("/relationships/KZ-US/timeline", "reader"),
        ("/sessions", "reader"),
        ("/visits", "reader"),
    ],
)
@pytest.mark.parametrize("forged", [[None, None], ["x\x00", "1"], [10**30, "1"], [1, "x\x00"]])
async def test_forged_cursors_on_other_listings_are_400(client, tokens, url, role, forged):
    listing = url.rsplit("/", 1)[1]
    cursor = _listing_cursor([listing, *forged])
    response = await client.get(url, params={"cursor": cursor}, headers=_auth(tokens[role]))
    assert_problem(response, 400, "invalid-cursor")


@pytest.mark.parametrize(
    ("url", "role"),
    [("/events", "reader"), ("/relationships/KZ-US/history", "auditor")],
)
@pytest.mark.parametrize(
    "token",
    [
        HUGE_CURSOR,
        BEYOND_HEAD,
        base64.urlsafe_b64encode(b"1.\x00.1").decode(),
        base64.urlsafe_b64encode(b"1.null.1").decode(),
        base64.urlsafe_b64encode(b"1.-1.1").decode(),
        base64.urlsafe_b64encode(b"2.1.1").decode(),
        base64.urlsafe_b64encode(b"1. 1.1").decode(),
        base64.urlsafe_b64encode("1.\u0661.1".encode()).decode(),  # an Arabic-Indic one
        base64.urlsafe_b64encode(b"1.+1.01").decode(),
    ],
)
async def test_forged_log_cursors_are_400(client, tokens, url, role, token):
    response = await client.get(url, params={"cursor": token}, headers=_auth(tokens[role]))
    assert_problem(response, 400, "invalid-cursor")


LIMITED = [
    ("/events", "reader", 1000),
    ("/streams/dialogue-x/events", "auditor", 1000),
    ("/relationships/KZ-US/history", "auditor", 1000),
    ("/dialogues", "reader", 500),
    ("/sessions", "reader", 500),
    ("/outcomes", "reader", 500),
    ("/visits", "reader", 500),
    ("/indicators", "reader", 500),
    ("/relationships/KZ-US/timeline", "reader", 500),
    ("/exports", "reader", 500),
]


@pytest.mark.parametrize(("url", "role", "most"), LIMITED, ids=[u for u, _, _ in LIMITED])
async def test_a_limit_out_of_range_is_a_400_not_clamped(client, tokens, dialogue, url, role, most):
    headers = _auth(tokens[role])
    for limit in (0, -1, most + 1):
        response = await client.get(url, params={"limit": limit}, headers=headers)
        assert_problem(response, 400, "invalid-request")
    assert (await client.get(url, params={"limit": most}, headers=headers)).status_code == 200


@pytest.mark.parametrize("value", ["0.5", "1e3", "-1", "1700000000"])
async def test_a_number_is_not_a_timestamp(client, tokens, dialogue, value):
    for url, role in (
        (f"/dialogues/{D}?as_of={value}", "reader"),
        (f"/streams/dialogue-{D}/events?recorded_until={value}", "auditor"),
        (f"/relationships/KZ-US/history?recorded_from={value}", "auditor"),
    ):
        response = await client.get(url, headers=_auth(tokens[role]))
        assert_problem(response, 400, "invalid-request")


def _served_methods(app: Any) -> dict[str, set[str]]:
    return {
        route.path: set(route.methods)
        for route in app.routes
        if getattr(route, "route_handlers", None) and not route.path.startswith("/docs")
    }


async def test_options_names_every_method_of_the_path(client, dialogue):
    served = _served_methods(client.app)
    assert served["/dialogues"] == {"GET", "POST", "OPTIONS"}
    for path, methods in served.items():
        concrete = re.sub(r"\{pair:str\}", "KZ-US", path)
        concrete = re.sub(r"\{\w+:uuid\}", str(UNKNOWN), concrete)
        concrete = re.sub(r"\{\w+:str\}", "x", concrete)
        response = await client.options(concrete)
        assert response.status_code == 204, (path, response.text)
        allow = {m.strip() for m in response.headers["allow"].split(",")}
        assert allow == methods, path


async def test_an_unsupported_method_is_a_405_with_allow(client, tokens, dialogue):
    for method in ("TRACE", "PATCH", "PUT"):
        response = await client.request(method, "/dialogues", headers=_auth(tokens["all"]))
        assert_problem(response, 405, "method-not-allowed")
        allow = {m.strip() for m in response.headers["allow"].split(",")}
        assert allow == {"GET", "POST", "OPTIONS"}, method


SCHEDULE = {
    "cron": "0 8 * * 1",
    "timezone": "UTC",
    "report": "visits",
    "format": "csv",
}


async def test_renaming_a_schedule_to_a_taken_name_is_a_409(client, tokens, pool):
    admin = _auth(tokens["admin"])
    first = await client.post(
        "/schedules", headers=admin, json={**SCHEDULE, "name": "first", "destination": "a"}
    )
    second = await client.post(
        "/schedules", headers=admin, json={**SCHEDULE, "name": "second", "destination": "b"}
    )
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    url = f"/schedules/{second.json()['schedule_id']}"
    before = await _register_state(pool)
    rename = await client.put(
        url, headers=admin, json={**SCHEDULE, "name": "first", "destination": "b"}
    )
    assert_problem(rename, 409, "already-exists")
    assert (await client.get(url, headers=admin)).json() == second.json()
    assert await _register_state(pool) == before
    again = await client.post(
        "/schedules", headers=admin, json={**SCHEDULE, "name": "first", "destination": "c"}
    )
    assert_problem(again, 409, "already-exists")
    assert await _register_state(pool) == before


async def test_a_schedule_shows_its_upcoming_runs_across_daylight_saving(client, tokens):
    admin = _auth(tokens["admin"])
    created = await client.post(
        "/schedules",
        headers=admin,
        json={
            **SCHEDULE,
            "cron": "0 9 * * *",
            "timezone": "Europe/Berlin",
            "name": "daily-berlin",
            "destination": "berlin",
        },
    )
    assert created.status_code == 201, created.text
    url = f"/schedules/{created.json()['schedule_id']}"
    found = await client.get(url, params={"upcoming": 3}, headers=admin)
    assert found.status_code == 200, found.text
    runs = [dt.datetime.fromisoformat(r) for r in found.json()["upcoming"]]
    assert len(runs) == 3 and runs == sorted(runs)
    assert runs[0] == dt.datetime.fromisoformat(found.json()["next_run_at"])
    berlin = ZoneInfo("Europe/Berlin")
    assert {r.astimezone(berlin).hour for r in runs} == {9}
    assert (await client.get(url, params={"upcoming": 101}, headers=admin)).status_code == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retention", "8"),
        ("retention", 8.0),
        ("paused", "true"),
        ("paused", 1),
        ("parameters", {"year_from": "2020"}),
        ("parameters", {"as_of": "null"}),
    ],
)
async def test_a_body_that_fits_only_by_coercion_is_a_400(client, tokens, pool, field, value):
    """Litestar converts bodies in lax mode; the document says integer, boolean, null."""
    admin = _auth(tokens["admin"])
    spec = {**SCHEDULE, "name": "strict", "destination": "strict", "retention": 3}
    created = await client.post("/schedules", headers=admin, json=spec)
    assert created.status_code == 201, created.text
    url = f"/schedules/{created.json()['schedule_id']}"
    before = await _register_state(pool)
    replaced = await client.put(url, headers=admin, json={**spec, field: value})
    problem = assert_problem(replaced, 400, "invalid-request")
    assert field in problem["detail"] or "year_from" in problem["detail"], problem
    added = await client.post("/schedules", headers=admin, json={**spec, "name": "x", field: value})
    assert_problem(added, 400, "invalid-request")
    assert (await client.get(url, headers=admin)).json() == created.json()
    assert await _register_state(pool) == before
    await client.delete(url, headers=admin)


def test_coercion_is_told_apart_from_a_body_that_does_not_fit_at_all():
    from api.request_checks import strictly
    from domain.facts import Assessment

    fits = b'{"party": "KZ", "score": 1, "rationale": "Held", "assessor": "G20 RG"}'
    coerced = fits.replace(b'"score": 1', b'"score": "1"')
    unfit = fits.replace(b'"score": 1', b'"score": "high"')
    assert strictly(fits, Assessment)[1] is None
    assert isinstance(strictly(fits, Assessment)[0], Assessment)
    assert "score" in (strictly(coerced, Assessment)[1] or "")
    assert strictly(unfit, Assessment) == (None, None)  # the handler refuses it as before


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/nope", 404),
        ("DELETE", f"/dialogues/{UNKNOWN}", 405),
        ("POST", "/dialogues/not-a-uuid/rename", 404),
        ("GET", "/streams/a%2Fb/events", 404),
    ],
)
async def test_requests_the_router_refuses_are_named_problems_too(
    client, tokens, method, url, status
):
    """No route, so none of the routes' middleware: still a request id, in body and header,
    and the caller's own when it sent a sane one."""
    response = await client.request(method, url, headers=_auth(tokens["writer"]))
    problem = assert_problem(response, status, None)
    assert problem["request_id"] == response.headers["x-request-id"]
    assert problem["detail"] not in ("Not Found", "Method Not Allowed")
    if status == 405:
        assert "GET" in problem["detail"] and "others" not in problem["detail"]
    mine = await client.request(
        method, url, headers={**_auth(tokens["writer"]), "X-Request-ID": "probe-42"}
    )
    assert mine.headers["x-request-id"] == "probe-42" == mine.json()["request_id"]


@pytest.mark.parametrize(
    ("url", "role", "named"),
    [
        ("/sessions?stauts=held", "reader", "stauts"),
        ("/dialogues?status=active&party=KZ&colour=red", "reader", "colour"),
        (f"/dialogues/{D}?valid_on=2022-01-01", "reader", "valid_on"),
        ("/events?limit=5&offset=10", "reader", "offset"),
        ("/transparency/key?x=1", "auditor", "x"),
        ("/projections?verbose=true", "admin", "verbose"),
    ],
)
async def test_a_query_parameter_the_route_does_not_take_is_refused(
    client, tokens, dialogue, url, role, named
):
    response = await client.get(url, headers=_auth(tokens[role]))
    problem = assert_problem(response, 400, "unknown-parameter")
    assert named in problem["detail"], problem


async def test_a_command_with_an_unknown_query_parameter_writes_nothing(
    client, tokens, pool, dialogue
):
    before = await event_count(pool)
    response = await client.post(
        f"/dialogues/{D}/rename?dry_run=true",
        json={"dialogue_id": str(D), "name": "Renamed only if dry_run were known"},
        headers=_auth(tokens["writer"]),
    )
    assert_problem(response, 400, "unknown-parameter")
    assert await event_count(pool) == before


@pytest.mark.parametrize(
    "url",
    ["/dialogues?status=bogus", "/sessions?status=done", "/outcomes?kind=treaty"],
)
async def test_a_filter_value_outside_its_vocabulary_is_refused(client, tokens, url):
    response = await client.get(url, headers=_auth(tokens["reader"]))
    assert_problem(response, 400)


@pytest.mark.parametrize("reads", ["read_models", "log"])
async def test_a_position_never_issued_is_refused_before_any_wait(pool, reads):
    """Were the wait first, a forged token would hold a connection for the whole wait:
    with a wait of an hour, only a refusal made before waiting answers within a minute."""
    store = EventStore(pool)
    freshness = ReadYourWrites(pool, store, None, 3600.0, primary=store)
    with pytest.raises(InvalidCursor):  # answered as a 400 invalid-cursor (test above)
        await asyncio.wait_for(getattr(freshness, reads)(BEYOND_HEAD), timeout=60)


@pytest.mark.parametrize(
    "if_match", ['"02"', "02", '"2', '2"', "*", '"1", "2"', '"2" "2"', " ", '""']
)
async def test_an_if_match_the_server_never_issued_is_refused(
    client, tokens, pool, dialogue, if_match
):
    """Only the forms a GET sends (`"2"`, or bare `2`) name a version; `"02"` is another
    entity tag, which a strong comparison never matches with `"2"`."""
    before = await event_count(pool)
    response = await _post(client, RENAME, _auth(tokens["writer"], **{"If-Match": if_match}))
    assert_problem(response, 400)
    assert await event_count(pool) == before


async def test_json_in_another_charset_is_415_and_writes_nothing(client, tokens, pool, dialogue):
    before = await event_count(pool)
    response = await client.post(
        f"/dialogues/{D}/rename",
        content=f'{{"dialogue_id": "{D}", "name": "Caf\xe9"}}'.encode("latin-1"),
        headers=_auth(tokens["writer"], **{"Content-Type": "application/json; charset=latin-1"}),
    )
    assert "latin-1" in assert_problem(response, 415, "unsupported-media-type")["detail"]
    assert await event_count(pool) == before


async def test_a_body_on_a_route_that_takes_none_is_refused(client, tokens):
    reader = _auth(tokens["reader"])
    made = await client.post("/calendar/tokens", json={"name": "body test"}, headers=reader)
    assert made.status_code == 201, made.text
    gone = f"/calendar/tokens/{made.json()['calendar_token']['token_id']}"
    refused = await client.request(
        "DELETE", gone, content=b"x" * 300_000, headers={**reader, "Content-Type": "text/plain"}
    )
    assert_problem(refused, 400)
    assert (await client.delete(gone, headers=reader)).status_code == 204  # still there


@pytest.mark.parametrize(
    "url",
    [
        f"/dialogues/{D}?as_of=2022-01-01T00:00:00Z&as_of=2030-01-01T00:00:00Z",
        "/sessions?party=KZ&party=US",
        "/events?limit=5&limit=6",
    ],
)
async def test_a_single_valued_parameter_given_twice_is_refused(client, tokens, dialogue, url):
    problem = assert_problem(await client.get(url, headers=_auth(tokens["reader"])), 400)
    assert "2 times" in problem["detail"]


async def test_a_parameter_that_takes_a_list_may_repeat(client, tokens):
    url = "/relationships/KZ-US/bundle?known_size=1&known_size=2"
    assert (await client.get(url, headers=_auth(tokens["auditor"]))).status_code != 400


async def test_a_401_names_the_scheme_that_would_succeed(client):
    response = await client.get("/dialogues")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="entente"'


async def test_a_command_without_a_body_says_so_in_words(client, tokens, pool, dialogue):
    before = await event_count(pool)
    response = await client.post(f"/dialogues/{D}/rename", headers=_auth(tokens["writer"]))
    problem = assert_problem(response, 400)
    assert [e["message"] for e in problem["errors"]] == ["a JSON body is required"]
    assert await event_count(pool) == before


@pytest.mark.parametrize(
    "spelling",
    [
        lambda u: u.hex,
        lambda u: "{" + str(u) + "}",
        lambda u: "%7B" + str(u) + "%7D",
        lambda u: "urn:uuid:" + str(u),
    ],
)
async def test_a_path_id_is_one_spelling_of_its_uuid(client, tokens, dialogue, spelling):
    reader = _auth(tokens["reader"])
    assert (await client.get(f"/dialogues/{D}", headers=reader)).status_code == 200
    assert (await client.get(f"/dialogues/{str(D).upper()}", headers=reader)).status_code == 200
    assert_problem(await client.get(f"/dialogues/{spelling(D)}", headers=reader), 404)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/keys", {"name": "probe-nl\n", "roles": ["reader"]}),
        ("/calendar/tokens", {"name": "phone\n"}),
        (
            "/subscriptions",
            {"target_url": "https://1.1.1.1/hook", "filters": {"stream_prefix": "dialogue-\n"}},
        ),
    ],
)
async def test_a_value_with_a_trailing_newline_is_refused(client, tokens, path, body):
    """Python's `$` matches before a final newline: each pattern is held to the whole value."""
    response = await client.post(path, json=body, headers=_auth(tokens["all"]))
    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)


async def test_an_integer_of_thousands_of_digits_is_refused_without_echoing_it(client, tokens):
    url = "/transparency/checkpoint?at_least=" + "9" * 5000
    problem = assert_problem(await client.get(url, headers=_auth(tokens["auditor"])), 400)
    assert "at_least" in problem["detail"] and len(problem["detail"]) < 200


async def test_a_body_error_lists_only_what_is_wrong(client, tokens, dialogue):
    response = await client.post(
        f"/dialogues/{D}/rename",
        json={"dialogue_id": str(D), "name": 1},
        headers=_auth(tokens["writer"]),
    )
    problem = assert_problem(response, 400)
    assert [e.get("source") for e in problem["errors"]] == ["body"], problem
