"""Reads on a streaming replica: how far it lags under a write load, and what it reads.

A hot standby of the bench server is started as the tests start theirs (tests/replica.py:
pg_basebackup, standby.signal, its own socket under .data/). Then:

1. Lag under writes: WRITERS writers append single events to streams of their own on the
   primary for SECONDS seconds; every PROBE_INTERVAL a probe appends one more event and
   times how long until the standby's read horizon has passed it — what a read with
   `after_position` on the replica waits for (api/freshness.py). Also the WAL replay
   distance in bytes, sampled as it goes.
2. Read throughput: READERS concurrent readers for SECONDS seconds, each reading a random
   stream in full (the audit read) and a 100-event page of the change feed, first on the
   primary, then on the standby: reads per second and the standby/primary ratio.

Both servers share this machine's cores, so the ratio says the standby serves the same
reads at the same cost; the capacity a replica adds is a machine's worth, measured only on
a second machine. Sizes: BENCH_REPLICA_WRITERS, BENCH_REPLICA_READERS,
BENCH_REPLICA_SECONDS, BENCH_REPLICA_STREAMS.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

import asyncpg

from benchmarks.common import fresh_database, percentile, server_url
from store.database import asyncpg_dsn, create_pool
from store.event_store import EventStore
from store.records import START, NewEvent
from tests.replica import on_replica, streaming_replica

WRITERS = int(os.environ.get("BENCH_REPLICA_WRITERS", "8"))
READERS = int(os.environ.get("BENCH_REPLICA_READERS", "8"))
SECONDS = float(os.environ.get("BENCH_REPLICA_SECONDS", "10"))
STREAMS = int(os.environ.get("BENCH_REPLICA_STREAMS", "500"))
PROBE_INTERVAL = 0.1
EVENTS_PER_STREAM = 20


def _event(n: int) -> NewEvent:
    return NewEvent(type="Noted", data={"n": n, "topic": "trade and transit corridors " * 4})


async def _fill(store: EventStore) -> None:
    """STREAMS streams of EVENTS_PER_STREAM events, for the readers."""
    for s in range(STREAMS):
        await store.append(f"read-{s}", [_event(i) for i in range(EVENTS_PER_STREAM)], 0)


async def _writer(store: EventStore, w: int, until: float) -> int:
    count = 0
    while time.monotonic() < until:
        await store.append(f"write-{w}", [_event(count)], -1)
        count += 1
    return count


async def _probe(store: EventStore, replica: EventStore, until: float) -> list[float]:
    """Seconds from a probe's commit on the primary to its visibility on the standby."""
    lags: list[float] = []
    while time.monotonic() < until:
        written = await store.append("probe", [_event(len(lags))], -1)
        committed = time.monotonic()
        assert written.cursor is not None
        while True:  # as api/freshness.py waits, polling more often
            if (await replica.horizon()).transaction_id > written.cursor.transaction_id:
                break
            await asyncio.sleep(0.001)
        lags.append(time.monotonic() - committed)
        await asyncio.sleep(PROBE_INTERVAL)
    return lags


async def _replay_distance(primary: Any, replica: Any, until: float) -> list[float]:
    samples: list[float] = []
    while time.monotonic() < until:
        head = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
        distance = await replica.fetchval(
            "SELECT pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn())::bigint", head
        )
        samples.append(max(0.0, float(distance)))
        await asyncio.sleep(0.05)
    return samples


async def lag_under_writes(url: str, replica_url: str) -> None:
    pool = await create_pool(url, max_size=WRITERS + 2)
    replica_pool = await create_pool(replica_url, max_size=2)
    try:
        store, replica = EventStore(pool), EventStore(replica_pool)
        until = time.monotonic() + SECONDS
        started = time.monotonic()
        writing = asyncio.gather(*(_writer(store, w, until) for w in range(WRITERS)))
        counts, lags, distances = await asyncio.gather(
            writing, _probe(store, replica, until), _replay_distance(pool, replica_pool, until)
        )
        elapsed = time.monotonic() - started
        print(
            f"lag under writes: {WRITERS} writers, {sum(counts) / elapsed:,.0f} appends/s;"
            f" visible on the standby after p50 {percentile(lags, 0.5):.1f} ms,"
            f" p99 {percentile(lags, 0.99):.1f} ms, max {max(lags) * 1000:.1f} ms"
            f" ({len(lags)} probes); replay distance p50 {percentile(distances, 0.5) / 1024:,.0f}"
            f" kB, max {max(distances) / 1024:,.0f} kB"
        )
    finally:
        await pool.close()
        await replica_pool.close()


async def _reader(store: EventStore, until: float, rng: random.Random) -> int:
    count = 0
    while time.monotonic() < until:
        await store.read_stream(f"read-{rng.randrange(STREAMS)}")
        await store.read_all(START, limit=100, stream_prefix=f"read-{rng.randrange(STREAMS)}")
        count += 2
    return count


async def read_throughput(url: str, label: str) -> float:
    pool = await create_pool(url, max_size=READERS)
    try:
        store = EventStore(pool)
        until = time.monotonic() + SECONDS
        started = time.monotonic()
        counts = await asyncio.gather(
            *(_reader(store, until, random.Random(r)) for r in range(READERS))
        )
        rate = sum(counts) / (time.monotonic() - started)
        print(f"reads on the {label}: {READERS} readers, {rate:,.0f} reads/s")
        return rate
    finally:
        await pool.close()


async def main() -> None:
    admin = server_url()
    connection = await asyncpg.connect(asyncpg_dsn(admin))
    major = int(await connection.fetchval("SHOW server_version_num")) // 10000
    await connection.close()
    load = os.getloadavg()
    async with fresh_database("bench_replica") as url:
        with streaming_replica(admin, major) as socket_dir:
            replica_url = on_replica(url, socket_dir)
            filling = await create_pool(url, max_size=2)
            await _fill(EventStore(filling))
            await filling.close()
            await lag_under_writes(url, replica_url)
            primary = await read_throughput(url, "primary")
            standby = await read_throughput(replica_url, "standby")
            print(f"standby/primary read throughput: {standby / primary:.2f}")
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
