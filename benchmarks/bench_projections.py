"""Projection catch-up and the one-pass rebuild, against a plain read of the same log.

Not a test: prints a table (and writes .data/bench-projections.md) for
docs/PERFORMANCE.md. BENCH_EVENTS sets the size of the log (default 200,000; the target
figures are for 1,000,000); BENCH_BATCH the projections' events per read (default the
runner's). The plain read is measured before and after the projections, in the same run,
and the ratios use their mean: on a loaded machine only ratios compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import NamedTuple

from benchmarks.common import fresh_database
from benchmarks.workload import append_stories, dialogue_story
from domain.streams import State, decider_for, stream_id_for
from projections.collector import Collector
from projections.registry import PROJECTIONS, create_engine
from projections.runner import BATCH_SIZE, Runner
from store import START, EventStore
from store.database import create_pool

EVENTS = int(os.environ.get("BENCH_EVENTS", "200000"))
BATCH = int(os.environ.get("BENCH_BATCH", str(BATCH_SIZE)))
READ_PAGE = 2000
"""The plain read's page, whatever the projections' batch: its fastest here (pages of
10,000 decoded rows leave the cycle collector more to walk: 30.4 s against 20.6 s for
976,429 events), so the baseline stays the stricter one."""


def events_per_story(stories: int = 200) -> float:
    """The workload's mean events per story, decided in memory (no database)."""
    rng, streams = random.Random(7), dict[str, int]()
    states: dict[str, State] = {}
    for n in range(stories):
        for command in dialogue_story(rng, n):
            decider, stream_id = decider_for(command), stream_id_for(command)
            state = states.get(stream_id, decider.initial_state)
            decided = decider.decide(state, command)
            states[stream_id] = decider.fold(decided, state)
            streams[stream_id] = streams.get(stream_id, 0) + len(decided)
    return float(sum(streams.values())) / stories


async def plain_read(
    store: EventStore, collector: Collector | None = None, *, decoded: bool = True
) -> int:
    """The baseline: page through the whole log in pages of `READ_PAGE`, decoding rows.

    With a `collector`, each page is read with the cycle collector handled as the runner
    handles it during a batch (projections.collector): the same read without the ~40 % of
    CPU the collections triggered by its decoded rows cost, a stricter baseline. With
    `decoded=False`, the payloads stay text, as the projections read them (not a
    baseline: what the projections' own read costs).
    """
    cursor, total = START, 0
    while True:
        async with collector.paused() if collector else contextlib.nullcontext():
            page = await store.read_all(cursor, limit=READ_PAGE, decoded=decoded)
        if not page.events:
            return total
        total += len(page.events)
        cursor = page.cursor


class Timing(NamedTuple):
    """Wall-clock seconds, and this process's CPU seconds (what load does not inflate)."""

    wall: float
    cpu: float


async def timed(work: Awaitable[object]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    await work
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


async def main() -> str:
    async with fresh_database("entente_bench_projections") as url:
        pool = await create_pool(url, min_size=2, max_size=8)
        store = EventStore(pool)
        started = time.perf_counter()
        events = await append_stories(store, max(1, round(EVENTS / events_per_story())))
        print(f"generated {events:,} events in {time.perf_counter() - started:.0f} s", flush=True)
        engine = create_engine(url, pool_size=4)
        before = await timed(plain_read(store))
        print(f"plain read {before}", flush=True)
        strict = await timed(plain_read(store, Collector()))
        print(f"plain read, collector paused per page {strict}", flush=True)
        rows: list[tuple[str, Timing]] = []
        as_text = await timed(plain_read(store, Collector(), decoded=False))
        rows.append(("read as the projections read (payloads as text, collector paused)", as_text))
        print(rows[-1], flush=True)
        for projection in PROJECTIONS:
            runner = Runner(engine, store, url, [projection], batch_size=BATCH)
            await runner.ensure_checkpoints()
            rows.append(
                (f"catch-up `{projection.name}` alone, from zero", await timed(runner.catch_up()))
            )
            print(rows[-1], flush=True)
        runner = Runner(engine, store, url, PROJECTIONS, batch_size=BATCH)
        for projection in PROJECTIONS:
            assert await runner.try_own(projection.name)
        names = [p.name for p in PROJECTIONS]
        rows.append(
            ("**rebuild all read models in one pass**", await timed(runner.rebuild_all(names)))
        )
        print(rows[-1], flush=True)
        await runner.release()
        after = await timed(plain_read(store))
        await engine.dispose()
        await pool.close()
    return report(events, before, after, strict, rows)


def report(
    events: int, before: Timing, after: Timing, strict: Timing, rows: list[tuple[str, Timing]]
) -> str:
    """The table: wall time and this process's CPU time, each as a ratio to the plain read
    (the issue's baseline), the CPU also to the plain read with the collector paused."""
    base = Timing((before.wall + after.wall) / 2, (before.cpu + after.cpu) / 2)
    lines = [
        f"{events:,} events, batches of {BATCH:,} (the plain reads: pages of {READ_PAGE:,});"
        f" load average {load()} (1, 5, 15 min)",
        "",
        "| step | wall s | events/s | rate vs. plain read | time vs. plain read"
        " | CPU s (this process) | CPU vs. plain read | CPU vs. plain read, collector paused |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| plain read of the log (baseline; wall before {before.wall:.1f} s, after"
        f" {after.wall:.1f} s) | {base.wall:.1f} | {events / base.wall:,.0f} | 1.00 | 1.00"
        f" | {base.cpu:.1f} | 1.00 | {base.cpu / strict.cpu:.2f} |",
        f"| plain read, collector paused per page | {strict.wall:.1f}"
        f" | {events / strict.wall:,.0f} | {base.wall / strict.wall:.2f}"
        f" | {strict.wall / base.wall:.2f} | {strict.cpu:.1f} | {strict.cpu / base.cpu:.2f}"
        " | 1.00 |",
    ]
    for step, t in rows:
        lines.append(
            f"| {step} | {t.wall:.1f} | {events / t.wall:,.0f} | {base.wall / t.wall:.2f}"
            f" | {t.wall / base.wall:.2f} | {t.cpu:.1f} | {t.cpu / base.cpu:.2f}"
            f" | {t.cpu / strict.cpu:.2f} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    return table


if __name__ == "__main__":
    table = asyncio.run(main())
    Path(".data").mkdir(exist_ok=True)
    Path(".data/bench-projections.md").write_text(table + "\n")
