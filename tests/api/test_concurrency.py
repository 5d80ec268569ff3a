"""Requests that really run at the same time (`concurrent_client`): the same If-Match, one
wins and the other gets 409 and writes nothing; no lost updates; shared commits."""

from __future__ import annotations

import asyncio

from domain import commands as c
from tests.api.command_scenario import Driver, body_of, event_count, ids, path_for
from tests.api.conftest import auth
from tests.unit import builders as b


async def test_same_if_match_concurrently_gives_one_success_and_one_409(
    concurrent_client, live_app, tokens, pool
):
    i = ids("race")
    driver = Driver(concurrent_client, tokens["writer"], live_app)
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    version = driver.versions[f"dialogue-{i['d']}"]
    for round_ in range(5):
        before = await event_count(pool)
        first = c.RenameDialogue(dialogue_id=i["d"], name=f"A{round_}")
        second = c.RenameDialogue(dialogue_id=i["d"], name=f"B{round_}")
        headers = auth(tokens["writer"], **{"If-Match": f'"{version}"'})
        responses = await asyncio.gather(
            concurrent_client.post(path_for(live_app, first), json=body_of(first), headers=headers),
            concurrent_client.post(
                path_for(live_app, second), json=body_of(second), headers=headers
            ),
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200)
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.headers["content-type"].startswith("application/problem+json")
        assert loser.json()["type"] == "urn:entente:problem:conflict"
        assert winner.headers["etag"] == f'"{version + 1}"'
        assert await event_count(pool) == before + 1
        version += 1


async def test_without_if_match_concurrent_changes_never_lose_an_update(
    concurrent_client, live_app, tokens, pool
):
    i = ids("race-no-if-match")
    driver = Driver(concurrent_client, tokens["writer"], live_app)
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    before = await event_count(pool)
    commands = [c.RenameDialogue(dialogue_id=i["d"], name=f"N{n}") for n in range(6)]
    responses = await asyncio.gather(
        *(
            concurrent_client.post(
                path_for(live_app, cmd), json=body_of(cmd), headers=auth(tokens["writer"])
            )
            for cmd in commands
        )
    )
    ok = [r for r in responses if r.status_code == 200]
    assert all(r.status_code in {200, 409} for r in responses), [r.text for r in responses]
    assert ok
    assert await event_count(pool) == before + len(ok)
    versions = sorted(r.json()["version"] for r in ok)
    assert versions == list(range(2, 2 + len(ok)))


async def test_concurrent_requests_to_different_dialogues_share_commits(
    concurrent_client, live_app, tokens, pool
):
    """The app keeps one event store, so appends of concurrent requests are combined:
    sixteen dialogues launched at once land in fewer than sixteen transactions."""
    launches = [
        c.LaunchDialogue(dialogue_id=ids(f"combined-{n}")["d"], charter=b.charter())
        for n in range(16)
    ]
    responses = await asyncio.gather(
        *(
            concurrent_client.post(
                path_for(live_app, cmd), json=body_of(cmd), headers=auth(tokens["writer"])
            )
            for cmd in launches
        )
    )
    assert [r.status_code for r in responses] == [201] * 16, [r.text for r in responses]
    transactions = await pool.fetchval(
        "SELECT count(DISTINCT transaction_id) FROM event_store.events WHERE stream_id = ANY($1)",
        [r.json()["stream_id"] for r in responses],
    )
    assert transactions < 16
