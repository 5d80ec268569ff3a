"""Append throughput of the event store against raw INSERTs of the same rows, same run.

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

import asyncpg
from prometheus_client import REGISTRY

from benchmarks.common import fresh_database, percentile
from store import EventStore, NewEvent
from store.database import SESSION_SETTINGS, asyncpg_dsn, create_pool

STREAMS = 1000
EVENTS = int(os.environ.get("BENCH_EVENTS", "16000"))
BATCH = 100
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "16"))
WARM_UP = 16
"""Unmeasured appends per writer on each side first, so every pooled connection has
prepared its statements (and compiled the append function) before the clock starts."""
FILLER = "x" * 300
FLIGHTS = [int(f) for f in os.environ.get("BENCH_FLIGHTS", "").split(",") if f]
"""Extra store sides with these `combine_flights` (e.g. BENCH_FLIGHTS=3,4), measured in
the same interleaved rounds as the default store, for A/B runs of the combining policy."""


def payload(n: int) -> dict[str, Any]:
    """About 400 bytes of JSON, like a typical session or outcome event."""
    return {"n": n, "summary": FILLER, "topics": ["political", "economic", "security"]}


RAW_TABLE = """CREATE TABLE bench_raw (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text NOT NULL,
    version bigint NOT NULL, event_id uuid NOT NULL, type text NOT NULL, data jsonb NOT NULL,
    metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())"""
RAW_INSERT = """INSERT INTO bench_raw (stream_id, version, event_id, type, data, metadata)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)"""
CHECKPOINTS = os.environ.get("BENCH_CHECKPOINT", "1") != "0"
"""A CHECKPOINT before every part of a round (the default). After one, the first change
to each page writes the whole page into the WAL: the store's inserts into its stream and
event-id indexes touch pages all over them, so it pays a full-page image for most events
of a part, where a server checkpointing every few minutes pays one per page per interval.
BENCH_CHECKPOINT=0 leaves checkpoints to the server, to show what that costs."""
WAL_SQL = "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"
"""Bytes of WAL written so far: its growth per event shows the full-page images each
side's index inserts cost after the CHECKPOINT that starts every part of a round."""
METADATA = {"actor": "bench", "request_id": "r"}
METADATA_JSON = json.dumps(METADATA)


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


Side = Callable[[int, int], Awaitable[None]]


