"""Two clients with the same If-Match: one wins, the other gets 409 and writes nothing."""

from __future__ import annotations

import asyncio

from domain import commands as c
from tests.api.catalog import Driver, body_of, event_count, ids, path_for
from tests.api.conftest import auth
from tests.unit import builders as b


async def test_same_if_match_concurrently_gives_one_success_and_one_409(client, tokens, pool):
    i = ids("race")
    driver = Driver(client, tokens["writer"])
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    version = driver.versions[f"dialogue-{i['d']}"]
    for round_ in range(5):
        before = await event_count(pool)
        first = c.RenameDialogue(dialogue_id=i["d"], name=f"A{round_}")
        second = c.RenameDialogue(dialogue_id=i["d"], name=f"B{round_}")
        headers = auth(tokens["writer"], **{"If-Match": f'"{version}"'})
        responses = await asyncio.gather(
            client.post(path_for(client.app, first), json=body_of(first), headers=headers),
            client.post(path_for(client.app, second), json=body_of(second), headers=headers),
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


async def test_without_if_match_concurrent_changes_never_lose_an_update(client, tokens, pool):
    i = ids("race-no-if-match")
    driver = Driver(client, tokens["writer"])
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    before = await event_count(pool)
    commands = [c.RenameDialogue(dialogue_id=i["d"], name=f"N{n}") for n in range(6)]
    responses = await asyncio.gather(
        *(
            client.post(
                path_for(client.app, cmd), json=body_of(cmd), headers=auth(tokens["writer"])
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
