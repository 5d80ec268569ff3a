"""`entente worker --health-port`: the worker answers the probes its orchestrator sends."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
ENTENTE = (sys.executable, "-m", "api.cli")


async def test_a_worker_answers_live_and_ready_with_its_loops_and_stops_on_sigterm(
    database_url: str,
) -> None:
    port = free_port()
    worker = subprocess.Popen(
        [*ENTENTE, "--database-url", database_url, "worker", "--health-port", str(port)],
        cwd=ROOT,
        env={**os.environ, "HOST": "127.0.0.1", "ENTENTE_LOG_FORMAT": "json"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            while True:
                try:
                    ready = await http.get("/health/ready")
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the worker never became ready"
                await asyncio.sleep(0.2)
            assert {loop["loop"]: loop["state"] for loop in ready.json()["loops"]} == {
                "projections": "running",
                "exports": "running",
                "checkpointer": "running",
                "webhooks": "running",
            }
            assert (await http.get("/health/live")).json() == {"status": "alive"}
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=20)
        assert worker.returncode == 0, errors
        # the health app leaves logging as the process set it up: JSON, redacted, every line
        lines = errors.decode().splitlines()
        assert lines
        for line in lines:
            assert isinstance(json.loads(line), dict), line
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
