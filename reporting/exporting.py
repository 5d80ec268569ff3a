"""Producing one export: rows at a position, a file, and its manifest.

The file holds only the rows (no timestamps), so the same report, parameters and position
give the same bytes; everything about the run (when, by which version) goes in the
manifest beside it. Files are written under a staging folder and renamed into place, so a
destination never holds a partial file, even if the process is killed mid-write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.catalogue import CATALOGUE, ReportParameters
from reporting.disclosure import disclosed_table
from reporting.formats import EXTENSIONS, FORMATS, write_table
from reporting.snapshot import current_position, read_models_at
from store.event_store import EventStore
from store.metrics import EXPORTS
from store.records import Cursor

STAGING = ".staging"
FAULT_PAUSE = float(os.environ.get("ENTENTE_FAULT_PAUSE_BEFORE_RENAME", "0"))
"""Fault injection for tests only: seconds to wait between writing and renaming."""


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
    (entente_exports)."""
    report = CATALOGUE.get(report_name)
    if report is None or fmt not in FORMATS:
        raise UnknownReport(f"no report {report_name!r} in format {fmt!r}")
    try:
        at = position or await current_position(store)
        async with read_models_at(engine, store, url, at) as connection:
            table = disclosed_table(await report.build(connection, parameters))
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
