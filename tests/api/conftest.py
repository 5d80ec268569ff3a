"""HTTP tests: the real app, over Litestar's AsyncTestClient, on a module's own database."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.demo import load_demo
from entente_verify.note import Signer
from store.api_keys import ROLES, create_key
from store.transparency import KEY_ENV

TEST_LOG_KEY = Signer.generate("test.entente/log")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of the app bound to this module's database."""
    async with AsyncTestClient(app=create_app(database_url, pool_size=20)) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live_app(database_url: str) -> AsyncIterator[Litestar]:
    """The app running (lifespan entered) on the tests' own event loop.

    The lifespan runs in a task of its own: it must be left in the task that entered it,
    and pytest finalises fixtures in another.
    """
    app = create_app(database_url, pool_size=20)
    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    running = asyncio.create_task(run())
    await asyncio.wait(
        [running, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED"
    )
    if running.done():
        running.result()  # startup failed: raise its error here
    yield app
    stop.set()
    await running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def concurrent_client(live_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests really run at the same time.

    `client` (Litestar's AsyncTestClient) hands each request to the app's own thread and
    waits for it, so its "concurrent" requests run one after another; this one calls the
    ASGI app on the tests' loop, where gathered requests interleave at every await.
    """
    asgi: Any = live_app  # an ASGI app; its typed signature is narrower than httpx's
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://entente.test") as http:
        yield http


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tokens(pool: Any) -> dict[str, str]:
    """One key per role, plus 'all' with every role (made beside the app, same database)."""
    made = {role: (await create_key(pool, f"test-{role}", [role]))[1] for role in ROLES}
    made["all"] = (await create_key(pool, "test-all", list(ROLES)))[1]
    return made


def auth(token: str, **headers: str) -> dict[str, str]:
    """Headers carrying a bearer key (and any others)."""
    return {"Authorization": f"Bearer {token}", **headers}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def demo_client(
    database_url: str, pool: Any, tmp_path_factory: Any
) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of the app with its in-process worker over the loaded demo, exporting under
    a temporary folder and signing checkpoints with TEST_LOG_KEY."""
    await load_demo(pool)
    os.environ.setdefault(KEY_ENV, TEST_LOG_KEY.text())  # the worker signs checkpoints
    root = tmp_path_factory.mktemp("exports")
    app = create_app(database_url, pool_size=10, run_projections=True, export_root=root)
    async with AsyncTestClient(app=app) as client:
        yield client
