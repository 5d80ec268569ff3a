"""What every benchmark needs: a PostgreSQL of its own and honest statistics."""

from __future__ import annotations

import asyncio
import os
import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from store.database import asyncpg_dsn, with_database
from store.local_postgres import DEFAULT_DATA_DIR, start_embedded
from store.migrate import upgrade


def server_url() -> str:
    """BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the embedded server."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    return url or start_embedded(DEFAULT_DATA_DIR / "bench-postgres", keep_running=False)


@asynccontextmanager
async def fresh_database(name: str) -> AsyncIterator[str]:
    """A newly migrated database, dropped afterwards."""
    admin_url = server_url()
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    url = with_database(admin_url, name)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) of latency samples, in milliseconds."""
    if len(samples) < 2:
        return samples[0] * 1000 if samples else 0.0
    return statistics.quantiles(samples, n=100, method="inclusive")[round(q * 100) - 1] * 1000