def _ticks(stat: str) -> tuple[int, int]:
    """(parent pid, user + system clock ticks) from a /proc/<pid>/stat line."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def server_ticks(postmaster: int | None) -> dict[int, int]:
    """CPU clock ticks used so far by each of the server's processes (the postmaster's
    children: backends, WAL writer, checkpointer), read from /proc; none when the server
    is not a local process."""
    ticks: dict[int, int] = {}
    if postmaster is None:
        return ticks
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent, used = _ticks(stat.read_text())
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        if parent == postmaster:
            ticks[int(stat.parent.name)] = used
    return ticks


def server_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    """Server CPU seconds between two readings; a process that ended in between took its
    count along (the benchmark's own connections stay open), one that started counts whole."""
    used = sum(t - before.get(pid, 0) for pid, t in after.items())
    return used / os.sysconf("SC_CLK_TCK")


def parent_of(pid: int) -> int | None:
    """A local process's parent pid; None when there is no such process here."""
    try:
        return _ticks(Path(f"/proc/{pid}/stat").read_text())[0]
    except OSError:
        return None


def append_calls() -> tuple[float, float]:
    """(database calls, seconds in them) of the append path so far, in this process
    (`entente_append_call_seconds`): how long a store side spends with a call at the
    database, against the time in between, when the client prepares the next one."""
    count = REGISTRY.get_sample_value("entente_append_call_seconds_count") or 0.0
    seconds = REGISTRY.get_sample_value("entente_append_call_seconds_sum") or 0.0
    return count, seconds


class Tally:
    """One side's totals over the measured rounds: wall time, client and server CPU,
    latencies, and for a store side its database calls."""

    def __init__(self) -> None:
        self.calls = 0.0
        self.call_seconds = 0.0
        self.seconds = 0.0
        self.cpu = 0.0
        self.server = 0.0
        self.wal = 0
        self.latencies: list[float] = []
        self.rounds: list[float] = []

    def add(
        self,
        seconds: float,
        cpu: float,
        server: float,
        wal: int,
        latencies: list[float],
        calls: tuple[float, float],
    ) -> None:
        self.calls += calls[0]
        self.call_seconds += calls[1]
        self.seconds += seconds
        self.wal += wal
        self.cpu += cpu
        self.server += server
        self.latencies += latencies
        self.rounds.append(seconds)


def raw_rows(sid: str, version: int, batch: int, i: int) -> list[tuple[Any, ...]]:
    """The raw side's rows: the same columns and JSON the store sends, minus its guarantees."""
    return [
        (sid, version + k + 1, uuid.uuid4(), "Benchmarked", json.dumps(payload(i)), METADATA_JSON)
        for k in range(batch)
    ]


async def scenario(pool: Any, url: str, writers: int, batch: int) -> dict[str, Any]:
    """One line of the table: the store and both raw INSERT baselines, same shape of load.

    raw/conn is what the peers' benchmarks measure: one connection per writer, held for
    the whole run, prepared INSERTs, no pool. raw/pool goes through the store's pool.
    """
    # the postmaster is the parent of one of our backends (when the server is local)
    postmaster = parent_of(await pool.fetchval("SELECT pg_backend_pid()"))
    store = EventStore(pool)
    appends = max(EVENTS // batch, writers * 4)
    versions: dict[str, int] = {}
    prefix = uuid.uuid4().hex[:6]
    connections = [
        await asyncpg.connect(asyncpg_dsn(url), server_settings=SESSION_SETTINGS)
        for _ in range(writers)
    ]

    def stream_of(i: int, w: int) -> str:
        # each writer owns its own streams, so the benchmark measures appends, not conflicts
        return f"bench-{prefix}-{w}-{(i // writers) % max(STREAMS // writers, 1)}"

    def store_side(store: EventStore, tag: str) -> Side:
        async def store_append(i: int, w: int) -> None:
            sid = stream_of(i, w) + tag
            expected = versions.get(sid, 0)
            events = [NewEvent(type="Benchmarked", data=payload(i)) for _ in range(batch)]
            result = await store.append(sid, events, expected, METADATA)
            versions[sid] = result.version

        return store_append

    raw_versions: dict[str, int] = {}

    def next_rows(i: int, w: int) -> list[tuple[Any, ...]]:
        sid = stream_of(i, w)
        version = raw_versions.get(sid, 0)
        raw_versions[sid] = version + batch
        return raw_rows(sid, version, batch, i)

    async def raw_pool_append(i: int, w: int) -> None:
        rows = next_rows(i, w)
        if batch == 1:
            await pool.execute(RAW_INSERT, *rows[0])
        else:
            async with pool.acquire() as connection, connection.transaction():
                await connection.executemany(RAW_INSERT, rows)

    async def raw_conn_append(i: int, w: int) -> None:
        rows, connection = next_rows(i, w), connections[w]
        if batch == 1:
            await connection.execute(RAW_INSERT, *rows[0])
        else:
            async with connection.transaction():
                await connection.executemany(RAW_INSERT, rows)

    sides: dict[str, Side] = {
        "raw_conn": raw_conn_append,
        "raw_pool": raw_pool_append,
        "store": store_side(store, ""),
        **{
            f"store/f{f}": store_side(EventStore(pool, combine_flights=f), f"-f{f}")
            for f in FLIGHTS
        },
    }
    for side in sides.values():
        await run_writers(writers, writers * WARM_UP // batch or writers, side)

    tallies = {name: Tally() for name in sides}
    for _ in range(ROUNDS):  # interleaved, so drift in the machine hits every side alike
        for name, side in sides.items():
            # Each part of a round starts from a fresh checkpoint, so no side pays for
            # another's dirty buffers or full-page writes.
            if CHECKPOINTS:
                await pool.execute("CHECKPOINT")
            wal = await pool.fetchval(WAL_SQL)
            ticks = server_ticks(postmaster)
            calls_before = append_calls()
            cpu = time.process_time()
            seconds, latencies = await run_writers(writers, appends // ROUNDS, side)
            cpu = time.process_time() - cpu
            server = server_seconds(ticks, server_ticks(postmaster))
            wal = await pool.fetchval(WAL_SQL) - wal
            calls_after = append_calls()
            calls = (calls_after[0] - calls_before[0], calls_after[1] - calls_before[1])
            tallies[name].add(seconds, cpu, server, wal, latencies, calls)
    for connection in connections:
        await connection.close()
    events = appends // ROUNDS * ROUNDS * batch
    return summary(writers, batch, events, tallies)


def summary(writers: int, batch: int, events: int, tallies: dict[str, Tally]) -> dict[str, Any]:
    """Events/s, ratios, client CPU per event and latencies of one scenario."""
    store, conn, pooled = tallies["store"], tallies["raw_conn"], tallies["raw_pool"]
    round_ratios = [c / s for c, s in zip(conn.rounds, store.rounds, strict=True)]
    return {
        "writers": writers,
        "batch": batch,
        "events": events,
        "store_eps": events / store.seconds,
        "conn_eps": events / conn.seconds,
        "pool_eps": events / pooled.seconds,
        "ratio": conn.seconds / store.seconds,
        "ratio_pool": pooled.seconds / store.seconds,
        "ratio_low": min(round_ratios),
        "ratio_median": statistics.median(round_ratios),
        "ratio_high": max(round_ratios),
        "store_cpu": store.cpu / events * 1e6,
        "conn_cpu": conn.cpu / events * 1e6,
        "pool_cpu": pooled.cpu / events * 1e6,
        "store_server": store.server / events * 1e6,
        "conn_server": conn.server / events * 1e6,
        "pool_server": pooled.server / events * 1e6,
        "store_wal": store.wal / events,
        "store_calls": (
            events / store.calls,
            store.call_seconds / store.calls * 1000,
            store.call_seconds / store.seconds,
        ),
        "conn_wal": conn.wal / events,
        "others": {
            name: (
                conn.seconds / t.seconds,
                t.cpu / events * 1e6,
                t.server / events * 1e6,
                t.wal / events,
            )
            for name, t in tallies.items()
            if name.startswith("store/")
        },
        "store_p50": percentile(store.latencies, 0.5),
        "store_p99": percentile(store.latencies, 0.99),
        "conn_p50": percentile(conn.latencies, 0.5),
        "conn_p99": percentile(conn.latencies, 0.99),
    }


TARGETS = {(8, 1): 0.7, (32, 1): 1.5, (8, BATCH): 0.8}
"""Issue 15's targets: store events/s over raw/conn events/s."""


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table docs/PERFORMANCE.md quotes."""
    lines = [
        "| writers | events/append | events | store ev/s | raw/conn ev/s | raw/pool ev/s "
        "| **store ÷ raw/conn** (target) | store ÷ raw/pool | per-round ÷ raw/conn "
        "min / median / max | client CPU µs/event store / conn / pool "
        "| server CPU µs/event store / conn / pool | WAL bytes/event store / conn "
        "| store p50 / p99 ms | raw/conn p50 / p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        target = TARGETS.get((r["writers"], r["batch"]))
        lines.append(
            f"| {r['writers']} | {r['batch']} | {r['events']} | {r['store_eps']:,.0f} "
            f"| {r['conn_eps']:,.0f} | {r['pool_eps']:,.0f} "
            f"| **{r['ratio']:.2f}**{f' (≥ {target})' if target else ''} "
            f"| {r['ratio_pool']:.2f} "
            f"| {r['ratio_low']:.2f} / {r['ratio_median']:.2f} / {r['ratio_high']:.2f} "
            f"| {r['store_cpu']:.0f} / {r['conn_cpu']:.0f} / {r['pool_cpu']:.0f} "
            f"| {r['store_server']:.0f} / {r['conn_server']:.0f} / {r['pool_server']:.0f} "
            f"| {r['store_wal']:,.0f} / {r['conn_wal']:,.0f} "
            f"| {r['store_p50']:.2f} / {r['store_p99']:.2f} "
            f"| {r['conn_p50']:.2f} / {r['conn_p99']:.2f} |"
        )
    for r in rows:
        per_call, in_call, share = r["store_calls"]
        lines.append(
            f"\nstore's database calls at {r['writers']} writers, {r['batch']} per append: "
            f"{per_call:.1f} events per call, {in_call:.2f} ms per call at the database, "
            f"{share:.2f} calls at the database at a time on average (below 1: the rest of "
            "the time the client is preparing the next)"
        )
        for name, (ratio, cpu, server, wal) in r["others"].items():
            lines.append(
                f"\n{name} at {r['writers']} writers, {r['batch']} per append: "
                f"**{ratio:.2f}** ÷ raw/conn,"
                f" client / server CPU {cpu:.0f} / {server:.0f} µs/event, WAL {wal:,.0f} B/event"
            )
    return "\n".join(lines)


async def main() -> str:
    started = os.getloadavg()
    async with fresh_database("entente_bench_store") as url:
        pool = await create_pool(url, min_size=32, max_size=32)
        await pool.execute(RAW_TABLE)
        rows = []
        for writers, batch in [(1, 1), (8, 1), (32, 1), (8, BATCH)]:
            rows.append(await scenario(pool, url, writers, batch))
            print("\n".join(table(rows[-1:]).splitlines()[2:]), flush=True)
        await pool.close()
    ended = os.getloadavg()
    return (
        f"{table(rows)}\n\nload average (1 min) {started[0]:.1f} at the start, "
        f"{ended[0]:.1f} at the end; {ROUNDS} interleaved rounds"
    )


if __name__ == "__main__":
    report = asyncio.run(main())
    print("\n" + report)
    Path(".data").mkdir(exist_ok=True)
    Path(".data/bench-store.md").write_text(report + "\n")
