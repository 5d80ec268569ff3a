"""Exports over HTTP: the report catalogue, runs (now or as jobs), files, manifests,
schedules (admin), and the calendar feed."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import Parameter
from msgspec.structs import replace
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import caller
from api.conditional import CALENDAR
from api.freshness import ReadYourWrites
from api.problems import problem, problem_responses
from api.read_models import party_filter
from reporting.calendar_feed import calendar_entries
from reporting.catalogue import CATALOGUE, ReportParameters
from reporting.cron import InvalidSchedule, next_runs
from reporting.export_worker import IN_PROGRESS_PER_KEY, KEEP, ExportWorker
from reporting.formats import CONTENT_TYPES, FORMATS, Column, write_calendar
from reporting.schedules import (
    Run,
    Schedule,
    ScheduleExists,
    ScheduleSpec,
    TooManyInProgress,
    create_schedule,
    delete_schedule,
    get_run,
    get_schedule,
    list_runs,
    list_schedules,
    replace_schedule,
    request_run,
)
from store.calendar_tokens import CalendarToken
from store.database import Pool

TAG = "exports"
READ = {"permission": "read"}
ADMIN = {"permission": "admin"}
ON_DEMAND = "on-demand"
BUSY_KEY_RETRY_AFTER = "10"
"""Seconds a key at its limit of exports in progress is told to wait (a typical job's)."""


class ReportInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A catalogue entry."""

    name: str
    title: str
    description: str
    parameters: list[str]
    formats: list[str]
    columns: list[Column]
    """In file order, each with its logical type (a decimal with its fixed scale, the
    Parquet decimal128(38, scale)); `text_list` is a list in NDJSON and Parquet and its
    items joined by "; " in CSV and XLSX."""


class ExportRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Run a report now: `sync` waits for the file, `job` leaves it to the worker."""

    report: str
    format: Literal["csv", "ndjson", "xlsx", "parquet"]
    parameters: ReportParameters = msgspec.field(default_factory=ReportParameters)
    mode: Literal["sync", "job"] = "sync"


def media_type(fmt: str) -> str:
    """A format's content type without its charset: Litestar appends `charset=utf-8` to
    every text/ type itself, and two charset parameters make the header invalid."""
    return CONTENT_TYPES[fmt].split(";")[0]


@dataclass
class ExportFileOperation(Operation):
    """The file route's OpenAPI operation: its 200 is one of each format's content types."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            binary = Schema(type=OpenAPIType.STRING, format=None, content_media_type=None)
            ok.content = {
                media_type(fmt): OpenAPIMediaType(schema=binary) for fmt in sorted(FORMATS)
            }


@get(
    "/reports/catalogue",
    summary="Reports that can be exported",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403),
)
async def catalogue() -> list[ReportInfo]:
    """Names, documented parameters, formats and the columns every file has, typed."""
    return [
        ReportInfo(
            name=r.name,
            title=r.title,
            description=r.description,
            parameters=list(r.parameters),
            formats=list(FORMATS),
            columns=list(r.columns),
        )
        for r in CATALOGUE.values()
    ]


@post(
    "/exports",
    summary="Run a report now (sync) or as a job",
    tags=[TAG],
    opt=READ,
    status_code=201,
    response_headers=[
        ResponseHeader(name="Location", description="The run", documentation_only=True)
    ],
    responses={
        202: ResponseSpec(
            data_container=Run,
            generate_examples=False,
            description="Accepted as a job (`mode: job`): the run is queued for a worker; "
            "follow Location to see it finish",
        ),
        **problem_responses(400, 401, 403, 413, 422, 429),
    },
)
async def run_export(
    request: Request[Any, Any, Any],
    data: ExportRequest,
    pool: Pool,
    engine: AsyncEngine,
    database_url: str,
    export_root: Path,
    export_slots: asyncio.Semaphore,
) -> Response[Run]:
    """201 with the finished run (sync), or 202 with the queued run (job).

    Each API key may have at most ENTENTE_EXPORT_JOBS_PER_KEY (default 4) exports queued
    or running at once, in either mode; beyond that the answer is 429 with `Retry-After`
    and nothing is written. The file of such a run is kept ENTENTE_EXPORT_KEEP_HOURS
    (default 24) after it succeeded (`expires_at`), then removed: the run shows as
    `expired`.
    """
    if data.report not in CATALOGUE:
        raise problem(
            422, f"no report {data.report!r}; see /reports/catalogue", kind="invalid-value"
        )
    key = caller(request).name
    asked = (data.report, data.parameters, data.format, ON_DEMAND)
    try:
        if data.mode == "job":
            run = await request_run(
                pool, *asked, requested_by=key, in_progress_limit=IN_PROGRESS_PER_KEY
            )
            return Response(run, status_code=202, headers={"Location": f"/exports/{run.run_id}"})
        if export_slots.locked():
            raise problem(
                429,
                "as many exports as this process produces at once are running; retry, or"
                ' send {"mode": "job"}',
                headers={"Retry-After": "5"},
            )
        async with export_slots:
            worker = ExportWorker(pool, engine, database_url, export_root)
            run_id = await worker.run_now(
                *asked, requested_by=key, in_progress_limit=IN_PROGRESS_PER_KEY
            )
    except TooManyInProgress as busy:
        raise problem(
            429,
            f"key {key!r} has {busy.in_progress} exports queued or running, as many as a key"
            f" may ({busy.limit}); retry when one has finished (GET /exports/{{id}})",
            headers={"Retry-After": BUSY_KEY_RETRY_AFTER},
            in_progress=busy.in_progress,
            limit=busy.limit,
        ) from None
    finished = await get_run(pool, run_id)
    assert finished is not None
    if finished.status != "succeeded":
        raise problem(
            422,
            f"the export failed: {finished.error}",
            kind="export-failed",
            run_id=str(run_id),
        )
    return Response(finished, status_code=201, headers={"Location": f"/exports/{run_id}"})


@get(
    "/exports",
    summary="Export runs, newest first",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 404),
)
async def runs(
    pool: Pool,
    schedule_id: uuid.UUID | None = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    before: Annotated[
        uuid.UUID | None, Parameter(description="the last run_id of the previous page")
    ] = None,
) -> list[Run]:
    """Scheduled and on-demand runs with status, timings, rows, checksum and error. To
    page back through older runs, pass the last `run_id` of a page as `before`; a page
    shorter than `limit` is the last."""
    found = await list_runs(pool, schedule_id, limit, before)
    if found is None:
        raise problem(404, f"no export run {before} to page from")
    return found


def _expired(run_id: uuid.UUID, run: Run) -> Exception:
    when = f" at {run.expires_at.isoformat()}" if run.expires_at else ""
    keep = KEEP.total_seconds() / 3600
    return problem(
        404,
        f"run {run_id} has expired{when} and its file was removed (on-demand files are kept"
        f" {keep:g} hours, a schedule's newest `retention` files); run the export again",
        run_status="expired",
    )


def _has_expired(run: Run) -> bool:
    """Expired, or due to be: the worker's sweep marks it within a minute or so."""
    return run.status == "expired" or (
        run.status == "succeeded"
        and run.expires_at is not None
        and run.expires_at <= dt.datetime.now(dt.UTC)
    )


async def _finished_run(pool: Pool, run_id: uuid.UUID) -> Run:
    run = await get_run(pool, run_id)
    if run is None:
        raise problem(404, f"no export run {run_id}")
    if _has_expired(run):
        raise _expired(run_id, run)
    if run.status != "succeeded" or run.file_name is None:
        raise problem(
            409, f"run {run_id} is {run.status}; its file is not available", kind="not-ready"
        )
    return run


@get(
    "/exports/{run_id:uuid}",
    summary="One export run",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 404),
)
async def one_run(pool: Pool, run_id: uuid.UUID) -> Run:
    """Its status and, once done, its manifest; an on-demand run's `expires_at` says when
    its file goes, after which its status is `expired`."""
    run = await get_run(pool, run_id)
    if run is None:
        raise problem(404, f"no export run {run_id}")
    return run


