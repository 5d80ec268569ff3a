"""The commitments export as the log grows: from the live read models, against the
re-projection it replaced, measured in one run.

Not a test: prints a table (and writes .data/bench-exports.md) for docs/PERFORMANCE.md.
A register of BENCH_EXPORT_DIALOGUES dialogues (default 1,000: a few thousand
commitments) is grown to each of BENCH_EXPORT_SIZES events (default 50,000, 200,000,
1,000,000) with progress notes on its outcomes, which lengthen the history without
adding rows to the report; at each size the read models catch up and the export is
timed (median of BENCH_EXPORT_REPEATS). The re-projection path, which every export took
before, is timed once at the first size (BENCH_EXPORT_BASELINE=0 to skip it).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.common import fresh_database
from benchmarks.workload import DecidedStreams, dialogue_story
from domain import commands as c
from domain.facts import Progress
from projections.registry import PROJECTIONS, create_engine
from projections.runner import Runner
from reporting.catalogue import CATALOGUE, ReportParameters
from reporting.disclosure import disclosed_table
from reporting.exporting import produce
from reporting.formats import write_table
from reporting.snapshot import (
    consistent_snapshot,
    live_position,
    projections_reading,
    read_models_at,
)
from store import EventStore
from store.database import create_pool
from store.records import Cursor

SIZES = [int(n) for n in os.environ.get("BENCH_EXPORT_SIZES", "50000,200000,1000000").split(",")]
DIALOGUES = int(os.environ.get("BENCH_EXPORT_DIALOGUES", "1000"))
REPEATS = int(os.environ.get("BENCH_EXPORT_REPEATS", "5"))
BASELINE = os.environ.get("BENCH_EXPORT_BASELINE", "1") != "0"
REPORT = "commitments"


def base_register(streams: DecidedStreams, rng: random.Random) -> list[c.AdoptOutcome]:
    """The dialogues' stories, decided; the outcomes they adopted."""
    adopted = []
    for n in range(DIALOGUES):
        for command in dialogue_story(rng, n):
            streams.decide(command)
            if isinstance(command, c.AdoptOutcome):
                adopted.append(command)
    return adopted


def progress_notes(
    streams: DecidedStreams, rng: random.Random, outcomes: list[c.AdoptOutcome], count: int
) -> None:
    """`count` progress notes on random outcomes: history, not rows."""
    for _ in range(count):
        outcome = rng.choice(outcomes)
        streams.decide(
            c.RecordProgress(
                dialogue_id=outcome.dialogue_id,
                outcome_id=outcome.outcome_id,
                progress_id=uuid.UUID(int=rng.getrandbits(128)),
                progress=Progress(note="Working group met"),
            )
        )


async def served_live_at(engine: AsyncEngine) -> Cursor | None:
    """The position the live read models hold for the report now (None: re-projection)."""
    async with consistent_snapshot(engine) as connection:
        reads = projections_reading(CATALOGUE[REPORT].reads)
        return await live_position(connection, reads, None)


async def timed_export(
    engine: AsyncEngine, store: EventStore, url: str, position: Cursor | None
) -> tuple[float, int, str]:
    """Seconds, rows and position of one csv export."""
    started = time.perf_counter()
    export = await produce(engine, store, url, REPORT, ReportParameters(), "csv", position)
    return time.perf_counter() - started, export.manifest.row_count, export.manifest.position


async def timed_reprojection(
    engine: AsyncEngine, store: EventStore, url: str, at: Cursor
) -> tuple[float, int]:
    """Seconds and rows of the same csv the way every export was made before: the log
    projected up to `at` into a private schema."""
    started = time.perf_counter()
    async with read_models_at(engine, store, url, at) as connection:
        table = await CATALOGUE[REPORT].build(connection, ReportParameters())
    write_table(disclosed_table(table), "csv")
    return time.perf_counter() - started, len(table.rows)


async def main() -> str:
    lines = [
        f"| events in the log | path | rows | seconds (median of {REPEATS}) | vs. live at "
        f"{SIZES[0]:,} |",
        "|---:|---|---:|---:|---:|",
    ]
    async with fresh_database("entente_bench_exports") as url:
        pool = await create_pool(url, min_size=8, max_size=16)
        store = EventStore(pool)
        engine = create_engine(url, pool_size=4)
        runner = Runner(engine, store, url, PROJECTIONS, batch_size=500)
        await runner.ensure_checkpoints()
        rng, streams = random.Random(7), DecidedStreams()
        outcomes = base_register(streams, rng)
        events = await streams.append(store)
        first: float | None = None
        for size in SIZES:
            started = time.perf_counter()
            progress_notes(streams, rng, outcomes, max(0, size - events))
            events += await streams.append(store)
            await runner.catch_up()
            spent = time.perf_counter() - started
            print(f"grew to {events:,} events and caught up in {spent:.0f} s", flush=True)
            at = await served_live_at(engine)
            assert at is not None, "the read models caught up, so they serve the export"
            runs = [await timed_export(engine, store, url, None) for _ in range(REPEATS)]
            seconds = statistics.median(r[0] for r in runs)
            assert {r[2] for r in runs} == {at.encode()}, "every run at the live position"
            first = first or seconds
            lines.append(
                f"| {events:,} | live read models, one snapshot | {runs[0][1]:,} "
                f"| {seconds:.3f} | {seconds / first:.2f} |"
            )
            print(lines[-1], flush=True)
            if BASELINE and size == SIZES[0]:
                spent, rows = await timed_reprojection(engine, store, url, at)
                lines.append(
                    f"| {events:,} | re-projection of the log (before) | {rows:,} "
                    f"| {spent:.3f} | {spent / first:.2f} |"
                )
                print(lines[-1], flush=True)
        await runner.release()
        await engine.dispose()
        await pool.close()
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    lines += ["", f"load average at the end: {load}"]
    return "\n".join(lines)


if __name__ == "__main__":
    report = asyncio.run(main())
    print(report)
    Path(".data").mkdir(exist_ok=True)
    Path(".data/bench-exports.md").write_text(report + "\n")
