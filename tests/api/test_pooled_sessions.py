"""Pooled connections come back without session state.

The asyncpg pool hands connections back without asyncpg's reset query (store/database.py,
`keep_session`), which is safe only while no code leaves session state behind. This drives
every command route and every GET route without path parameters through the app, then
looks at every connection of the app's pool.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.command_scenario import Driver, scenario
from tests.api.conftest import auth
from tests.api.test_roles import FINITE

SESSION_STATE = {
    "listening channels": "SELECT count(*) FROM pg_listening_channels()",
    "advisory locks": """SELECT count(*) FROM pg_locks
        WHERE pid = pg_backend_pid() AND locktype = 'advisory'""",
    "settings changed by SET": "SELECT count(*) FROM pg_settings WHERE source = 'session'",
    "temporary tables": "SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()",
    "open cursors": "SELECT count(*) FROM pg_cursors WHERE name <> ''",  # '': this query
    # a service login starts as entente_app (store/roles.py); SET ROLE shows as a SET above
    "another role": "SELECT (current_user NOT IN (session_user, 'entente_app'))::int",
}


def plain_get_paths(client: Any) -> list[str]:
    """Every GET route of the app that needs no path parameter."""
    paths = client.app.openapi_schema.to_schema()["paths"]
    return [path for path, item in paths.items() if "get" in item and "{" not in path]


async def session_state_of(pool: Any) -> list[dict[str, int]]:
    """What each connection of `pool` holds beyond a fresh session (all of them at once)."""
    connections = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        return [
            {name: await connection.fetchval(query) for name, query in SESSION_STATE.items()}
            for connection in connections
        ]
    finally:
        for connection in connections:
            await pool.release(connection)


async def test_pooled_connections_carry_no_session_state(client, tokens):
    driver = Driver(client, tokens["writer"])
    for command in scenario("pooled"):
        assert (await driver.send(command)).status_code in (200, 201)
    for path in plain_get_paths(client):
        response = await client.get(path + FINITE.get(path, ""), headers=auth(tokens["all"]))
        assert response.status_code < 500, (path, response.text)
    await asyncio.to_thread(client.blocking_portal.call, client.app.state.store.settle)

    # the app, its pool and its store live on the test client's own event loop
    per_connection = await asyncio.to_thread(
        client.blocking_portal.call, session_state_of, client.app.state.pool
    )
    assert per_connection  # every connection the pool holds, however many
    assert all(not any(state.values()) for state in per_connection), str(per_connection)
