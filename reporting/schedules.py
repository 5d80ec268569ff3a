"""Export schedules and their runs, in PostgreSQL (asyncpg)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import msgspec

from reporting.catalogue import CATALOGUE, ReportParameters
from reporting.cron import InvalidSchedule, check, next_runs
from reporting.formats import FORMATS

Format = Literal["csv", "ndjson", "xlsx", "parquet"]


class ScheduleSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an admin sends to create or replace a schedule."""

    name: str
    cron: str
    timezone: str
    report: str
    format: Format
    destination: str
    retention: int = 10
    parameters: ReportParameters = msgspec.field(default_factory=ReportParameters)
    paused: bool = False


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """A stored schedule, with when it next runs."""

    schedule_id: uuid.UUID
    name: str
    cron: str
    timezone: str
    report: str
    format: str
    destination: str
    retention: int
    parameters: dict[str, Any]
    paused: bool
    next_run_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    upcoming: list[dt.datetime] = msgspec.field(default_factory=list)
    """The next run instants (UTC), when asked for: DST shows before it happens."""


class Run(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of a report, scheduled or on demand."""

    run_id: uuid.UUID
    schedule_id: uuid.UUID | None
    report: str
    parameters: dict[str, Any]
    format: str
    destination: str
    due_at: dt.datetime
    status: str
    attempts: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    position: str | None
    row_count: int | None
    sha256: str | None
    file_name: str | None
    manifest: dict[str, Any] | None
    error: str | None
    expires_at: dt.datetime | None = None
    """When an on-demand run's file is removed (ENTENTE_EXPORT_KEEP_HOURS after it
    succeeded); its status then becomes `expired`. None for scheduled runs, whose
    schedule keeps its newest `retention` files."""


class TooManyInProgress(Exception):
    """The requesting key already has as many exports queued or running as it may."""

    def __init__(self, requested_by: str, in_progress: int, limit: int) -> None:
        super().__init__(
            f"key {requested_by!r} has {in_progress} exports in progress (limit {limit})"
        )
        self.requested_by = requested_by
        self.in_progress = in_progress
        self.limit = limit


class ScheduleExists(Exception):
    """Another schedule has that name (names are unique: the CLI addresses schedules by it)."""


@contextmanager
def _unique_name(name: str) -> Iterator[None]:
    """Turn the unique index's refusal of a taken name into ScheduleExists."""
    try:
        yield
    except Exception as error:
        if getattr(error, "sqlstate", None) == "23505":
            raise ScheduleExists(name) from None
        raise


SIMPLE_NAME = re.compile(r"(?!\.)[A-Za-z0-9_.-]{1,64}")
"""A schedule's name and destination: they name files and directories, and the database
holds them to the same ASCII rule."""


def validate(spec: ScheduleSpec) -> None:
    """Refuse what could never run: bad cron or zone, unknown report, silly destination."""
    check(spec.cron, spec.timezone)
    if spec.report not in CATALOGUE:
        raise InvalidSchedule(f"no report {spec.report!r}; there are {', '.join(CATALOGUE)}")
    if spec.format not in FORMATS:
        raise InvalidSchedule(f"no format {spec.format!r}")
    for text, what in ((spec.name, "name"), (spec.destination, "destination")):
        if not SIMPLE_NAME.fullmatch(text):
            raise InvalidSchedule(
                f"{what} must be 1-64 ASCII letters, digits, '_', '.' or '-', not starting '.'"
            )
    if not 1 <= spec.retention <= 1000:
        raise InvalidSchedule("retention is between 1 and 1000 files")


def _schedule(row: Any) -> Schedule:
    values = dict(row)
    values["parameters"] = json.loads(values["parameters"])
    return msgspec.convert(values, Schedule)


def run_from_row(row: Any) -> Run:
    values = dict(row)
    for key in ("parameters", "manifest"):
        values[key] = json.loads(values[key]) if values[key] is not None else None
    return msgspec.convert(values, Run)


SCHEDULE_COLUMNS = """schedule_id, name, cron, timezone, report, format, destination, retention,
    parameters::text AS parameters, paused, next_run_at, created_at, updated_at"""
RUN_COLUMNS = """run_id, schedule_id, report, parameters::text AS parameters, format,
    destination, due_at, status, attempts, started_at, finished_at, position, row_count,
    sha256, file_name, manifest::text AS manifest, error, expires_at"""
IN_PROGRESS = "('due', 'retrying', 'running')"
"""A run's statuses while it is queued or being produced (as indexes 0004 and 0020 say)."""
ADMISSION_LOCK = 17
"""Advisory lock class serialising one key's export requests (the key's hashtext)."""


def _parameters(spec: ScheduleSpec) -> str:
    params = msgspec.to_builtins(spec.parameters)
    return json.dumps({k: v for k, v in params.items() if v is not None})


async def create_schedule(pool: Any, spec: ScheduleSpec, now: dt.datetime) -> Schedule:
    """Store a schedule; its first run is the next cron time after now."""
    validate(spec)
    first = next_runs(spec.cron, spec.timezone, now)[0]
    with _unique_name(spec.name):
        row = await pool.fetchrow(
            f"""INSERT INTO exports.schedules (schedule_id, name, cron, timezone, report, format,
                destination, retention, parameters, paused, next_run_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)
            RETURNING {SCHEDULE_COLUMNS}""",
            uuid.uuid4(),
            *_columns_of(spec),
            first,
        )
    return _schedule(row)


