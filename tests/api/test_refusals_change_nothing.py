"""Issue 12, must-show 3: refused bodies answer their documented status and write nothing.

Each case is sent against an existing dialogue; afterwards the dialogue's stream version
and the store's global position are what they were before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from domain import commands as c
from tests.api.command_scenario import Driver, body_of, ids
from tests.api.conftest import auth
from tests.unit import builders as b

PROBLEM = "urn:entente:problem:"


async def _positions(pool: Any, stream: str) -> tuple[int, int]:
    version = await pool.fetchval(
        "SELECT coalesce(max(version), 0) FROM event_store.events WHERE stream_id = $1", stream
    )
    position = await pool.fetchval("SELECT coalesce(max(position), 0) FROM event_store.events")
    return int(version), int(position)


def _launch_body(i: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = body_of(c.LaunchDialogue(dialogue_id=i["d2"], charter=b.charter()))
    body["charter"] = {**body["charter"], **changes.pop("charter", {})}
    return {**body, **changes}


def _schedule_body(i: dict[str, Any], **plan: Any) -> dict[str, Any]:
    body: dict[str, Any] = body_of(b.schedule())
    return {**body, "dialogue_id": str(i["d"]), "plan": {**body["plan"], **plan}}


def _adopt_body(i: dict[str, Any], **terms: Any) -> dict[str, Any]:
    body: dict[str, Any] = body_of(b.adopt())
    ours = {"dialogue_id": str(i["d"]), "session_id": str(i["s1"]), "outcome_id": str(i["o1"])}
    return {**body, **ours, "terms": {**body["terms"], **terms}}


CASES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]], int, str, str]] = {
    "duplicate parties": (
        "/dialogues",
        lambda i: _launch_body(i, charter={"parties": ["KZ", "KZ", "US"]}),
        422,
        "rule-violated",
        "named more than once: KZ",
    ),
    "bilateral with a duplicate": (
        "/dialogues",
        lambda i: _launch_body(i, charter={"parties": ["KZ", "KZ"], "format": "bilateral"}),
        422,
        "rule-violated",
        "named more than once: KZ",
    ),
    "unknown field at the top": (
        "/dialogues",
        lambda i: _launch_body(i, nmae="typo"),
        422,
        "unknown-field",
        "`nmae`",
    ),
    "unknown field in a plan": (
        "/dialogues/{d}/sessions",
        lambda i: _schedule_body(i, agreed="2022-01-05"),
        422,
        "unknown-field",
        "`agreed` in `$.plan`",
    ),
    "unknown currency": (
        "/dialogues/{d}/outcomes",
        lambda i: _adopt_body(i, pledges=[{"amount": "5", "currency": "USS"}]),
        422,
        "invalid-value",
        "Unknown currency 'USS'",
    ),
    "pledge by a party outside the dialogue": (
        "/dialogues/{d}/outcomes",
        lambda i: _adopt_body(i, pledges=[{"amount": "5", "currency": "USD", "by": "FR"}]),
        422,
        "rule-violated",
        "pledging party",
    ),
    "unknown party": (
        "/dialogues",
        lambda i: _launch_body(i, charter={"parties": ["KZ", "XX"]}),
        422,
        "invalid-value",
        "XX",
    ),
}


async def test_a_text_plain_body_is_415_and_changes_nothing(client, tokens, pool):
    i = ids("refused/text-plain")
    before = await _positions(pool, f"dialogue-{i['d2']}")
    for body in (json.dumps(_launch_body(i)), "launch a dialogue please"):
        response = await client.post(
            "/dialogues",
            content=body,
            headers=auth(tokens["writer"], **{"Content-Type": "text/plain"}),
        )
        assert response.status_code == 415, response.text
        assert response.json()["type"] == PROBLEM + "unsupported-media-type"
        assert "text/plain" in response.json()["detail"]
    assert await _positions(pool, f"dialogue-{i['d2']}") == before


async def test_a_body_over_the_limit_is_413_stating_the_limit(client, tokens, pool):
    i = ids("refused/too-large")
    before = await _positions(pool, f"dialogue-{i['d2']}")
    body = _launch_body(i, charter={"name": "x" * (300 * 1024)})
    response = await client.post("/dialogues", json=body, headers=auth(tokens["writer"]))
    assert response.status_code == 413, response.text
    assert "262144 bytes (256 KiB)" in response.json()["detail"]
    assert await _positions(pool, f"dialogue-{i['d2']}") == before


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_refused_body_changes_nothing(client, tokens, pool, case):
    i = ids(f"refused/{case}")
    driver = Driver(client, tokens["writer"])
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    held = c.HoldSession(dialogue_id=i["d"], session_id=i["s1"], record=b.record())
    assert (await driver.send(held)).is_success
    path, body, status, kind, words = CASES[case]
    stream = f"dialogue-{i['d']}"
    before = await _positions(pool, stream)

    response = await client.post(
        path.format(d=i["d"]), json=body(i), headers=auth(tokens["writer"])
    )

    assert response.status_code == status, response.text
    assert response.json()["type"] == PROBLEM + kind
    assert words in response.json()["detail"]
    assert await _positions(pool, stream) == before
    assert await _positions(pool, f"dialogue-{i['d2']}") == (0, before[1])
