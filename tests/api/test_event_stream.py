"""Must-show 5 (issue 16): GET /events/stream, Server-Sent Events over a served API.

A client that disconnects and reconnects with Last-Event-ID sees every event exactly once
and in the order of GET /events, while 8 writers append; idle streams carry heartbeats;
stopping the server ends open streams cleanly. GET /events answers in CloudEvents batch
format when asked.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from domain import commands as c
from store.api_keys import create_key
from store.records import Cursor
from tests.api.command_scenario import body_of
from tests.api.conftest import auth
from tests.api.serving import served_api
from tests.unit import builders as b

PARTNERS = ("US", "RU", "CN", "TR", "UZ", "TJ", "KG", "DE")
PER_WRITER = 25


async def writer(http: httpx.AsyncClient, token: str, partner: str) -> None:
    """Append PER_WRITER events to the KZ-partner relationship, one POST each."""
    pair = "-".join(sorted(("KZ", partner)))
    for n in range(PER_WRITER):
        command = c.RecordIndicator(
            parties=tuple(sorted(("KZ", partner))),  # type: ignore[arg-type]
            indicator_id=uuid.uuid4(),
            indicator=b.indicator(n),
        )
        response = await http.post(
            f"/relationships/{pair}/indicators", json=body_of(command), headers=auth(token)
        )
        assert response.status_code == 201, response.text


async def read_stream(
    http: httpx.AsyncClient,
    token: str,
    last_id: str | None,
    seen: list[tuple[str, str]],
    stop_after: int | None,
    comments: list[str] | None = None,
) -> bool:
    """Read the stream into `seen` as (SSE id, event id) until `stop_after` more events
    (then hang up) or until the server ends it (returns True)."""
    headers = auth(token)
    if last_id:
        headers["Last-Event-ID"] = last_id
    taken = 0
    params = {"stream_prefix": "relationship-"}
    async with http.stream("GET", "/events/stream", params=params, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id = None
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                assert event_id is not None
                seen.append((event_id, json.loads(line[6:])["event_id"]))
                taken += 1
                if stop_after is not None and taken >= stop_after:
                    return False  # hang up mid-stream
            elif line.startswith(":") and comments is not None:
                comments.append(line)
    return True


async def test_reconnecting_with_last_event_id_sees_every_event_once(database_url, pool):
    _, writer_key = await create_key(pool, "stream-writer", ["writer"])
    _, reader_key = await create_key(pool, "stream-reader", ["reader"])
    async with (
        served_api(database_url) as (base, _),
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        writers = asyncio.gather(*(writer(http, writer_key, p) for p in PARTNERS))
        seen: list[tuple[str, str]] = []
        total = len(PARTNERS) * PER_WRITER
        reconnects = 0
        deadline = time.monotonic() + 120
        while len(seen) < total:
            assert time.monotonic() < deadline, f"{len(seen)} of {total} events streamed"
            last = seen[-1][0] if seen else None
            await read_stream(http, reader_key, last, seen, stop_after=min(37, total - len(seen)))
            reconnects += 1
            await asyncio.sleep(0.05)  # the writers go on while we are away
        await writers
        expected: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"stream_prefix": "relationship-", "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = (await http.get("/events", params=params, headers=auth(reader_key))).json()
            if not page["events"]:
                break
            expected += [e["event_id"] for e in page["events"]]
            cursor = page["next_cursor"]
    print(f"\n[sse] {total} events from 8 writers over {reconnects} connections")
    assert reconnects >= 5
    assert [event for _, event in seen] == expected  # every event once, in log order


async def test_heartbeats_and_a_clean_end_when_the_server_stops(database_url, pool, monkeypatch):
    monkeypatch.setenv("ENTENTE_SSE_HEARTBEAT_SECONDS", "0.3")
    _, reader_key = await create_key(pool, "stream-idle", ["reader"])
    comments: list[str] = []
    seen: list[tuple[str, str]] = []
    async with httpx.AsyncClient(timeout=30) as http:
        async with served_api(database_url) as (base, _):
            http.base_url = httpx.URL(base)
            reading = asyncio.create_task(read_stream(http, reader_key, None, seen, None, comments))
            for _ in range(100):
                if len(comments) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert comments[:2] == [": heartbeat", ": heartbeat"]
            assert not reading.done()
            stopped_at = time.monotonic()
        # leaving served_api sent SIGTERM and waited for the process: the stream ended
        assert await asyncio.wait_for(reading, 5) is True
    print(f"\n[sse] server stopped with a stream open in {time.monotonic() - stopped_at:.2f} s")


async def test_stream_refuses_a_bad_last_event_id_and_can_end_when_caught_up(client, tokens):
    reader = auth(tokens["reader"])
    bad = await client.get("/events/stream", headers={**reader, "Last-Event-ID": "nonsense"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "urn:entente:problem:invalid-cursor"
    beyond = Cursor(99_999_999, 0).encode()  # well formed, never issued: it would skip all
    by_header = {**reader, "Last-Event-ID": beyond}
    for params, headers in (({}, by_header), ({"cursor": beyond}, reader)):
        refused = await client.get("/events/stream", params=params, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"] == "urn:entente:problem:invalid-cursor"
    done = await client.get("/events/stream", params={"follow": "false"}, headers=reader)
    assert done.status_code == 200 and done.text.startswith("retry: 1000")


async def test_the_change_feed_in_cloudevents_batch_format(client, tokens, store):
    from store import NO_STREAM, NewEvent

    await store.append("ce-1", [NewEvent(type="Noted", data={"n": 1})], NO_STREAM)
    for _ in range(100):  # served once no older transaction of the cluster is still open
        response = await client.get(
            "/events",
            params={"stream_prefix": "ce-"},
            headers=auth(tokens["reader"], Accept="application/cloudevents-batch+json"),
        )
        assert response.status_code == 200
        if response.json():
            break
        await asyncio.sleep(0.1)
    assert response.headers["content-type"].startswith("application/cloudevents-batch+json")
    events = response.json()
    assert [e["type"] for e in events] == ["Noted"] and events[0]["subject"] == "ce-1"
    assert events[0]["specversion"] == "1.0" and events[0]["data"] == {"n": 1}
    assert response.headers["x-next-cursor"]


async def test_a_stream_ends_once_its_key_is_revoked(database_url, pool):
    _, admin = await create_key(pool, "stream-admin", ["admin"])
    _, reader = await create_key(pool, "stream-revoked", ["reader"])
    async with (
        served_api(database_url) as (base, _),
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        reading = asyncio.create_task(read_stream(http, reader, None, [], stop_after=None))
        await asyncio.sleep(1.5)
        assert not reading.done()  # a live key: the stream stays open
        revoked = await http.delete("/keys/stream-revoked", headers=auth(admin))
        assert revoked.status_code == 204
        # ended by the server within KEY_RECHECK (and this process forgot the key at once)
        assert await asyncio.wait_for(reading, 5) is True
        again = await http.get("/events/stream", headers=auth(reader))
        assert again.status_code == 401
