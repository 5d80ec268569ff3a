"""The README's curl tour, run by scripts/tour.sh against a real `entente serve` process."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from store.api_keys import ROLES, create_key

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tour is written with curl")
async def test_the_readme_tour_runs_against_a_served_api(database_url, pool):
    _, token = await create_key(pool, "tour", list(ROLES))
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli",
            "--database-url",
            database_url,
            "serve",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                await asyncio.sleep(0.2)
        tour = await asyncio.to_thread(
            subprocess.run,
            ["bash", "scripts/tour.sh", f"http://127.0.0.1:{port}"],
            cwd=ROOT,
            env={**os.environ, "ENTENTE_KEY": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert tour.returncode == 0, tour.stdout + tour.stderr
        assert "tour complete" in tour.stdout
        assert '"broken":[]' in tour.stdout
        assert "BEGIN:VCALENDAR" in tour.stdout  # step 9: the feed opened with its token
        again = await asyncio.to_thread(  # the tour works twice in a row on the same data
            subprocess.run,
            ["bash", "scripts/tour.sh", f"http://127.0.0.1:{port}"],
            cwd=ROOT,
            env={**os.environ, "ENTENTE_KEY": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "?key=" not in (ROOT / "README.md").read_text()  # no API key in any URL
    finally:
        server.terminate()
        server.wait(timeout=10)
