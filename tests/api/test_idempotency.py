"""Idempotency-Key: a retry (sequential or racing) replays the first answer and writes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from domain import commands as c
from tests.api.command_scenario import Driver, body_of, event_count, ids, path_for
from tests.api.conftest import auth
from tests.unit import builders as b


def _same(first: Any, second: Any) -> None:
    assert second.status_code == first.status_code
    one, two = first.json(), second.json()
    assert two["replayed"] is True
    assert {**two, "replayed": False} == {**one, "replayed": False}
    assert two["version"] == one["version"]
    assert two["positions"] == one["positions"]
    assert two["position"] == one["position"]
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["x-position"] == first.headers["x-position"]


async def _post(
    client: Any, token: str, command: Any, key: str, app: Any = None, **headers: str
) -> Any:
    return await client.post(
        path_for(app or client.app, command),
        json=body_of(command),
        headers=auth(token, **{"Idempotency-Key": key, **headers}),
    )


async def test_a_retry_returns_the_same_answer_and_writes_nothing(client, tokens, pool):
    i = ids("idem-retry")
    launch = c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter())
    first = await _post(client, tokens["writer"], launch, "launch-1")
    assert first.status_code == 201, first.text
    assert first.json()["replayed"] is False
    before = await event_count(pool)
    second = await _post(client, tokens["writer"], launch, "launch-1")
    _same(first, second)
    assert await event_count(pool) == before

    # a retry after someone else changed the stream still replays the original answer
    rename = c.RenameDialogue(dialogue_id=i["d"], name="Renamed")
    renamed = await _post(client, tokens["writer"], rename, "rename-1")
    assert renamed.status_code == 200, renamed.text
    other = c.RenameDialogue(dialogue_id=i["d"], name="Again")
    assert (await Driver(client, tokens["writer"]).send(other)).status_code == 200
    before = await event_count(pool)
    _same(renamed, await _post(client, tokens["writer"], rename, "rename-1"))
    assert await event_count(pool) == before


async def test_racing_requests_with_one_key_write_once(concurrent_client, live_app, tokens, pool):
    for n in range(3):
        i = ids(f"idem-race-{n}")
        launch = c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter())
        before = await event_count(pool)
        responses = await asyncio.gather(
            *(
                _post(concurrent_client, tokens["writer"], launch, f"race-{n}", live_app)
                for _ in range(4)
            )
        )
        assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
        assert await event_count(pool) == before + 1
        originals = [r for r in responses if r.json()["replayed"] is False]
        assert len(originals) == 1
        for response in responses:
            if response is not originals[0]:
                _same(originals[0], response)


async def test_racing_updates_with_one_key_write_once(concurrent_client, live_app, tokens, pool):
    i = ids("idem-race-update")
    driver = Driver(concurrent_client, tokens["writer"], live_app)
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    rename = c.RenameDialogue(dialogue_id=i["d"], name="Raced")
    before = await event_count(pool)
    responses = await asyncio.gather(
        *(
            _post(
                concurrent_client,
                tokens["writer"],
                rename,
                "race-update",
                live_app,
                **{"If-Match": '"1"'},
            )
            for _ in range(3)
        )
    )
    assert [r.status_code for r in responses] == [200] * 3, [r.text for r in responses]
    assert await event_count(pool) == before + 1
    assert len({r.json()["version"] for r in responses}) == 1


async def test_the_same_key_with_another_body_is_refused(client, tokens, pool):
    i = ids("idem-reuse")
    launch = c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter())
    assert (await _post(client, tokens["writer"], launch, "reused")).status_code == 201
    before = await event_count(pool)
    other = c.LaunchDialogue(dialogue_id=i["d2"], charter=b.charter())
    response = await _post(client, tokens["writer"], other, "reused")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:entente:problem:idempotency-key-reused"
    same_stream = c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter(cadence="annual"))
    response = await _post(client, tokens["writer"], same_stream, "reused")
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:entente:problem:idempotency-key-reused"
    assert await event_count(pool) == before


async def test_keys_are_scoped_to_the_api_key_that_sent_them(client, tokens, pool):
    i = ids("idem-scope")
    launch = c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter())
    assert (await _post(client, tokens["writer"], launch, "shared")).status_code == 201
    # another key using the same Idempotency-Key is a different request, judged afresh
    rename = c.RenameDialogue(dialogue_id=i["d"], name="Other key")
    response = await _post(client, tokens["all"], rename, "shared")
    assert response.status_code == 200, response.text
    assert response.json()["replayed"] is False
