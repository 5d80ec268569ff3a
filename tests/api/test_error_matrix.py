"""Every route and every error class it can meet: the right problem, and no event written.

Command routes are found from the app (as in command_scenario.py), each paired with the command the
scenario sends to it; the scenario is run once for the module with the `all` key, so every
stream a command addresses exists and has a known version. Each case then sends one
refused request and checks the status, the problem `type` and that the event log did not
grow. Read and admin routes are checked for 400 (every typed query parameter given a bad
value), 401, 403 and, where an id is in the path, 404.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import pytest_asyncio
from litestar.handlers import HTTPRouteHandler

from api.app import create_app
from api.auth import PERMISSIONS, PUBLIC
from domain.streams import stream_id_for
from tests.api.command_scenario import Driver, body_of, command_paths, event_count, scenario
from tests.api.conftest import auth
from tests.api.test_errors import assert_problem
from tests.api.test_roles import ROUTES, _fill

APP = create_app("postgresql://unused/unused")
HANDLERS: dict[tuple[str, str], HTTPRouteHandler] = {
    (method, route.path): handler
    for route in APP.routes
    for handler in getattr(route, "route_handlers", [])
    if isinstance(handler, HTTPRouteHandler)
    for method in handler.http_methods
}
PATHS = command_paths(APP)
# The first command of each kind the scenario sends, i.e. one per command route.
COMMANDS: dict[str, Any] = {}
for _command in scenario("matrix"):
    COMMANDS.setdefault(type(_command).__name__, _command)
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000beef")
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def _handler(name: str) -> HTTPRouteHandler:
    return HANDLERS[("POST", PATHS[name])]


def if_match_required(name: str) -> bool:
    return bool(_handler(name).opt["if_match"] == "required")


def fill(template: str, body: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        return "-".join(body["parties"]) if key == "pair" else str(body[key])

    return _PARAM.sub(value, template)


def addressed_id(body: dict[str, Any]) -> str:
    """The id naming the record a command changes: the fact within a pair, else the stream."""
    for key in ("indicator_id", "milestone_id", "dialogue_id", "visit_id"):
        if key in body:
            return key
    raise AssertionError(body)


_PARTY_KEYS = {"party", "host", "country"}


def refuse_a_value(body: Any) -> bool:
    """Put the unknown party "XX" somewhere in `body`; False when it names no party."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in _PARTY_KEYS and isinstance(value, str):
                body[key] = "XX"
                return True
            if key in {"parties", "responsible"} and isinstance(value, list) and value:
                body[key] = [*value[:-1], "XX"]
                return True
            if refuse_a_value(value):
                return True
    if isinstance(body, list):
        return any(refuse_a_value(item) for item in body)
    return False


CHECKS = {
    "malformed-json": (400, "invalid-request"),
    "no-key": (401, "unauthenticated"),
    "reader-key": (403, "forbidden"),
    "auditor-key": (403, "forbidden"),
    "unknown-record": (404, "not-found"),
    "stale-if-match": (409, "conflict"),
    "too-large": (413, "too-large"),
    "refused-value": (422, None),
    "path-body-mismatch": (422, "path-body-mismatch"),
    "missing-if-match": (428, "precondition-required"),
}


def applies(check: str, name: str) -> bool:
    if check == "unknown-record":  # wherever the route documents a 404
        return 404 in (_handler(name).responses or {})
    if check == "path-body-mismatch":
        return bool(_PARAM.search(PATHS[name]))
    if check == "missing-if-match":
        return if_match_required(name)
    return True


COMMAND_CASES = [
    (name, check) for name in sorted(COMMANDS) for check in CHECKS if applies(check, name)
]


def test_every_command_route_is_in_the_matrix() -> None:
    assert set(COMMANDS) == set(PATHS)
    assert len(PATHS) == 41
    assert {name for name, _ in COMMAND_CASES} == set(PATHS)
    required = {n for n in PATHS if if_match_required(n)}
    assert required == {n for n in PATHS if n.startswith(("Correct", "Retract"))}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def prepared(client: Any, tokens: dict[str, str]) -> dict[str, int]:
    """The whole scenario, once: stream id → its version afterwards (every one is > 1)."""
    driver = Driver(client, tokens["all"])
    for command in scenario("matrix"):
        response = await driver.send(command)
        assert response.status_code < 300, (type(command).__name__, response.text)
    assert all(version > 1 for version in driver.versions.values()), driver.versions
    return driver.versions


