"""A real `entente serve` process on a test database, for tests that need the API as
deployed (uvicorn, HTTP on a port) rather than the ASGI app in the test's own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served_api(
    database_url: str, *, with_worker: bool = False, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Serve the API on a free port until the block ends; yields its base URL.

    The server's output goes to the test's output only when it fails to start, so a
    passing run stays quiet; the process is ended (and waited for) however the block ends.
    """
    port = free_port()
    command = [sys.executable, "-m", "api.cli", "--database-url", database_url, "serve"]
    command += ["--port", str(port)] + (["--with-worker"] if with_worker else [])
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
