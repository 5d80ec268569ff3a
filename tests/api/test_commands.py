"""Every command route succeeds over HTTP with ETag, Location and a position token."""

from __future__ import annotations

import json
import typing

from domain.commands import Command
from domain.streams import stream_id_for
from tests.api.command_scenario import Driver, command_paths, event_count, scenario
from tests.api.conftest import auth


async def test_the_scenario_covers_every_command_route(client):
    routes = set(command_paths(client.app))
    driven = {type(command).__name__ for command in scenario("coverage")}
    every_command = {t.__name__ for t in typing.get_args(Command)}
    assert routes == every_command
    assert driven == every_command


async def test_every_command_route_succeeds(client, tokens, pool):
    driver = Driver(client, tokens["writer"])
    created = {
        "LaunchDialogue",
        "ScheduleSession",
        "AdoptOutcome",
        "RecordProgress",
        "PlanVisit",
        "LogVisit",
        "RecordIndicator",
        "RecordMilestone",
    }
    for command in scenario("success"):
        name = type(command).__name__
        before = await event_count(pool)
        response = await driver.send(command)
        expected = 201 if name in created else 200
        assert response.status_code == expected, (name, response.text)
        body = response.json()
        stream = stream_id_for(command)
        assert body["stream_id"] == stream
        assert body["events"], name
        assert body["replayed"] is False
        assert response.headers["etag"] == f'"{body["version"]}"'
        assert response.headers["location"].startswith("/")
        assert response.headers["x-position"] == body["position"]
        assert response.headers["x-request-id"]
        assert await event_count(pool) == before + len(body["events"])
        rows = await pool.fetch(
            "SELECT metadata FROM event_store.events WHERE stream_id = $1 AND version = $2",
            stream,
            body["version"],
        )
        assert len(rows) == 1
    assert driver.versions


async def test_events_carry_the_key_name_and_request_ids(client, tokens, pool):
    driver = Driver(client, tokens["writer"])
    command = scenario("metadata")[0]
    response = await driver.send(command, **{"X-Request-ID": "req-42", "X-Correlation-ID": "c-7"})
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == "req-42"
    metadata = await pool.fetchval(
        "SELECT metadata FROM event_store.events WHERE stream_id = $1",
        stream_id_for(command),
    )
    meta = json.loads(metadata) if isinstance(metadata, str) else metadata
    assert meta["actor"] == "test-writer"
    assert meta["request_id"] == "req-42"
    assert meta["correlation_id"] == "c-7"


async def test_the_dialogue_reads_back_after_the_scenario(client, tokens):
    driver = Driver(client, tokens["writer"])
    commands = scenario("readback")
    for command in commands[:5]:
        assert (await driver.send(command)).status_code < 300
    dialogue_id = commands[0].dialogue_id
    response = await client.get(f"/dialogues/{dialogue_id}", headers=auth(tokens["reader"]))
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"5"'
    assert response.json()["state"]["charter"]["cadence"] == "annual"