@pytest.mark.parametrize(
    ("name", "check"), COMMAND_CASES, ids=[f"{n}-{c}" for n, c in COMMAND_CASES]
)
async def test_a_refused_command_is_a_problem_and_writes_nothing(
    client: Any,
    tokens: dict[str, str],
    pool: Any,
    prepared: dict[str, int],
    name: str,
    check: str,
) -> None:
    command = COMMANDS[name]
    body: dict[str, Any] = body_of(command)
    template = PATHS[name]
    version = prepared[stream_id_for(command)]
    # Every check but the ones about If-Match itself sends the current version, so that a
    # correction is refused for the reason under test and not for a missing precondition.
    headers = auth(tokens["writer"], **{"If-Match": f'"{version}"'})
    path = fill(template, body)
    kwargs: dict[str, Any] = {"json": body}
    status, kind = CHECKS[check]
    if check == "malformed-json":
        kwargs = {"content": b'{"oops'}
        headers["Content-Type"] = "application/json"
    elif check == "no-key":
        del headers["Authorization"]
    elif check in {"reader-key", "auditor-key"}:
        headers["Authorization"] = f"Bearer {tokens[check.split('-')[0]]}"
    elif check == "unknown-record":
        key = addressed_id(body)
        body[key] = str(UNKNOWN)
        path = fill(template, body)
        if if_match_required(name):
            # The version the caller would have seen: 0 for a stream that does not exist,
            # the pair's own version for an unknown fact within it; so the domain answers.
            if key in {"dialogue_id", "visit_id"}:
                headers["If-Match"] = '"0"'
        else:
            del headers["If-Match"]
    elif check == "stale-if-match":
        headers["If-Match"] = f'"{version - 1}"'
    elif check == "too-large":
        kwargs = {"json": {**body, "padding": "x" * (257 * 1024)}}
    elif check == "refused-value":
        if not refuse_a_value(body):  # no party named: an id that is no UUID instead
            body[addressed_id(body)] = "not-a-uuid"
    elif check == "path-body-mismatch":
        key = _PARAM.findall(template)[-1]
        mismatched = {**body, **({"parties": ["KZ", "RU"]} if key == "pair" else {key: UNKNOWN})}
        path = fill(template, mismatched)
    elif check == "missing-if-match":
        del headers["If-Match"]
    before = await event_count(pool)
    response = await client.post(path, headers=headers, **kwargs)
    problem = assert_problem(response, status, kind)
    if check == "refused-value":
        assert problem["type"] in {
            "urn:entente:problem:invalid-value",
            "urn:entente:problem:too-long",
        }, problem
    if check == "stale-if-match":
        assert problem["current_version"] == version
    assert await event_count(pool) == before, (name, check)


# --- read and admin routes -------------------------------------------------------------

OTHER_ROUTES = [r for r in ROUTES if r[3] not in {"write", PUBLIC}]
ALL_ROLES = ("reader", "writer", "auditor", "admin")
# Routes whose path names one thing: the status when that thing does not exist. Lists and
# histories over a pair or a stream that has nothing yet are empty pages, not 404s.
MISSING = {
    ("GET", "/dialogues/{dialogue_id:uuid}"): 404,
    ("GET", "/visits/{visit_id:uuid}"): 404,
    ("GET", "/sessions/{session_id:uuid}"): 404,
    ("GET", "/outcomes/{outcome_id:uuid}"): 404,
    ("GET", "/relationships/{pair:str}"): 404,
    ("GET", "/relationships/{pair:str}/history"): 200,
    ("GET", "/relationships/{pair:str}/timeline"): 200,
    ("GET", "/streams/{stream_id:str}/events"): 200,
    ("POST", "/projections/{name:str}/rebuild"): 404,
    ("DELETE", "/keys/{name:str}"): 404,
    ("GET", "/exports/{run_id:uuid}"): 404,
    ("GET", "/exports/{run_id:uuid}/file"): 404,
    ("GET", "/exports/{run_id:uuid}/manifest"): 404,
    ("GET", "/schedules/{schedule_id:uuid}"): 404,
    ("PUT", "/schedules/{schedule_id:uuid}"): 400,
    ("DELETE", "/schedules/{schedule_id:uuid}"): 404,
    ("DELETE", "/calendar/tokens/{token_id:str}"): 404,
    ("GET", "/subscriptions/{subscription_id:uuid}"): 404,
    ("PATCH", "/subscriptions/{subscription_id:uuid}"): 400,
    ("DELETE", "/subscriptions/{subscription_id:uuid}"): 404,
    ("POST", "/subscriptions/{subscription_id:uuid}/replay"): 400,
    ("GET", "/subscriptions/{subscription_id:uuid}/deliveries"): 404,
    ("GET", "/relationships/{pair:str}/bundle"): 404,
    ("GET", "/streams/{stream_id:str}/bundle"): 404,
}


def _missing_path(template: str) -> str:
    def value(match: re.Match[str]) -> str:
        return (
            "KZ-RU"
            if match.group(1) == "pair"
            else (str(UNKNOWN) if "uuid" in match.group(0) else "no-such-thing")
        )

    return _PARAM.sub(value, template)


def _bad_value(name: str, annotation: Any) -> str | None:
    text = repr(annotation)
    if name in {"cursor", "after_position"}:
        return "garbage"
    if name == "order":
        return "sideways"
    for marker, bad in (
        ("datetime.datetime", "yesterday"),
        ("datetime.date", "2020-13-45"),
        ("UUID", "not-a-uuid"),
        ("int", "abc"),
    ):
        if marker in text:
            return bad
    return None