@get(
    "/exports/{run_id:uuid}/file",
    summary="Download a run's file",
    tags=[TAG],
    opt=READ,
    media_type="application/octet-stream",
    operation_class=ExportFileOperation,
    response_headers=[
        ResponseHeader(
            name="Content-Disposition",
            description='`attachment; filename="…"`: the run\'s file name',
            documentation_only=True,
        ),
        ResponseHeader(
            name="X-Content-SHA256",
            description="The file's SHA-256, as its manifest states it",
            documentation_only=True,
        ),
    ],
    responses=problem_responses(400, 401, 403, 404, 409),
)
async def run_file(pool: Pool, export_root: Path, run_id: uuid.UUID) -> Response[bytes]:
    """With its content type and an attachment Content-Disposition. An expired run's file
    is gone: 404 saying so (GET /exports/{run_id} shows `status: expired`)."""
    run = await _finished_run(pool, run_id)
    path = export_root / run.destination / str(run.file_name)
    if not path.is_file():
        raise problem(404, f"the file of run {run_id} is no longer on disk")
    return Response(
        path.read_bytes(),
        media_type=media_type(run.format),
        headers={
            "Content-Disposition": f'attachment; filename="{run.file_name}"',
            "X-Content-SHA256": str(run.sha256),
        },
    )


@get(
    "/exports/{run_id:uuid}/manifest",
    summary="A run's manifest",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 404, 409),
)
async def run_manifest(pool: Pool, run_id: uuid.UUID) -> dict[str, Any]:
    """Report, parameters, format, position, rows, SHA-256, generated at, version; kept
    (in the database) after the run's file has expired."""
    run = await get_run(pool, run_id)
    if run is None:
        raise problem(404, f"no export run {run_id}")
    if run.manifest is None or run.status not in ("succeeded", "expired"):
        raise problem(
            409, f"run {run_id} is {run.status}; it has no manifest yet", kind="not-ready"
        )
    return run.manifest


