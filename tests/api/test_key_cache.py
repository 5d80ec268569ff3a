"""A revoked key is refused by every API process within the documented bound
(ENTENTE_KEY_CACHE_SECONDS), and at once by the process that revoked it.

The API runs as `entente serve` in a subprocess; the revocation is made here, in another
process, as `entente keys revoke` or a second API process would make it.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from store.api_keys import CACHE_SECONDS_ENV, create_key, revoke_key
from tests.api.conftest import auth
from tests.api.serving import served_api


async def test_a_key_revoked_elsewhere_is_refused_once_the_bound_has_passed(database_url, pool):
    bound = 1.0
    _, token = await create_key(pool, "cached-reader", ["reader"])
    env = {CACHE_SECONDS_ENV: str(bound)}
    async with served_api(database_url, env=env) as (base, _), httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/dialogues", headers=auth(token))).status_code == 200
        assert await revoke_key(pool, "cached-reader")
        revoked_at = time.monotonic()
        await asyncio.sleep(max(0.0, revoked_at + bound - time.monotonic()))
        refused = await http.get(f"{base}/dialogues", headers=auth(token))
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_within_the_bound_the_process_that_revokes_refuses_at_once(database_url, pool):
    """A long bound: a revocation made elsewhere is not seen (the cache answers), the same
    revocation made through this API is, and a wrong secret never rides on a cached key."""
    _, admin = await create_key(pool, "cache-admin", ["admin"])
    _, elsewhere = await create_key(pool, "revoked-elsewhere", ["reader"])
    _, here = await create_key(pool, "revoked-here", ["reader"])
    env = {CACHE_SECONDS_ENV: "3600"}
    async with served_api(database_url, env=env) as (base, _), httpx.AsyncClient() as http:
        for token in (elsewhere, here):
            assert (await http.get(f"{base}/dialogues", headers=auth(token))).status_code == 200
        _, key_id, _ = here.split("_", 2)
        guessed = f"ent_{key_id}_{'x' * 43}"
        assert (await http.get(f"{base}/dialogues", headers=auth(guessed))).status_code == 401

        assert await revoke_key(pool, "revoked-elsewhere")
        still = await http.get(f"{base}/dialogues", headers=auth(elsewhere))
        assert still.status_code == 200  # cached: honoured only once the bound has passed

        revoked = await http.delete(f"{base}/keys/revoked-here", headers=auth(admin))
        assert revoked.status_code == 204
        refused = await http.get(f"{base}/dialogues", headers=auth(here))
    assert refused.status_code == 401
