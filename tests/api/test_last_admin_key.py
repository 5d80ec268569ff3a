"""The last live admin key cannot be revoked: with none left, nobody could manage keys.

A module of its own: it revokes admin keys, which the other modules' fixtures rely on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.cli import main
from store.api_keys import LastAdminKey, create_key, list_keys, revoke_key
from tests.api.conftest import auth
from tests.api.test_errors import assert_problem


async def _live_admins(pool: Any) -> set[str]:
    return {k.name for k in await list_keys(pool) if "admin" in k.roles and not k.revoked_at}


async def _keys(pool: Any) -> list[Any]:
    return await list_keys(pool)


async def test_two_admins_revoking_each_other_at_once_leave_one(pool, owner_pool):
    await create_key(pool, "admin-a", ["admin"])
    await create_key(pool, "admin-b", ["admin", "reader"])
    assert await _live_admins(pool) == {"admin-a", "admin-b"}
    for _ in range(5):  # every interleaving the scheduler offers must end the same way
        results = await asyncio.gather(
            revoke_key(pool, "admin-a"), revoke_key(pool, "admin-b"), return_exceptions=True
        )
        assert sum(r is True for r in results) == 1, results
        assert sum(isinstance(r, LastAdminKey) for r in results) == 1, results
        assert len(await _live_admins(pool)) == 1
        survivor = (await _live_admins(pool)).pop()
        revoked = "admin-b" if survivor == "admin-a" else "admin-a"
        # reinstating a key is no service operation: the owner does it to replay the race
        await owner_pool.execute(
            "UPDATE access.api_keys SET revoked_at = NULL WHERE name = $1", revoked
        )


async def test_the_api_refuses_to_revoke_the_last_admin_key(client, pool):
    _, token = await create_key(pool, "admin-c", ["admin"])
    for name in await _live_admins(pool) - {"admin-c"}:
        assert await revoke_key(pool, name)
    await create_key(pool, "plain-reader", ["reader"])
    before = await _keys(pool)
    response = await client.delete("/keys/admin-c", headers=auth(token))
    problem = assert_problem(response, 409, "last-admin-key")
    assert "admin-c" in problem["detail"]
    assert await _keys(pool) == before
    assert (await client.get("/keys", headers=auth(token))).status_code == 200
    # a key without the admin role goes as before, and a second admin makes the first revocable
    assert (await client.delete("/keys/plain-reader", headers=auth(token))).status_code == 204
    _, second = await create_key(pool, "admin-d", ["admin"])
    assert (await client.delete("/keys/admin-c", headers=auth(second))).status_code == 204
    assert await _live_admins(pool) == {"admin-d"}


async def test_the_cli_refuses_to_revoke_the_last_admin_key(database_url, pool):
    assert await _live_admins(pool) == {"admin-d"}
    before = await _keys(pool)
    argv = ["--database-url", database_url, "keys", "revoke", "admin-d"]
    with pytest.raises(SystemExit) as refused:
        await asyncio.to_thread(main, argv)
    assert "last live admin key" in str(refused.value.code)
    assert await _keys(pool) == before
