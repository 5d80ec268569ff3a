"""Append throughput of the event store against a raw INSERT of the same rows, same run.

Not a test: it prints a table (and writes it to .data/bench-store.md) for
docs/PERFORMANCE.md. Every figure is paired with the raw baseline measured minutes apart
on the same server, because absolute numbers on shared machines mean little.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, percentile
from store import EventStore, NewEvent
from store.database import create_pool

STREAMS = 1000
EVENTS = int(os.environ.get("BENCH_EVENTS", "16000"))
BATCH = 100
ROUNDS = 16
WARM_UP = 16
"""Unmeasured appends per writer on each side first, so every pooled connection has
prepared its statements (and compiled the append function) before the clock starts."""
FILLER = "x" * 300


def payload(n: int) -> dict[str, Any]:
    """About 400 bytes of JSON, like a typical session or outcome event."""
    return {"n": n, "summary": FILLER, "topics": ["political", "economic", "security"]}


RAW_TABLE = """CREATE TABLE bench_raw (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text NOT NULL,
    version bigint NOT NULL, event_id uuid NOT NULL, type text NOT NULL, data jsonb NOT NULL,
    metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())"""
RAW_INSERT = """INSERT INTO bench_raw (stream_id, version, event_id, type, data, metadata)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)"""
METADATA = {"actor": "bench", "request_id": "r"}


async def run_writers(
    writers: int, appends: int, append: Callable[[int, int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run `appends` calls spread over `writers` tasks; return (seconds, latencies)."""
    latencies: list[float] = []

    async def writer(w: int) -> None:
        for i in range(w, appends, writers):
            started = time.perf_counter()
            await append(i, w)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return time.perf_counter() - started, latencies


async def scenario(pool: Any, writers: int, batch: int, run: str) -> dict[str, Any]:
    """One line of the table: the store and the raw INSERT with the same shape of load."""
    store = EventStore(pool)
    appends = max(EVENTS // batch, writers * 4)
    versions: dict[str, int] = {}
    prefix = uuid.uuid4().hex[:6]

    def stream_of(i: int, w: int) -> str:
        # each writer owns its own streams, so the benchmark measures appends, not conflicts
        return f"bench-{prefix}-{w}-{(i // writers) % max(STREAMS // writers, 1)}"

    async def store_append(i: int, w: int) -> None:
        sid = stream_of(i, w)
        expected = versions.get(sid, 0)
        events = [NewEvent(type="Benchmarked", data=payload(i)) for _ in range(batch)]
        result = await store.append(sid, events, expected, METADATA)
        versions[sid] = result.version

    raw_versions: dict[str, int] = {}

    async def raw_append(i: int, w: int) -> None:
        sid = stream_of(i, w)
        version = raw_versions.get(sid, 0)
        rows = [
            (
                sid,
                version + k + 1,
                uuid.uuid4(),
                "Benchmarked",
                json.dumps(payload(i)),
                json.dumps(METADATA),
            )
            for k in range(batch)
        ]
        raw_versions[sid] = version + batch
        if batch == 1:
            await pool.execute(RAW_INSERT, *rows[0])
        else:
            async with pool.acquire() as connection, connection.transaction():
                await connection.executemany(RAW_INSERT, rows)

    for side in (raw_append, store_append):
        await run_writers(writers, writers * WARM_UP // batch or writers, side)

    async def measured(side: Callable[[int, int], Awaitable[None]]) -> tuple[float, list[float]]:
        # Each half-round starts from a fresh checkpoint, so neither side pays for the
        # other's dirty buffers or full-page writes.
        await pool.execute("CHECKPOINT")
        return await run_writers(writers, appends // ROUNDS, side)

    raw_seconds = store_seconds = 0.0
    raw_lat: list[float] = []
    store_lat: list[float] = []
    round_ratios: list[float] = []
    for _ in range(ROUNDS):  # interleaved, so drift in the machine hits both sides alike
        raw_round, latencies = await measured(raw_append)
        raw_seconds, raw_lat = raw_seconds + raw_round, raw_lat + latencies
        store_round, latencies = await measured(store_append)
        store_seconds, store_lat = store_seconds + store_round, store_lat + latencies
        round_ratios.append(raw_round / store_round)
    appends = appends // ROUNDS * ROUNDS
    events = appends * batch
    return {
        "run": run,
        "writers": writers,
        "batch": batch,
        "events": events,
        "store_eps": events / store_seconds,
        "raw_eps": events / raw_seconds,
        "ratio": (events / store_seconds) / (events / raw_seconds),
        "ratio_low": min(round_ratios),
        "ratio_median": statistics.median(round_ratios),
        "ratio_high": max(round_ratios),
        "store_p50": percentile(store_lat, 0.5),
        "store_p99": percentile(store_lat, 0.99),
        "raw_p50": percentile(raw_lat, 0.5),
        "raw_p99": percentile(raw_lat, 0.99),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table docs/PERFORMANCE.md quotes."""
    lines = [
        "| writers | events/append | events | store events/s | raw INSERT events/s | ratio "
        "| per-round ratio min / median / max | store p50 / p99 ms | raw p50 / p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['writers']} | {r['batch']} | {r['events']} | {r['store_eps']:,.0f} "
            f"| {r['raw_eps']:,.0f} | **{r['ratio']:.2f}** "
            f"| {r['ratio_low']:.2f} / {r['ratio_median']:.2f} / {r['ratio_high']:.2f} "
            f"| {r['store_p50']:.2f} / {r['store_p99']:.2f} "
            f"| {r['raw_p50']:.2f} / {r['raw_p99']:.2f} |"
        )
    return "\n".join(lines)


async def main() -> str:
    async with fresh_database("entente_bench_store") as url:
        pool = await create_pool(url, min_size=32, max_size=32)
        await pool.execute(RAW_TABLE)
        rows = []
        for writers, batch in [(1, 1), (8, 1), (32, 1), (8, BATCH)]:
            rows.append(await scenario(pool, writers, batch, "bench"))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
        await pool.close()
    return table(rows)


if __name__ == "__main__":
    report = asyncio.run(main())
    print("\n" + report)
    Path(".data").mkdir(exist_ok=True)
    Path(".data/bench-store.md").write_text(report + "\n")