def bad_queries(method: str, template: str) -> list[tuple[str, str]]:
    """(query parameter, bad value) for every parameter a bad value can be given."""
    handler = HANDLERS[(method, template)]
    found = []
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in {"request", "data"} or f"{{{name}" in template:
            continue
        alias = getattr(field.kwarg_definition, "query", None) or name
        bad = _bad_value(name, field.annotation)
        if bad is not None:
            found.append((alias, bad))
    if template == "/verify":
        found.append(("stream_id", "\x00"))
    return found


BAD_QUERY_CASES = [
    (method, template, param, bad)
    for method, template, _, _ in OTHER_ROUTES
    for param, bad in bad_queries(method, template)
]


def test_the_read_matrix_covers_every_route() -> None:
    with_path_ids = {(m, t) for m, t, _, _ in OTHER_ROUTES if _PARAM.search(t)}
    assert with_path_ids == set(MISSING), "say in MISSING what a new route answers for nothing"
    with_queries = {(m, t) for m, t, _, _ in BAD_QUERY_CASES}
    no_query = {(m, t) for m, t, _, _ in OTHER_ROUTES} - with_queries
    # Only these take no query parameter at all, so no bad query can reach them.
    assert no_query == {
        ("GET", "/keys"),
        ("GET", "/projections"),
        ("POST", "/keys"),
        ("DELETE", "/keys/{name:str}"),
        ("POST", "/projections/{name:str}/rebuild"),
        ("GET", "/reports/catalogue"),
        ("POST", "/exports"),
        ("GET", "/exports/{run_id:uuid}"),
        ("GET", "/exports/{run_id:uuid}/file"),
        ("GET", "/exports/{run_id:uuid}/manifest"),
        ("GET", "/schedules"),
        ("POST", "/schedules"),
        ("PUT", "/schedules/{schedule_id:uuid}"),
        ("DELETE", "/schedules/{schedule_id:uuid}"),
        ("GET", "/calendar/tokens"),
        ("POST", "/calendar/tokens"),
        ("DELETE", "/calendar/tokens/{token_id:str}"),
        ("GET", "/subscriptions"),
        ("POST", "/subscriptions"),
        ("GET", "/subscriptions/{subscription_id:uuid}"),
        ("PATCH", "/subscriptions/{subscription_id:uuid}"),
        ("DELETE", "/subscriptions/{subscription_id:uuid}"),
        ("POST", "/subscriptions/{subscription_id:uuid}/replay"),
        ("GET", "/transparency/key"),
    }


@pytest.mark.parametrize(
    ("method", "template", "param", "bad"),
    BAD_QUERY_CASES,
    ids=[f"{m} {t} {p}" for m, t, p, _ in BAD_QUERY_CASES],
)
async def test_a_bad_query_parameter_is_400(
    client: Any,
    tokens: dict[str, str],
    prepared: dict[str, int],
    method: str,
    template: str,
    param: str,
    bad: str,
) -> None:
    path = _fill(template)
    response = await client.request(method, path, params={param: bad}, headers=auth(tokens["all"]))
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("method", "template", "path", "permission"),
    OTHER_ROUTES,
    ids=[f"{r[0]} {r[1]}" for r in OTHER_ROUTES],
)
async def test_a_read_or_admin_route_refuses_no_key_and_the_wrong_role(
    client: Any,
    tokens: dict[str, str],
    pool: Any,
    method: str,
    template: str,
    path: str,
    permission: str,
) -> None:
    before = await event_count(pool)
    kwargs: dict[str, Any] = (
        {"json": {"name": "x", "roles": ["reader"]}} if method == "POST" else {}
    )
    assert_problem(await client.request(method, path, **kwargs), 401, "unauthenticated")
    wrong = [role for role in ALL_ROLES if role not in PERMISSIONS[permission]]
    assert wrong or permission == "subscribe"  # every key manages its own calendar tokens
    if wrong:
        response = await client.request(method, path, headers=auth(tokens[wrong[0]]), **kwargs)
        assert_problem(response, 403, "forbidden")
    assert await event_count(pool) == before


@pytest.mark.parametrize(
    ("method", "template"), sorted(MISSING), ids=[f"{m} {t}" for m, t in sorted(MISSING)]
)
async def test_a_path_naming_nothing_is_404_or_an_empty_page(
    client: Any, tokens: dict[str, str], prepared: dict[str, int], method: str, template: str
) -> None:
    response = await client.request(method, _missing_path(template), headers=auth(tokens["all"]))
    expected = MISSING[(method, template)]
    if expected == 404:
        assert_problem(response, 404, "not-found")
    elif expected == 400:  # a PUT without its body: malformed, whatever the id
        assert_problem(response, 400, "invalid-request")
    else:
        assert response.status_code == expected, response.text
        page = response.json()
        assert page[next(k for k in ("items", "events") if k in page)] == []
