"""The real `entente serve` in a subprocess, for tests that need the served app itself
(its uvicorn, its logging set-up), not the app object."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
ENTENTE = (sys.executable, "-m", "api.cli")
Output = IO[Any] | int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def served_api(
    database_url: str,
    stdout: IO[Any] | int = subprocess.DEVNULL,
    stderr: IO[Any] | int = subprocess.DEVNULL,
    *,
    with_worker: bool = False,
    env: dict[str, str] | None = None,
    script: str | None = None,
) -> AsyncIterator[tuple[str, int]]:
    """(base URL, port) of `entente serve` on a free port, once /health answers; the
    process is stopped on leaving, whatever happened. `script` serves something else:
    Python run with the database URL and the port as its arguments."""
    port = free_port()
    command = [*ENTENTE, "--database-url", database_url, "serve", "--port", str(port)]
    if with_worker:
        command.append("--with-worker")
    server = subprocess.Popen(
        [sys.executable, "-c", script, database_url, str(port)] if script else command,
        cwd=ROOT,
        stdout=stdout,
        stderr=stderr,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"{base}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, "the server exited while starting"
                assert time.monotonic() < deadline, "the server did not start"
                await asyncio.sleep(0.2)
        yield base, port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