def _columns_of(spec: ScheduleSpec) -> tuple[Any, ...]:
    """name … paused, in the order both the INSERT and the UPDATE number them ($2-$10)."""
    return (
        spec.name,
        spec.cron,
        spec.timezone,
        spec.report,
        spec.format,
        spec.destination,
        spec.retention,
        _parameters(spec),
        spec.paused,
    )


async def replace_schedule(
    pool: Any, schedule_id: uuid.UUID, spec: ScheduleSpec, now: dt.datetime
) -> Schedule | None:
    """Update every field; the next run is recomputed from the (new) cron."""
    validate(spec)
    with _unique_name(spec.name):
        row = await pool.fetchrow(
            f"""UPDATE exports.schedules SET name = $2, cron = $3, timezone = $4, report = $5,
                format = $6, destination = $7, retention = $8, parameters = $9::jsonb,
                paused = $10, next_run_at = $11, updated_at = now()
            WHERE schedule_id = $1 RETURNING {SCHEDULE_COLUMNS}""",
            schedule_id,
            *_columns_of(spec),
            next_runs(spec.cron, spec.timezone, now)[0],
        )
    return _schedule(row) if row else None


async def list_schedules(pool: Any) -> list[Schedule]:
    """All schedules by name."""
    return [
        _schedule(r)
        for r in await pool.fetch(f"SELECT {SCHEDULE_COLUMNS} FROM exports.schedules ORDER BY name")
    ]


async def get_schedule(pool: Any, schedule_id: uuid.UUID) -> Schedule | None:
    """One schedule."""
    row = await pool.fetchrow(
        f"SELECT {SCHEDULE_COLUMNS} FROM exports.schedules WHERE schedule_id = $1", schedule_id
    )
    return _schedule(row) if row else None


async def delete_schedule(pool: Any, schedule_id: uuid.UUID) -> bool:
    """Delete a schedule; its past runs stay, detached."""
    status = await pool.execute("DELETE FROM exports.schedules WHERE schedule_id = $1", schedule_id)
    return bool(status.endswith(" 1"))


async def request_run(
    pool: Any,
    report: str,
    parameters: ReportParameters,
    fmt: str,
    destination: str,
    *,
    held_by: tuple[str, dt.timedelta] | None = None,
    requested_by: str | None = None,
    in_progress_limit: int | None = None,
) -> Run:
    """An on-demand run, due now, for a worker to execute; or, with `held_by` (worker id,
    lease), already claimed by the caller, so that no worker can take it from under the
    caller (unless the lease runs out: then the caller died, and a worker retries it).

    With `requested_by` (an API key's name) and `in_progress_limit`, raises
    TooManyInProgress, writing nothing, when that key already has that many runs queued
    or running. One key's requests take turns (an advisory lock for the transaction), so
    concurrent requests cannot both pass the count."""
    holder, lease = held_by or (None, None)
    async with pool.acquire() as connection, connection.transaction():
        if requested_by is not None and in_progress_limit is not None:
            await connection.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", ADMISSION_LOCK, requested_by
            )
            in_progress = await connection.fetchval(
                f"""SELECT count(*) FROM exports.runs
                WHERE requested_by = $1 AND status IN {IN_PROGRESS}""",
                requested_by,
            )
            if in_progress >= in_progress_limit:
                raise TooManyInProgress(requested_by, in_progress, in_progress_limit)
        row = await connection.fetchrow(
            f"""INSERT INTO exports.runs (run_id, report, parameters, format, destination,
                due_at, status, next_attempt_at, claimed_by, attempts, started_at, lease_until,
                requested_by)
            VALUES ($1, $2, $3::jsonb, $4, $5, now(),
                CASE WHEN $6::text IS NULL THEN 'due' ELSE 'running' END, now(), $6,
                CASE WHEN $6::text IS NULL THEN 0 ELSE 1 END,
                CASE WHEN $6::text IS NULL THEN NULL ELSE now() END, now() + $7::interval, $8)
            RETURNING {RUN_COLUMNS}""",
            uuid.uuid4(),
            report,
            json.dumps({k: v for k, v in msgspec.to_builtins(parameters).items() if v is not None}),
            fmt,
            destination,
            holder,
            lease,
            requested_by,
        )
    return run_from_row(row)


async def list_runs(
    pool: Any,
    schedule_id: uuid.UUID | None = None,
    limit: int = 100,
    before: uuid.UUID | None = None,
) -> list[Run] | None:
    """Newest first; after the run `before` when given (the last of the previous page),
    or None when there is no such run to page from."""
    if before is not None and await get_run(pool, before) is None:
        return None
    rows = await pool.fetch(
        f"""SELECT {RUN_COLUMNS} FROM exports.runs r
        WHERE ($1::uuid IS NULL OR schedule_id = $1)
          AND ($3::uuid IS NULL OR (r.due_at, r.run_id) < (
               SELECT b.due_at, b.run_id FROM exports.runs b WHERE b.run_id = $3))
        ORDER BY due_at DESC, run_id DESC LIMIT $2""",
        schedule_id,
        limit,
        before,
    )
    return [run_from_row(r) for r in rows]


async def get_run(pool: Any, run_id: uuid.UUID) -> Run | None:
    """One run."""
    row = await pool.fetchrow(f"SELECT {RUN_COLUMNS} FROM exports.runs WHERE run_id = $1", run_id)
    return run_from_row(row) if row else None