def _spec_problem(error: InvalidSchedule) -> Exception:
    return problem(422, str(error), kind="invalid-schedule")


def _name_taken(spec: ScheduleSpec) -> Exception:
    return problem(409, f"a schedule named {spec.name!r} exists", kind="already-exists")


@post(
    "/schedules",
    summary="Create an export schedule",
    tags=[TAG],
    opt=ADMIN,
    responses=problem_responses(400, 401, 403, 409, 413, 422),
)
async def new_schedule(pool: Pool, data: ScheduleSpec) -> Response[Schedule]:
    """Cron (validated) in an IANA time zone; files go to <export root>/<destination>/."""
    try:
        schedule = await create_schedule(pool, data, dt.datetime.now(dt.UTC))
    except InvalidSchedule as error:
        raise _spec_problem(error) from None
    except ScheduleExists:
        raise _name_taken(data) from None
    return Response(
        schedule, status_code=201, headers={"Location": f"/schedules/{schedule.schedule_id}"}
    )


@get(
    "/schedules",
    summary="Export schedules",
    tags=[TAG],
    opt=ADMIN,
    responses=problem_responses(401, 403),
)
async def schedules(pool: Pool) -> list[Schedule]:
    """By name, with their next run."""
    return await list_schedules(pool)


@get(
    "/schedules/{schedule_id:uuid}",
    summary="One schedule",
    tags=[TAG],
    opt=ADMIN,
    responses=problem_responses(400, 401, 403, 404),
)
async def one_schedule(
    pool: Pool,
    schedule_id: uuid.UUID,
    upcoming: Annotated[int, Parameter(ge=0, le=100)] = 0,
) -> Schedule:
    """With its next run time and the `upcoming` run instants from it on (UTC; their
    local times show what daylight saving time will do)."""
    found = await get_schedule(pool, schedule_id)
    if found is None:
        raise problem(404, f"no schedule {schedule_id}")
    just_before = found.next_run_at - dt.timedelta(microseconds=1)
    runs = next_runs(found.cron, found.timezone, just_before, upcoming) if upcoming else []
    return replace(found, upcoming=runs)


@put(
    "/schedules/{schedule_id:uuid}",
    summary="Update (or pause) a schedule",
    tags=[TAG],
    opt=ADMIN,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def update_schedule(pool: Pool, schedule_id: uuid.UUID, data: ScheduleSpec) -> Schedule:
    """Replace every field; `paused: true` pauses it. The next run is recomputed."""
    try:
        found = await replace_schedule(pool, schedule_id, data, dt.datetime.now(dt.UTC))
    except InvalidSchedule as error:
        raise _spec_problem(error) from None
    except ScheduleExists:
        raise _name_taken(data) from None
    if found is None:
        raise problem(404, f"no schedule {schedule_id}")
    return found


@delete(
    "/schedules/{schedule_id:uuid}",
    summary="Delete a schedule",
    tags=[TAG],
    opt=ADMIN,
    status_code=204,
    responses=problem_responses(400, 401, 403, 404),
)
async def remove_schedule(pool: Pool, schedule_id: uuid.UUID) -> None:
    """Its past runs and files stay."""
    if not await delete_schedule(pool, schedule_id):
        raise problem(404, f"no schedule {schedule_id}")


@get(
    "/calendar.ics",
    summary="iCalendar feed of sessions and visits",
    tags=[TAG],
    opt={"permission": "feed", "cache_control": CALENDAR},
    media_type="text/calendar",
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def calendar_feed(
    request: Request[Any, Any, Any],
    read_engine: AsyncEngine,
    read_your_writes: ReadYourWrites,
    party: str | None = None,
    token: str | None = None,
    since: dt.date | None = None,
    after_position: str | None = None,
) -> Response[bytes]:
    """Subscribe with `…/calendar.ics?token=<calendar token>` (POST /calendar/tokens);
    cancellations come through. A token made for one party shows only that party's feed.
    An API key is accepted only as `Authorization: Bearer`, never in the URL (401).

    Items ending after `since` (default: 90 days ago) are included, cancelled ones too.
    """
    scope: CalendarToken | None = request.scope["state"].get("calendar_token")
    code = party_filter(party)
    if scope is not None and scope.party is not None:
        if code not in (None, scope.party):
            raise problem(403, f"this calendar token is for party {scope.party}'s feed only")
        code = scope.party
    await read_your_writes.read_models(after_position)
    since = since or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=90)
    async with read_engine.connect() as connection:
        entries = await calendar_entries(connection, since, code)
    return Response(
        write_calendar("Entente: sessions and visits", entries), media_type=media_type("ics")
    )


routes = [
    catalogue,
    run_export,
    runs,
    one_run,
    run_file,
    run_manifest,
    new_schedule,
    schedules,
    one_schedule,
    update_schedule,
    remove_schedule,
    calendar_feed,
]
