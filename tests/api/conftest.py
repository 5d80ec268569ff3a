"""HTTP tests: the real app, over Litestar's AsyncTestClient, on a module's own database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from litestar.testing import AsyncTestClient

from api.app import create_app
from store.api_keys import ROLES, create_key


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of the app bound to this module's database."""
    async with AsyncTestClient(app=create_app(database_url, pool_size=20)) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tokens(pool: Any) -> dict[str, str]:
    """One key per role, plus 'all' with every role (made beside the app, same database)."""
    made = {role: (await create_key(pool, f"test-{role}", [role]))[1] for role in ROLES}
    made["all"] = (await create_key(pool, "test-all", list(ROLES)))[1]
    return made


def auth(token: str, **headers: str) -> dict[str, str]:
    """Headers carrying a bearer key (and any others)."""
    return {"Authorization": f"Bearer {token}", **headers}
