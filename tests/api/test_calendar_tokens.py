"""Calendar feed tokens: made by any key for itself, listed, revoked, scoped to the feed
(and to a party when asked), stored hashed; an API key in the URL is refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import icalendar
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from domain import demo
from store.api_keys import create_key, revoke_key
from store.calendar_tokens import authenticate_token, create_token, list_tokens, revoke_token
from tests.api.conftest import auth

ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(demo_client: AsyncTestClient[Any]) -> AsyncTestClient[Any]:
    """The app with its in-process worker over the demo (tests/api/conftest.py)."""
    return demo_client


async def _make(live: Any, key: str, **body: Any) -> dict[str, Any]:
    response = await live.post("/calendar/tokens", headers=auth(key), json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def _feed(live: Any, **params: str) -> Any:
    return await live.get("/calendar.ics", params={"since": "2021-01-01", **params})


async def _projected_feed(live: Any, token: str) -> Any:
    """The feed once the worker has projected the demo's 2021 session into it."""
    for _ in range(100):
        feed = await _feed(live, token=token)
        if f"session-{demo.ESPD_2021_SESSION_ID}@entente" in _uids(feed):
            break
        await asyncio.sleep(0.1)
    return feed


def _uids(response: Any) -> set[str]:
    calendar = icalendar.Calendar.from_ical(response.content)
    return {str(e["UID"]) for e in calendar.walk("VEVENT")}


async def test_a_reader_subscribes_with_its_own_token_and_revokes_it(live, tokens):
    reader = tokens["reader"]
    made = await _make(live, reader, name="work phone")
    token, info = made["token"], made["calendar_token"]
    assert token.startswith("cal_") and made["feed"] == f"/calendar.ics?token={token}"
    assert (info["owner"], info["name"], info["party"]) == ("test-reader", "work phone", None)
    feed = await _projected_feed(live, token)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    listed = await live.get("/calendar/tokens", headers=auth(reader))
    assert [t["token_id"] for t in listed.json()] == [info["token_id"]]
    assert token not in listed.text  # the secret is shown once, at creation
    gone = await live.delete(f"/calendar/tokens/{info['token_id']}", headers=auth(reader))
    assert gone.status_code == 204
    refused = await _feed(live, token=token)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    again = await live.delete(f"/calendar/tokens/{info['token_id']}", headers=auth(reader))
    assert again.status_code == 404
    revoked = (await live.get("/calendar/tokens", headers=auth(reader))).json()
    assert revoked[0]["revoked_at"] is not None


