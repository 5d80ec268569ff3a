"""Projection catch-up and rebuild, against a plain read of the same log in the same run.

Not a test: prints a table (and writes .data/bench-projections.md) for
docs/PERFORMANCE.md. BENCH_STORIES sets the size (default ~200,000 events).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from benchmarks.common import fresh_database
from benchmarks.workload import append_stories
from projections.catalog import PROJECTIONS, create_engine
from projections.runner import Runner
from store import START, EventStore
from store.database import create_pool

STORIES = int(os.environ.get("BENCH_STORIES", "12500"))


async def read_everything(store: EventStore) -> tuple[int, float]:
    """The baseline: page through the whole log in the same batches the runner reads."""
    started, cursor, total = time.perf_counter(), START, 0
    while True:
        page = await store.read_all(cursor, limit=500)
        if not page.events:
            return total, time.perf_counter() - started
        total += len(page.events)
        cursor = page.cursor


async def main() -> str:
    async with fresh_database("entente_bench_projections") as url:
        pool = await create_pool(url, min_size=8, max_size=16)
        store = EventStore(pool)
        started = time.perf_counter()
        events = await append_stories(store, STORIES)
        print(f"generated {events:,} events in {time.perf_counter() - started:.0f} s", flush=True)
        engine = create_engine(url, pool_size=4)
        runner = Runner(engine, store, url, PROJECTIONS, batch_size=500)
        await runner.ensure_checkpoints()

        read, read_seconds = await read_everything(store)
        lines = [
            "| step | events | seconds | events/s | vs. plain read of the log |",
            "|---|---:|---:|---:|---:|",
            f"| plain read_all of the log (baseline) | {read:,} | {read_seconds:.1f} "
            f"| {read / read_seconds:,.0f} | 1.00 |",
        ]
        base_rate = read / read_seconds
        for projection in PROJECTIONS:
            started = time.perf_counter()
            await runner.catch_up([projection.name])
            seconds = time.perf_counter() - started
            lines.append(
                f"| catch-up `{projection.name}` from zero | {events:,} | {seconds:.1f}"
                f" | {events / seconds:,.0f} | {events / seconds / base_rate:.2f} |"
            )
            print(lines[-1], flush=True)
        assert await runner.try_own(PROJECTIONS[0].name)
        total = 0.0
        for projection in PROJECTIONS:
            assert await runner.try_own(projection.name)
            started = time.perf_counter()
            await runner.rebuild(projection.name)
            seconds = time.perf_counter() - started
            total += seconds
            lines.append(
                f"| blue/green rebuild `{projection.name}` | {events:,} | {seconds:.1f}"
                f" | {events / seconds:,.0f} | {events / seconds / base_rate:.2f} |"
            )
            print(lines[-1], flush=True)
        lines.append(f"| **rebuild all read models** | {events:,} | **{total:.1f}** | | |")
        await runner.release()
        await engine.dispose()
        await pool.close()
    report = "\n".join(lines)
    print("\n" + report)
    return report


if __name__ == "__main__":
    table = asyncio.run(main())
    Path(".data").mkdir(exist_ok=True)
    Path(".data/bench-projections.md").write_text(table + "\n")
