"""Exports over HTTP: run now, download with the right headers, schedules, the calendar."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest_asyncio
from litestar.testing import AsyncTestClient

from api.app import SYNC_EXPORTS, create_app
from api.demo import load_demo
from domain import demo
from reporting.catalogue import ReportParameters
from reporting.export_worker import KEEP, ExportWorker
from tests.api.conftest import auth


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(
    database_url: str, pool: Any, tmp_path_factory: Any
) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app with its in-process worker, exporting under a temporary folder."""
    await load_demo(pool)
    root = tmp_path_factory.mktemp("exports")
    app = create_app(database_url, pool_size=10, run_projections=True, export_root=root)
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_run_now_then_download_the_file_and_its_manifest(live, tokens):
    reader = tokens["reader"]
    response = await live.post(
        "/exports",
        headers=auth(reader),
        json={
            "report": "commitments-status",
            "format": "csv",
            "parameters": {"as_of": "2022-07-01", "dialogue_id": str(demo.ESPD_ID)},
        },
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "succeeded" and run["row_count"] >= 2
    file = await live.get(f"/exports/{run['run_id']}/file", headers=auth(reader))
    assert file.status_code == 200
    assert file.headers["content-type"] == "text/csv; charset=utf-8"  # one charset, not two
    assert file.headers["content-disposition"] == f'attachment; filename="{run["file_name"]}"'
    assert hashlib.sha256(file.content).hexdigest() == run["sha256"]
    rows = list(csv.DictReader(io.StringIO(file.content.decode())))
    assert {r["party"] for r in rows} >= {"KZ", "US"}
    manifest = await live.get(f"/exports/{run['run_id']}/manifest", headers=auth(reader))
    assert manifest.json()["sha256"] == run["sha256"]
    assert manifest.json()["position"] == run["position"]
    listed = await live.get("/exports", headers=auth(reader))
    assert run["run_id"] in {r["run_id"] for r in listed.json()}


async def test_a_job_is_picked_up_by_the_worker(live, tokens):
    reader = tokens["reader"]
    response = await live.post(
        "/exports", headers=auth(reader), json={"report": "visits", "format": "xlsx", "mode": "job"}
    )
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    for _ in range(100):
        run = (await live.get(f"/exports/{run_id}", headers=auth(reader))).json()
        if run["status"] == "succeeded":
            break
        await asyncio.sleep(0.1)
    assert run["status"] == "succeeded"
    file = await live.get(f"/exports/{run_id}/file", headers=auth(reader))
    assert "spreadsheetml" in file.headers["content-type"]


async def test_an_on_demand_file_expires_and_the_run_says_so(live, tokens, pool):
    reader = tokens["reader"]
    made = await live.post(
        "/exports", headers=auth(reader), json={"report": "sessions", "format": "csv"}
    )
    assert made.status_code == 201, made.text
    run = made.json()
    finished = dt.datetime.fromisoformat(run["finished_at"])
    assert dt.datetime.fromisoformat(run["expires_at"]) - finished == KEEP == dt.timedelta(hours=24)
    root = Path(live.app.state.export_root)
    file = root / "on-demand" / run["file_name"]
    assert file.is_file()

    await pool.execute(  # a day later
        "UPDATE exports.runs SET expires_at = now() - interval '1 second' WHERE run_id = $1",
        uuid.UUID(run["run_id"]),
    )
    gone = await live.get(f"/exports/{run['run_id']}/file", headers=auth(reader))
    assert gone.status_code == 404, "due is gone, even before the sweep gets to it"
    worker = ExportWorker(pool, live.app.state.engine, live.app.state.database_url, root)
    assert await worker.retention.expire_on_demand() == 1
    assert not file.exists() and not (file.parent / f"{file.name}.manifest.json").exists()

    shown = await live.get(f"/exports/{run['run_id']}", headers=auth(reader))
    assert shown.status_code == 200
    assert shown.json()["status"] == "expired"
    assert shown.json()["sha256"] == run["sha256"]  # the record stays
    gone = await live.get(f"/exports/{run['run_id']}/file", headers=auth(reader))
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    problem = gone.json()
    assert problem["type"] == "urn:entente:problem:not-found"
    assert "expired" in problem["detail"] and "run the export again" in problem["detail"]
    assert problem["run_status"] == "expired"
    manifest = await live.get(f"/exports/{run['run_id']}/manifest", headers=auth(reader))
    assert manifest.status_code == 200 and manifest.json()["sha256"] == run["sha256"]


async def test_bad_export_requests(live, tokens, pool):
    reader = tokens["reader"]
    runs = await pool.fetchval("SELECT count(*) FROM exports.runs")
    for body, status in (
        ({"report": "nope", "format": "csv"}, 422),
        ({"report": "visits", "format": "pdf"}, 400),
        ({"report": "visits", "format": "csv", "parameters": {"x": 1}}, 400),
        ({"report": "visits", "format": "csv", "parameters": {"party": "XX"}}, 400),
        (
            {"report": "relationship-timeline", "format": "csv", "parameters": {"pair": "\u0000"}},
            400,
        ),
        ({"report": "relationship-timeline", "format": "csv", "parameters": {"pair": "KZ"}}, 400),
        (
            {
                "report": "dialogue-activity",
                "format": "csv",
                "parameters": {"year_from": 99999999999},
            },
            400,
        ),
    ):
        response = await live.post("/exports", headers=auth(reader), json=body)
        assert response.status_code in (status, 422), (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await pool.fetchval("SELECT count(*) FROM exports.runs") == runs  # none queued
    lower = await live.post(
        "/exports",
        headers=auth(reader),
        json={"report": "visits", "format": "ndjson", "parameters": {"party": "kz"}},
    )
    assert lower.status_code == 201, lower.text
    assert lower.json()["parameters"] == {"party": "KZ"}  # spelled as the read models store it
    missing = await live.get(f"/exports/{uuid.uuid4()}/file", headers=auth(reader))
    assert missing.status_code == 404


async def test_schedules_are_admin_only_validated_and_manageable(live, tokens):
    admin, reader = tokens["admin"], tokens["reader"]
    spec = {
        "name": "quarterly-commitments",
        "cron": "0 8 * 1,4,7,10 1#1",
        "timezone": "Asia/Almaty",
        "report": "commitments-status",
        "format": "xlsx",
        "destination": "quarterly",
        "retention": 8,
    }
    assert (await live.post("/schedules", headers=auth(reader), json=spec)).status_code == 403
    created = await live.post("/schedules", headers=auth(admin), json=spec)
    assert created.status_code == 201, created.text
    schedule = created.json()
    next_run = dt.datetime.fromisoformat(schedule["next_run_at"])
    assert next_run > dt.datetime.now(dt.UTC)  # the first Monday of a quarter, 08:00 Almaty
    assert (next_run.month in (1, 4, 7, 10), next_run.weekday(), next_run.day <= 7) == (
        True,
        0,
        True,
    )
    assert next_run.astimezone(ZoneInfo("Asia/Almaty")).time() == dt.time(8, 0)
    duplicate = await live.post("/schedules", headers=auth(admin), json=spec)
    assert duplicate.status_code == 409
    for field, value in [
        ("cron", "99 * * * *"),
        ("cron", "0 0 30 2 *"),
        ("cron", "* * * * * *"),
        ("timezone", "America"),
        ("timezone", "localtime"),
        ("timezone", "x" * 5000),
        ("name", "café"),  # names files: ASCII only, as the database holds it
        ("destination", "dést"),
        ("name", "٣٣"),
    ]:
        bad = await live.post(
            "/schedules", headers=auth(admin), json={**spec, "name": "bad", field: value}
        )
        assert bad.status_code == 422, (field, value, bad.text)
        assert bad.json()["type"] == "urn:entente:problem:invalid-schedule"
    paused = await live.put(
        f"/schedules/{schedule['schedule_id']}", headers=auth(admin), json={**spec, "paused": True}
    )
    assert paused.status_code == 200 and paused.json()["paused"] is True
    renamed = await live.put(
        f"/schedules/{schedule['schedule_id']}", headers=auth(admin), json={**spec, "name": "probé"}
    )
    assert renamed.status_code == 422, renamed.text
    listed = await live.get("/schedules", headers=auth(admin))
    assert [s["name"] for s in listed.json()] == ["quarterly-commitments"]
    gone = await live.delete(f"/schedules/{schedule['schedule_id']}", headers=auth(admin))
    assert gone.status_code == 204
    assert (
        await live.get(f"/schedules/{schedule['schedule_id']}", headers=auth(admin))
    ).status_code == 404


async def test_the_calendar_feed_carries_updates_and_cancellations(live, tokens, pool):
    reader, writer = tokens["reader"], tokens["writer"]
    made = await live.post("/calendar/tokens", headers=auth(reader), json={"name": "my phone"})
    assert made.status_code == 201, made.text
    feed_token = made.json()["token"]
    for _ in range(100):  # the in-process worker projects the demo
        feed = await live.get("/calendar.ics", params={"token": feed_token, "since": "2021-01-01"})
        if f"visit-{demo.TILEUBERDI_VISIT_ID}@entente".encode() in feed.content:
            break
        await asyncio.sleep(0.1)
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(feed.content)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    session_uid = f"session-{demo.ESPD_2022_SESSION_ID}@entente"
    assert session_uid in events
    before = int(str(events[session_uid]["SEQUENCE"]))

    state = await live.get(f"/dialogues/{demo.ESPD_ID}", headers=auth(reader))
    cancelled = await live.post(
        f"/dialogues/{demo.ESPD_ID}/sessions/{demo.ESPD_2022_SESSION_ID}/cancel",
        headers=auth(writer, **{"If-Match": state.headers["etag"]}),
        json={
            "dialogue_id": str(demo.ESPD_ID),
            "session_id": str(demo.ESPD_2022_SESSION_ID),
            "reason": "Postponed sine die by both sides",
        },
    )
    assert cancelled.status_code == 200, cancelled.text
    position = cancelled.headers["x-position"]
    feed = await live.get(
        "/calendar.ics",
        params={"token": feed_token, "after_position": position, "since": "2021-01-01"},
    )
    assert feed.status_code == 200, feed.text
    events = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(feed.content).walk("VEVENT")}
    assert session_uid in events, feed.text
    assert str(events[session_uid]["STATUS"]) == "CANCELLED"
    assert int(str(events[session_uid]["SEQUENCE"])) > before
    no_key = await live.get("/calendar.ics")
    assert no_key.status_code == 401
    bad_token = await live.get("/calendar.ics", params={"token": "cal_nope_nope"})
    assert bad_token.status_code == 401


def test_export_files_never_land_outside_the_export_root():
    from reporting.cron import InvalidSchedule
    from reporting.schedules import ScheduleSpec, validate

    for destination in ("../etc", "/tmp", ".staging", "a/b", ""):
        spec = ScheduleSpec(
            name="x",
            cron="0 8 * * *",
            timezone="UTC",
            report="visits",
            format="csv",
            destination=destination,
        )
        try:
            validate(spec)
        except InvalidSchedule:
            continue
        raise AssertionError(f"{destination!r} was accepted")
    assert Path("x").name == "x"


async def test_sync_exports_beyond_the_process_limit_are_429(
    live_app, concurrent_client, tokens, pool
):
    reader = auth(tokens["reader"])
    slots = live_app.state.export_slots
    for _ in range(SYNC_EXPORTS):  # as if that many exports were being produced now
        await slots.acquire()
    try:
        runs = await pool.fetchval("SELECT count(*) FROM exports.runs")
        busy = await concurrent_client.post(
            "/exports", headers=reader, json={"report": "visits", "format": "csv"}
        )
        assert busy.status_code == 429, busy.text
        assert busy.headers["retry-after"] == "5"
        assert busy.json()["type"] == "urn:entente:problem:too-many-requests"
        assert await pool.fetchval("SELECT count(*) FROM exports.runs") == runs
        job = await concurrent_client.post(
            "/exports", headers=reader, json={"report": "visits", "format": "csv", "mode": "job"}
        )
        assert job.status_code == 202, job.text  # a job waits its turn instead
    finally:
        for _ in range(SYNC_EXPORTS):
            slots.release()
    done = await concurrent_client.post(
        "/exports", headers=reader, json={"report": "visits", "format": "csv"}
    )
    assert done.status_code == 201, done.text


async def test_export_runs_page_back_with_before(live, tokens):
    reader = auth(tokens["reader"])
    for _ in range(3):
        made = await live.post(
            "/exports", headers=reader, json={"report": "visits", "format": "csv"}
        )
        assert made.status_code == 201, made.text
    everything = [
        r["run_id"] for r in (await live.get("/exports?limit=500", headers=reader)).json()
    ]
    assert len(everything) >= 3
    walked: list[str] = []
    before = None
    while True:
        query = "/exports?limit=2" + (f"&before={before}" if before else "")
        page = (await live.get(query, headers=reader)).json()
        walked += [r["run_id"] for r in page]
        if len(page) < 2:
            break
        before = page[-1]["run_id"]
    assert walked == everything
    unknown = await live.get(f"/exports?before={uuid.uuid4()}", headers=reader)
    assert unknown.status_code == 404, unknown.text


async def test_a_currency_in_any_case_means_the_same_money(live, tokens):
    """Spelled as stored before anything reads it: "usd" silently matched nothing."""
    assert ReportParameters(currency="usd").currency == "USD"
    reader = auth(tokens["reader"])
    body = {"report": "pledges", "format": "csv", "parameters": {"currency": "usd"}}
    made = await live.post("/exports", headers=reader, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["parameters"]["currency"] == "USD"
    upper = await live.get("/reports/pledges?currency=USD", headers=reader)
    lower = await live.get("/reports/pledges?currency=usd", headers=reader)
    assert upper.status_code == lower.status_code == 200, lower.text
    assert upper.json() == lower.json()
