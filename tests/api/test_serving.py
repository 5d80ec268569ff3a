"""`entente serve --workers N`: N processes answer on one port, and SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from store.api_keys import create_key
from tests.api.conftest import auth
from tests.api.serving import ENTENTE, ROOT, free_port


def _serving_children(pid: int) -> list[int]:
    """The serving processes forked by `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == pid and b"api.cli" in command:
            found.append(int(entry.name))
    return found


async def test_two_workers_serve_one_port_and_stop_on_sigterm(database_url, pool):
    _, token = await create_key(pool, "workers-reader", ["reader"])
    port = free_port()
    command = [*ENTENTE, "--database-url", database_url, "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a busy host starts slowly
        while len(_serving_children(server.pid)) < 2 or not await _answers(base):
            assert server.poll() is None, "serve exited while starting"
            assert time.monotonic() < deadline, "serve did not start"
            await asyncio.sleep(0.3)
        children = _serving_children(server.pid)
        assert len(children) == 2
        clients = [httpx.AsyncClient(base_url=base) for _ in range(8)]  # 8 connections
        try:
            answers = await asyncio.gather(
                *(c.get("/dialogues", headers=auth(token)) for c in clients for _ in range(3))
            )
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        assert {r.status_code for r in answers} == {200}
    finally:
        server.send_signal(signal.SIGTERM)
        returncode = await asyncio.to_thread(server.wait, 30)
    assert returncode == 0
    assert not [pid for pid in children if _alive(pid)]  # none left behind


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _answers(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{base}/health")).status_code == 200
    except httpx.TransportError:
        return False
