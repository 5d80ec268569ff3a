"""Shared fixtures: one migrated template database, cloned per test module.

Cloning a template (CREATE DATABASE … TEMPLATE) costs a few hundred milliseconds, while
migrating from scratch costs seconds, so every module gets an isolated, migrated database.

The app, the workers and the store connect as the service does: `database_url` and `pool`
are the least-privilege login (store/roles.py), so every test proves the grants suffice.
`owner_database_url` is the same database as the owner (a superuser), for tests that act
as one on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from store import EventStore
from store.database import asyncpg_dsn, create_pool, with_database
from store.migrate import upgrade
from store.roles import derived_app_url, provision_login_role
from tests.postgres import postgres_server

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """An admin URL to the server's `postgres` database; the run says which server it is."""
    with postgres_server() as (url, origin):
        capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\n[entente tests] PostgreSQL from {origin}", flush=True)
        yield url


async def _admin(postgres_url: str, sql: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_database(postgres_url: str) -> AsyncIterator[str]:
    """A database migrated to head, used only as a template for the others."""
    name = f"entente_template_{os.getpid()}"
    await _admin(postgres_url, f"DROP DATABASE IF EXISTS {name}")
    await _admin(postgres_url, f"CREATE DATABASE {name}")
    await asyncio.to_thread(upgrade, with_database(postgres_url, name))
    assert await provision_login_role(postgres_url, derived_app_url(postgres_url))
    yield name
    await _admin(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def clone_database(postgres_url: str, template: str) -> str:
    """A fresh migrated database; returns its URL."""
    name = f"entente_test_{os.getpid()}_{next(_names)}"
    await _admin(postgres_url, f"CREATE DATABASE {name} TEMPLATE {template}")
    return with_database(postgres_url, name)


async def drop_database(postgres_url: str, url: str) -> None:
    """Drop a database made by clone_database, even if connections linger."""
    name = url.split("?", 1)[0].rsplit("/", 1)[1]
    await _admin(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner_database_url(postgres_url: str, template_database: str) -> AsyncIterator[str]:
    """A migrated database of this module's own, reached as the owner (a superuser)."""
    url = await clone_database(postgres_url, template_database)
    yield url
    await drop_database(postgres_url, url)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def database_url(owner_database_url: str) -> str:
    """The module's database as the service reaches it: the least-privilege login."""
    return derived_app_url(owner_database_url)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[Any]:
    """An asyncpg pool on the module's database, as the least-privilege login."""
    pool = await create_pool(database_url, min_size=1, max_size=20)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner_pool(owner_database_url: str) -> AsyncIterator[Any]:
    """A pool on the module's database as the owner: for tests that play a superuser."""
    pool = await create_pool(owner_database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def store(pool: Any) -> EventStore:
    """The event store on the module's database."""
    return EventStore(pool)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start installing chromium early when the /docs browser test is going to run."""
    if any(item.path.name == "test_docs_page.py" for item in items):
        from tests.browser import start_install_if_missing

        start_install_if_missing()
