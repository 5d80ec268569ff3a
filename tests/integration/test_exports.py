"""Exports: reproducible at a position, scheduled once across workers, whole or absent."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest_asyncio
from openpyxl import load_workbook

from api.demo import load_demo
from domain import commands as c
from domain import demo
from domain.facts import Progress
from projections.registry import create_engine
from reporting.catalogue import CATALOGUE, ReportParameters
from reporting.export_worker import ExportWorker
from reporting.exporting import deliver, produce
from reporting.schedules import ScheduleSpec, create_schedule, request_run
from reporting.snapshot import current_position, drop_stale_snapshots
from service.handling import handle
from store import EventStore
from store.database import create_pool

ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def engine(database_url: str, pool: Any) -> AsyncIterator[Any]:
    await load_demo(pool)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_every_report_in_every_format_opens_with_its_reader(engine, pool, database_url):
    store = EventStore(pool)
    position = await current_position(store)
    for name in CATALOGUE:
        for fmt in ("csv", "ndjson", "xlsx", "parquet"):
            export = await produce(
                engine, store, database_url, name, ReportParameters(), fmt, position
            )
            rows = export.manifest.row_count
            assert export.manifest.sha256 == hashlib.sha256(export.content).hexdigest()
            if fmt == "csv":
                assert len(list(csv.reader(io.StringIO(export.content.decode())))) == rows + 1
            elif fmt == "ndjson":
                assert len(export.content.splitlines()) == rows
            elif fmt == "xlsx":
                sheet = load_workbook(io.BytesIO(export.content)).active
                assert sheet.max_row == rows + 1
            else:
                assert pq.read_table(io.BytesIO(export.content)).num_rows == rows


async def test_sessions_export_holds_the_article_with_types(engine, pool, database_url):
    store = EventStore(pool)
    export = await produce(
        engine, store, database_url, "sessions", ReportParameters(party="KZ"), "parquet"
    )
    table = pq.read_table(io.BytesIO(export.content)).to_pylist()
    held = next(r for r in table if r["session_id"] == str(demo.ESPD_2021_SESSION_ID))
    assert str(held["held_from"]) == "2021-12-15"
    assert held["place_city"] == "Nur-Sultan"
    assert "Afreen Akhter" in json.dumps(held["members"])


async def test_two_exports_at_one_position_are_byte_identical(engine, pool, database_url):
    store = EventStore(pool)
    position = await current_position(store)
    first = {
        fmt: await produce(
            engine, store, database_url, "outcomes", ReportParameters(), fmt, position
        )
        for fmt in ("csv", "ndjson")
    }
    await handle(
        store,
        c.RecordProgress(
            dialogue_id=demo.ESPD_ID,
            outcome_id=demo.OUTCOME_HLDDR_PREPARATIONS,
            progress_id=uuid.uuid4(),
            progress=Progress(note="Working group met"),
        ),
    )
    for fmt, earlier in first.items():
        again = await produce(
            engine, store, database_url, "outcomes", ReportParameters(), fmt, position
        )
        assert again.content == earlier.content
        assert again.manifest.sha256 == earlier.manifest.sha256
        assert again.manifest.file_name == earlier.manifest.file_name
        now = await produce(engine, store, database_url, "outcomes", ReportParameters(), fmt)
        assert now.content != earlier.content, "the later position sees the new progress"


async def test_a_delivered_file_matches_its_manifest(engine, pool, database_url, tmp_path):
    export = await produce(
        engine,
        EventStore(pool),
        database_url,
        "commitments-status",
        ReportParameters(as_of=dt.date(2022, 7, 1)),
        "csv",
    )
    path = deliver(export, tmp_path / "quarterly")
    manifest = json.loads((tmp_path / "quarterly" / f"{path.name}.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["row_count"] == export.manifest.row_count >= 2
    assert manifest["report"] == "commitments-status"
    assert manifest["parameters"] == {"as_of": "2022-07-01"}
    assert not list((tmp_path / ".staging").glob("*"))


async def _due_schedule(pool: Any, name: str) -> uuid.UUID:

    schedule = await create_schedule(
        pool,
        ScheduleSpec(
            name=name,
            cron="0 8 * * *",
            timezone="Asia/Almaty",
            report="commitments-status",
            format="csv",
            destination=name,
        ),
        dt.datetime.now(dt.UTC),
    )
    await pool.execute(
        "UPDATE exports.schedules SET next_run_at = now() - interval '1 minute'"
        " WHERE schedule_id = $1",
        schedule.schedule_id,
    )
    return schedule.schedule_id


async def test_two_workers_racing_run_each_due_run_once(engine, pool, database_url, tmp_path):
    schedule_id = await _due_schedule(pool, "race")
    pools = [await create_pool(database_url, max_size=4) for _ in range(2)]
    workers = [ExportWorker(p, engine, database_url, tmp_path) for p in pools]
    try:
        for _ in range(3):
            await asyncio.gather(*(w.step() for w in workers for _ in range(2)))
    finally:
        for p in pools:
            await p.close()
    runs = await pool.fetch(
        "SELECT status, attempts, claimed_by FROM exports.runs WHERE schedule_id = $1", schedule_id
    )
    assert [(r["status"], r["attempts"]) for r in runs] == [("succeeded", 1)]
    files = [p for p in (tmp_path / "race").iterdir() if not p.name.endswith(".json")]
    assert len(files) == 1
    next_run = await pool.fetchval(
        "SELECT next_run_at > now() FROM exports.schedules WHERE schedule_id = $1", schedule_id
    )
    assert next_run


async def test_a_worker_killed_mid_export_leaves_no_partial_file_and_the_run_completes(
    engine, pool, database_url, tmp_path
):
    schedule_id = await _due_schedule(pool, "killed")
    env = {**os.environ, "ENTENTE_EXPORT_DIR": str(tmp_path), "ENTENTE_EXPORT_LEASE_SECONDS": "2"}
    slow = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--database-url", database_url, "worker"],
        cwd=ROOT,
        env={**env, "ENTENTE_FAULT_PAUSE_BEFORE_RENAME": "30"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = tmp_path / ".staging"
    deadline = time.monotonic() + 60
    try:
        while not (staging.is_dir() and list(staging.glob("*.partial"))):
            assert time.monotonic() < deadline, "the worker never started writing"
            await asyncio.sleep(0.1)
    finally:  # killed mid-export on purpose, or because the test failed: never left running
        slow.send_signal(signal.SIGKILL)
        slow.wait(timeout=10)
    destination = tmp_path / "killed"
    assert not destination.exists() or not list(destination.iterdir())
    status = await pool.fetchval(
        "SELECT status FROM exports.runs WHERE schedule_id = $1", schedule_id
    )
    assert status == "running"

    healthy = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--database-url", database_url, "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            run = await pool.fetchrow(
                "SELECT status, attempts, file_name, sha256 FROM"
                " exports.runs WHERE schedule_id = $1",
                schedule_id,
            )
            if run["status"] == "succeeded":
                break
            assert time.monotonic() < deadline, f"the run was not retried: {dict(run)}"
            await asyncio.sleep(0.2)
    finally:
        healthy.terminate()
        healthy.wait(timeout=10)
    assert run["attempts"] == 2
    written = (destination / run["file_name"]).read_bytes()
    assert hashlib.sha256(written).hexdigest() == run["sha256"]
    assert not list(staging.glob("*.partial"))


async def test_a_failing_run_is_recorded_and_retried_with_backoff(
    engine, pool, database_url, tmp_path
):
    run_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO exports.runs (run_id, report, parameters, format, destination, due_at,"
        " status, next_attempt_at) VALUES ($1, 'no-such-report', '{}', 'csv', 'broken',"
        " now(), 'due', now())",
        run_id,
    )
    worker = ExportWorker(pool, engine, database_url, tmp_path)
    assert await worker.step()
    run = await pool.fetchrow(
        "SELECT status, attempts, error, next_attempt_at - now() AS wait"
        " FROM exports.runs WHERE run_id = $1",
        run_id,
    )
    assert (run["status"], run["attempts"]) == ("retrying", 1)
    assert "no-such-report" in run["error"]
    assert dt.timedelta(seconds=25) < run["wait"] <= dt.timedelta(seconds=30)
    assert not await worker.step(), "not retried before its backoff"
    for _attempt in range(2, 6):
        await pool.execute(
            "UPDATE exports.runs SET next_attempt_at = now() WHERE run_id = $1", run_id
        )
        assert await worker.step()
    final = await pool.fetchrow(
        "SELECT status, attempts, finished_at FROM exports.runs WHERE run_id = $1", run_id
    )
    assert (final["status"], final["attempts"]) == ("failed", 5)
    assert final["finished_at"] is not None


async def test_a_stored_schedule_that_can_no_longer_run_is_paused_not_fatal(
    engine, pool, database_url, tmp_path
):
    """A row written before today's checks (or whose zone left the zone database) must not
    stop the worker: its due run is made once, then the schedule is paused."""
    broken = await _due_schedule(pool, "broken")
    fine = await _due_schedule(pool, "fine")
    await pool.execute(
        "UPDATE exports.schedules SET cron = '0 0 30 2 *' WHERE schedule_id = $1", broken
    )
    worker = ExportWorker(pool, engine, database_url, tmp_path)
    assert await worker.schedule_due_runs() == 2
    rows = {
        r["schedule_id"]: r
        for r in await pool.fetch("SELECT schedule_id, paused, next_run_at FROM exports.schedules")
    }
    assert rows[broken]["paused"] is True
    assert rows[fine]["paused"] is False and rows[fine]["next_run_at"] > dt.datetime.now(dt.UTC)


async def test_snapshots_left_by_a_dead_export_are_dropped_and_live_ones_kept(engine, pool):
    async def snapshot(tag: str, age: dt.timedelta) -> None:
        await pool.execute("SELECT projection_state.create_work_schema($1)", f"snapshot_{tag}")
        await pool.execute(
            "INSERT INTO projection_state.checkpoints (projection, transaction_id, position,"
            " events_applied, updated_at, state)"
            " VALUES ($1, 0, 0, 0, now() - $2::interval, 'snapshot')",
            f"snapshot-{tag}:dialogues",
            age,
        )

    await snapshot("0123456789ab", dt.timedelta(hours=2))  # its export died
    await snapshot("ba9876543210", dt.timedelta(seconds=1))  # its export is running
    assert await drop_stale_snapshots(engine) == 1
    schemas = {
        r["nspname"]
        for r in await pool.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'snapshot_%'"
        )
    }
    assert schemas == {"snapshot_ba9876543210"}
    left = await pool.fetch(
        "SELECT projection FROM projection_state.checkpoints WHERE state = 'snapshot'"
    )
    assert [r["projection"] for r in left] == ["snapshot-ba9876543210:dialogues"]
    await pool.execute("DROP SCHEMA snapshot_ba9876543210")
    await pool.execute("DELETE FROM projection_state.checkpoints WHERE state = 'snapshot'")


async def test_a_run_held_from_the_start_is_never_taken_by_a_worker(
    engine, pool, database_url, tmp_path
):
    """The API's sync export: a worker polling at that moment must not take it over (it did,
    and the API then answered "export failed" for a run that was still being produced)."""
    held = await request_run(
        pool,
        "visits",
        ReportParameters(),
        "csv",
        "on-demand",
        held_by=("api-process", dt.timedelta(minutes=10)),
    )
    assert (held.status, held.attempts) == ("running", 1)
    worker = ExportWorker(pool, engine, database_url, tmp_path)
    while (claimed := await worker.claim()) is not None:  # take whatever else is due
        assert claimed.run_id != held.run_id
    holder = await pool.fetchval(
        "SELECT claimed_by FROM exports.runs WHERE run_id = $1", held.run_id
    )
    assert holder == "api-process"


async def _no_runs_waiting(pool: Any) -> None:
    """Earlier tests' runs left waiting (a held one, a failing one) are not this test's."""
    await pool.execute(
        "UPDATE exports.runs SET status = 'failed', lease_until = NULL"
        " WHERE status IN ('due', 'retrying', 'running')"
    )


async def _wait_for(condition: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_an_on_demand_file_expires_in_the_worker_loop_and_its_row_stays(
    engine, pool, database_url, tmp_path
):
    await _no_runs_waiting(pool)
    schedule_id = await _due_schedule(pool, "kept")
    worker = ExportWorker(
        pool, engine, database_url, tmp_path, keep=dt.timedelta(hours=3), sweep_seconds=0.05
    )
    asked = await request_run(pool, "visits", ReportParameters(), "csv", "on-demand")
    while await worker.step():
        pass
    rows = {
        r["run_id"]: r
        for r in await pool.fetch(
            "SELECT run_id, schedule_id, status, file_name, destination,"
            " expires_at - finished_at AS kept FROM exports.runs"
            " WHERE run_id = $1 OR schedule_id = $2",
            asked.run_id,
            schedule_id,
        )
    }
    on_demand = rows.pop(asked.run_id)
    [scheduled] = rows.values()
    assert (on_demand["status"], on_demand["kept"]) == ("succeeded", dt.timedelta(hours=3))
    assert (scheduled["status"], scheduled["kept"]) == ("succeeded", None)
    file = tmp_path / "on-demand" / on_demand["file_name"]
    assert file.is_file() and (file.parent / f"{file.name}.manifest.json").is_file()

    assert await worker.retention.expire_on_demand() == 0, "not before it expires"
    await pool.execute(
        "UPDATE exports.runs SET expires_at = now() - interval '1 second' WHERE run_id = $1",
        asked.run_id,
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run(stop, idle_wait=0.05))
    try:

        async def expired() -> bool:
            status = await pool.fetchval(
                "SELECT status FROM exports.runs WHERE run_id = $1", asked.run_id
            )
            return bool(status == "expired")

        await _wait_for(expired)
    finally:
        stop.set()
        await loop
    assert not file.exists() and not (file.parent / f"{file.name}.manifest.json").exists()
    kept = tmp_path / "kept" / scheduled["file_name"]
    assert kept.is_file(), "a schedule's files follow its retention, not the on-demand expiry"
    row = await pool.fetchrow(
        "SELECT status, sha256, manifest IS NOT NULL AS has_manifest FROM exports.runs"
        " WHERE run_id = $1",
        asked.run_id,
    )
    assert row["status"] == "expired" and row["sha256"] and row["has_manifest"]


async def test_several_workers_sweeping_expire_each_run_once(engine, pool, database_url, tmp_path):
    folder = tmp_path / "on-demand"
    folder.mkdir()
    run_ids = [uuid.uuid4() for _ in range(30)]
    for n, run_id in enumerate(run_ids):
        (folder / f"sweep-{n}.csv").write_text("x\n")
        (folder / f"sweep-{n}.csv.manifest.json").write_text("{}")
        await pool.execute(
            "INSERT INTO exports.runs (run_id, report, parameters, format, destination, due_at,"
            " status, next_attempt_at, finished_at, file_name, expires_at) VALUES ($1, 'visits',"
            " '{}', 'csv', 'on-demand', now(), 'succeeded', now(), now(), $2,"
            " now() - interval '1 minute')",
            run_id,
            f"sweep-{n}.csv",
        )
    pools = [await create_pool(database_url, max_size=2) for _ in range(3)]
    try:
        workers = [ExportWorker(p, engine, database_url, tmp_path) for p in pools]
        counts = await asyncio.gather(*(w.retention.expire_on_demand(batch=4) for w in workers))
    finally:
        for p in pools:
            await p.close()
    assert sum(counts) == len(run_ids), counts
    statuses = await pool.fetch(
        "SELECT DISTINCT status FROM exports.runs WHERE run_id = ANY($1)", run_ids
    )
    assert [r["status"] for r in statuses] == ["expired"]
    assert not list(folder.glob("sweep-*"))


async def test_a_file_two_runs_share_stays_until_the_last_of_them_expires(
    engine, pool, database_url, tmp_path
):
    await _no_runs_waiting(pool)
    worker = ExportWorker(pool, engine, database_url, tmp_path)
    first = await request_run(pool, "outcomes", ReportParameters(), "ndjson", "on-demand")
    second = await request_run(pool, "outcomes", ReportParameters(), "ndjson", "on-demand")
    while await worker.step():
        pass
    names = await pool.fetch(
        "SELECT DISTINCT file_name FROM exports.runs WHERE run_id IN ($1, $2)",
        first.run_id,
        second.run_id,
    )
    [name] = [r["file_name"] for r in names]  # one position: one file
    file = tmp_path / "on-demand" / name
    await pool.execute(
        "UPDATE exports.runs SET expires_at = now() - interval '1 second' WHERE run_id = $1",
        first.run_id,
    )
    assert await worker.retention.expire_on_demand() == 1
    assert file.is_file(), "the second run still serves it"
    await pool.execute(
        "UPDATE exports.runs SET expires_at = now() - interval '1 second' WHERE run_id = $1",
        second.run_id,
    )
    assert await worker.retention.expire_on_demand() == 1
    assert not file.exists()


async def test_a_schedule_keeps_the_file_its_newest_run_shares_with_an_expired_one(
    engine, pool, database_url, tmp_path
):
    """A quiet register: two runs of a schedule at one position write one file; retention
    1 expires the older run, and must not take the newer run's file with it."""
    schedule_id = await _due_schedule(pool, "quiet")
    await pool.execute(
        "UPDATE exports.schedules SET retention = 1 WHERE schedule_id = $1", schedule_id
    )
    worker = ExportWorker(pool, engine, database_url, tmp_path)
    for again in (True, False):
        while await worker.step():
            pass
        if again:
            await pool.execute(
                "UPDATE exports.schedules SET next_run_at = now() - interval '1 minute'"
                " WHERE schedule_id = $1",
                schedule_id,
            )
    runs = await pool.fetch(
        "SELECT status, file_name FROM exports.runs WHERE schedule_id = $1 ORDER BY due_at",
        schedule_id,
    )
    assert [r["status"] for r in runs] == ["expired", "succeeded"]
    assert runs[0]["file_name"] == runs[1]["file_name"]
    assert (tmp_path / "quiet" / runs[1]["file_name"]).is_file()


