"""The migrations themselves: up from empty, down to nothing, and up again."""

from __future__ import annotations

import asyncio

import asyncpg

from store.database import asyncpg_dsn
from store.migrate import downgrade, upgrade
from tests.conftest import drop_database

TABLES = "SELECT count(*) FROM pg_tables WHERE schemaname = 'event_store'"
ACCESS = "SELECT count(*) FROM pg_tables WHERE schemaname = 'access'"


async def test_upgrade_downgrade_upgrade(postgres_url: str):
    name = "entente_migration_roundtrip"
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    url = (
        postgres_url.split("?", 1)[0].rsplit("/", 1)[0]
        + f"/{name}"
        + ("?" + postgres_url.split("?", 1)[1] if "?" in postgres_url else "")
    )
    try:
        await asyncio.to_thread(upgrade, url)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        assert await connection.fetchval(TABLES) == 2
        assert await connection.fetchval(ACCESS) == 1
        await asyncio.to_thread(downgrade, url, "base")
        assert await connection.fetchval(TABLES) == 0
        assert await connection.fetchval(ACCESS) == 0
        await asyncio.to_thread(upgrade, url)
        assert await connection.fetchval(TABLES) == 2
        assert await connection.fetchval(ACCESS) == 1
        await connection.close()
    finally:
        await drop_database(postgres_url, url)
