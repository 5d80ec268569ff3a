"""Producing one export: rows at a position, a file, and its manifest.

The file holds only the rows (no timestamps), so the same report, parameters and position
give the same bytes; everything about the run (when, by which version) goes in the
manifest beside it. Files are written under a staging folder and renamed into place, so a
destination never holds a partial file, even if the process is killed mid-write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.catalogue import CATALOGUE, Report, ReportParameters
from reporting.disclosure import disclosed_table
from reporting.formats import EXTENSIONS, FORMATS, ReportTable, write_table
from reporting.snapshot import (
    consistent_snapshot,
    live_checkpoints,
    live_position,
    projections_reading,
    read_models_at,
    settled_position,
)
from store.event_store import EventStore
from store.metrics import EXPORTS
from store.records import Cursor

STAGING = ".staging"
FAULT_PAUSE = float(os.environ.get("ENTENTE_FAULT_PAUSE_BEFORE_RENAME", "0"))
"""Fault injection for tests only: seconds to wait between writing and renaming."""
LIVE_WAIT = 30.0
"""Seconds an export waits for read models that are catching up before re-projecting."""
LIVE_POLL = 0.05
"""Seconds between two looks at read models that are catching up."""


class UnknownReport(ValueError):
    """A report or format the catalogue does not have."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything needed to trust and reproduce an export file."""

    report: str
    parameters: dict[str, Any]
    format: str
    position: str
    row_count: int
    sha256: str
    file_name: str
    generated_at: dt.datetime
    generator_version: str


class Export(msgspec.Struct, frozen=True, kw_only=True):
    """An export's bytes and manifest, not yet written anywhere."""

    content: bytes
    manifest: Manifest


def generator_version() -> str:
    """The installed package's version, recorded in every manifest."""
    try:
        return f"entente {version('entente')}"
    except PackageNotFoundError:
        return "entente (not installed)"


def file_name_for(report: str, fmt: str, position: Cursor, parameters: dict[str, Any]) -> str:
    """Deterministic: the same export always gets the same name."""
    digest = hashlib.sha256(msgspec.json.encode(parameters, order="sorted")).hexdigest()[:8]
    return f"{report}-{position.transaction_id}-{position.position}-{digest}{EXTENSIONS[fmt]}"


async def produce(
    engine: AsyncEngine,
    store: EventStore,
    url: str,
    report_name: str,
    parameters: ReportParameters,
    fmt: str,
    position: Cursor | None = None,
) -> Export:
    """Build one report at `position` (default: now) in one format; counted by outcome
    (entente_exports).

    From the live read models when they hold the position; otherwise by re-projecting
    the log up to it (default then: the log's horizon when asked), which costs the
    history.
    """
    report = CATALOGUE.get(report_name)
    if report is None or fmt not in FORMATS:
        raise UnknownReport(f"no report {report_name!r} in format {fmt!r}")
    try:
        at, rows = await _from_live_models(engine, report, parameters, position)
        if rows is None:
            async with read_models_at(engine, store, url, at) as connection:
                rows = await report.build(connection, parameters)
        table = disclosed_table(rows)
        content = write_table(table, fmt)
    except Exception:
        EXPORTS.labels(report_name, fmt, "failed").inc()
        raise
    EXPORTS.labels(report_name, fmt, "succeeded").inc()
    params = msgspec.to_builtins(parameters, order="sorted")
    params = {k: v for k, v in params.items() if v is not None}
    return Export(
        content=content,
        manifest=Manifest(
            report=report_name,
            parameters=params,
            format=fmt,
            position=at.encode(),
            row_count=len(table.rows),
            sha256=hashlib.sha256(content).hexdigest(),
            file_name=file_name_for(report_name, fmt, at, params),
            generated_at=dt.datetime.now(dt.UTC),
            generator_version=generator_version(),
        ),
    )


async def _from_live_models(
    engine: AsyncEngine, report: Report, parameters: ReportParameters, position: Cursor | None
) -> tuple[Cursor, ReportTable | None]:
    """The report read from the live read models in one snapshot, with the position they
    hold there; or the position to re-project (rows None) when they cannot give it.

    Without `position` the export is at least as fresh as the log's horizon when asked
    (an export sees what was committed before it), at the freshest position the models
    hold. Models still catching up are waited for while their checkpoints move (at most
    LIVE_WAIT seconds); models that are not moving, or already past a pinned position,
    are not.
    """
    projections = projections_reading(report.reads)
    target, seen = position, None
    deadline = time.monotonic() + LIVE_WAIT
    while True:
        async with consistent_snapshot(engine) as connection:
            target = target or await settled_position(connection)
            at = await live_position(connection, projections, position, at_least=target)
            if at is not None:
                return at, await report.build(connection, parameters)
            marks = await live_checkpoints(connection, projections)
        passed = position is not None and all(c >= position for c in marks.values())
        if passed or marks == seen or time.monotonic() > deadline:
            return target, None
        seen = marks
        await asyncio.sleep(LIVE_POLL)


def _write_atomically(folder: Path, name: str, content: bytes) -> Path:
    staging = folder.parent / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    partial = staging / f"{folder.name}.{name}.{os.getpid()}.partial"
    with partial.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    if FAULT_PAUSE:
        time.sleep(FAULT_PAUSE)
    final = folder / name
    os.replace(partial, final)
    return final


def deliver(export: Export, folder: Path) -> Path:
    """Put the file, then its manifest, into `folder`; each appears whole or not at all."""
    folder.mkdir(parents=True, exist_ok=True)
    path = _write_atomically(folder, export.manifest.file_name, export.content)
    manifest = msgspec.json.format(msgspec.json.encode(export.manifest), indent=2)
    _write_atomically(folder, export.manifest.file_name + ".manifest.json", manifest)
    return path


def clear_staging(root: Path) -> None:
    """Remove partial files a killed worker left behind (never in a destination)."""
    staging = root / STAGING
    if staging.is_dir():
        for partial in staging.glob("*.partial"):
            partial.unlink(missing_ok=True)