async def test_a_run_finishing_as_a_sweep_removes_its_shared_file_writes_it_again(
    engine, pool, database_url, tmp_path, monkeypatch
):
    """A sweep decides under the file's lock that no succeeded run names the file, while a
    run at the same position has just delivered it and not yet recorded its success."""
    from reporting import export_worker

    await _no_runs_waiting(pool)
    worker = ExportWorker(pool, engine, database_url, tmp_path)
    old = await request_run(pool, "sessions", ReportParameters(), "csv", "on-demand")
    while await worker.step():
        pass
    name = await pool.fetchval("SELECT file_name FROM exports.runs WHERE run_id = $1", old.run_id)
    await pool.execute(
        "UPDATE exports.runs SET expires_at = now() - interval '1 second' WHERE run_id = $1",
        old.run_id,
    )
    new = await request_run(pool, "sessions", ReportParameters(), "csv", "on-demand")
    delivered = deliver

    sweeps: list[int] = []

    def deliver_then_sweep_meanwhile(export: Any, folder: Path) -> Path:
        path = delivered(export, folder)
        if not sweeps:  # the first delivery only: the sweep removes what it just wrote
            swept = asyncio.run_coroutine_threadsafe(worker.retention.expire_on_demand(), loop)
            sweeps.append(swept.result(timeout=30))
        return path

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(export_worker, "deliver", deliver_then_sweep_meanwhile)
    assert await worker.step()
    run = await pool.fetchrow(
        "SELECT status, file_name, sha256 FROM exports.runs WHERE run_id = $1", new.run_id
    )
    assert sweeps == [1]
    assert (run["status"], run["file_name"]) == ("succeeded", name)
    file = tmp_path / "on-demand" / name
    assert hashlib.sha256(file.read_bytes()).hexdigest() == run["sha256"]
    assert (file.parent / f"{file.name}.manifest.json").is_file()