async def test_tokens_are_stored_only_as_hashes(live, tokens, pool):
    made = await _make(live, tokens["reader"], name="hashed")
    _, token_id, secret = made["token"].split("_", 2)
    row = await pool.fetchrow("SELECT * FROM access.calendar_tokens WHERE token_id = $1", token_id)
    assert bytes(row["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert secret not in json.dumps({k: str(v) for k, v in dict(row).items()})


async def test_an_api_key_in_the_url_is_refused_whatever_its_role(live, tokens):
    for role in ("reader", "writer", "auditor", "admin", "all"):
        for name in ("key", "token"):
            response = await _feed(live, **{name: tokens[role]})
            assert response.status_code == 401, (role, name, response.text)
            assert response.json()["type"] == "urn:entente:problem:unauthenticated"
    # in the Authorization header a key with a read role still opens the feed
    assert (await live.get("/calendar.ics", headers=auth(tokens["reader"]))).status_code == 200
    # and a key in the URL is refused even beside a good feed token
    token = (await _make(live, tokens["reader"], name="beside"))["token"]
    assert (await _feed(live, token=token, key=tokens["reader"])).status_code == 401


async def test_a_feed_token_opens_the_feed_and_nothing_else(live, tokens):
    token = (await _make(live, tokens["reader"], name="feed only"))["token"]
    assert (await live.get("/dialogues", params={"token": token})).status_code == 401
    assert (await live.get("/dialogues", headers=auth(token))).status_code == 401
    assert (await live.get("/calendar.ics", headers=auth(token))).status_code == 401
    assert (await live.get("/calendar/tokens", headers=auth(token))).status_code == 401


async def test_a_token_for_one_party_shows_only_that_partys_feed(live, tokens):
    made = await _make(live, tokens["reader"], name="uzbek desk", party="uz")
    assert made["calendar_token"]["party"] == "UZ"
    everything = _uids(
        await _projected_feed(live, (await _make(live, tokens["reader"], name="all"))["token"])
    )
    narrowed = await _feed(live, token=made["token"])
    assert narrowed.status_code == 200
    kz_us = f"session-{demo.ESPD_2021_SESSION_ID}@entente"
    assert kz_us in everything and kz_us not in _uids(narrowed)
    assert (await _feed(live, token=made["token"], party="UZ")).status_code == 200
    other = await _feed(live, token=made["token"], party="KZ")
    assert other.status_code == 403, other.text


async def test_each_key_manages_its_own_tokens_and_an_admin_all(live, tokens):
    mine = (await _make(live, tokens["writer"], name="writer's"))["calendar_token"]
    theirs = (await _make(live, tokens["auditor"], name="auditor's"))["calendar_token"]
    writer_sees = (await live.get("/calendar/tokens", headers=auth(tokens["writer"]))).json()
    assert {t["owner"] for t in writer_sees} == {"test-writer"}
    path = f"/calendar/tokens/{theirs['token_id']}"
    assert (await live.delete(path, headers=auth(tokens["writer"]))).status_code == 404
    admin_sees = (await live.get("/calendar/tokens", headers=auth(tokens["admin"]))).json()
    assert {mine["token_id"], theirs["token_id"]} <= {t["token_id"] for t in admin_sees}
    assert (await live.delete(path, headers=auth(tokens["admin"]))).status_code == 204
    bad = await live.delete("/calendar/tokens/%00", headers=auth(tokens["admin"]))
    assert bad.status_code in (400, 404)
    for body in ({}, {"name": ""}, {"name": "x", "party": "ZZZ"}, {"name": "x", "party": "QQ"}):
        refused = await live.post("/calendar/tokens", headers=auth(tokens["reader"]), json=body)
        assert refused.status_code in (400, 422), (body, refused.text)


def test_the_cli_creates_lists_and_revokes_tokens(database_url):
    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", "--database-url", database_url, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    made = json.loads(cli("calendar-tokens", "create", "lobby screen", "--party", "kz"))
    assert made["token"].startswith("cal_") and made["party"] == "KZ"
    listed = cli("calendar-tokens", "list")
    assert f"{made['token_id']}\tlobby screen\tcli\tKZ\tlive" in listed
    assert made["token"] not in listed
    cli("calendar-tokens", "revoke", made["token_id"])
    assert f"{made['token_id']}\tlobby screen\tcli\tKZ\trevoked" in cli("calendar-tokens", "list")


async def test_the_application_role_can_manage_tokens_but_not_delete_them(pool):
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL ROLE entente_app")
        made, token = await create_token(connection, "as the app role", "test-reader", "KZ")
        assert await authenticate_token(connection, token) == made
        assert await revoke_token(connection, made.token_id)
        assert await authenticate_token(connection, token) is None
        assert [t.token_id for t in await list_tokens(connection, "test-reader")]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("DELETE FROM access.calendar_tokens")


async def test_a_token_lives_no_longer_than_the_key_that_made_it(live, tokens, pool):
    """Nor opens more: an admin-only key's token does not open the feed."""
    _, maker = await create_key(pool, "token-maker", ["reader"])
    _, admin_only = await create_key(pool, "token-admin-only", ["admin"])
    token = (await _make(live, maker, name="phone"))["token"]
    admins = (await _make(live, admin_only, name="admin phone"))["token"]
    assert (await _feed(live, token=token)).status_code == 200
    assert (await _feed(live, token=admins)).status_code == 401
    assert await revoke_key(pool, "token-maker")
    assert (await _feed(live, token=token)).status_code == 401
    # a token the command line made for an owner that names no key lives on its own
    _, by_cli = await create_token(pool, "cli phone", "cli")
    assert await authenticate_token(pool, by_cli) is not None
