"""Webhook delivery: throughput to a local receiver, and latency from commit to receipt.

Throughput: EVENTS events are in the log before a subscription from the beginning is
made; the worker (delivery/delivering.py, in this process) delivers them to a receiver on
127.0.0.1 (tests/receiver.py, answering 200 at once) in batches of 100 and of 500; the
figure is events delivered per second of wall time, from the subscription to the last
receipt. Latency: an idle subscription, then one event appended every INTERVAL seconds
by one writer; each event's latency is from the moment its append returned (committed)
to the moment its request reached the receiver; p50/p99 over LATENCY_EVENTS events.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, percentile
from delivery.delivering import DeliverySettings, running_deliveries
from delivery.targets import TargetPolicy
from store.database import create_pool
from store.event_store import EventStore
from store.records import NO_STREAM, START, Cursor, NewEvent
from store.webhook_subscriptions import Filters, create_subscription, delete_subscription
from tests.receiver import Receiver

EVENTS = 50_000
STREAMS = 500
LATENCY_EVENTS = 300
INTERVAL = 0.02
POLICY = TargetPolicy(schemes=("http",), allow_hosts=("127.0.0.1",))


def payload(n: int) -> dict[str, Any]:
    """An event body of about 300 bytes, like a session or an indicator."""
    return {"n": n, "topic": "trade and transit corridors " * 4, "parties": ["KZ", "US"]}


async def fill(store: EventStore) -> None:
    """EVENTS events over STREAMS streams, 100 per append."""
    per_stream = EVENTS // STREAMS
    for s in range(STREAMS):
        for start in range(0, per_stream, 100):
            events = [NewEvent(type="Noted", data=payload(start + i)) for i in range(100)]
            await store.append(f"bench-{s}", events, NO_STREAM if start == 0 else start)


async def throughput(pool: Any, url: str, batch: int) -> dict[str, Any]:
    receiver = Receiver()
    await receiver.start()
    settings = DeliverySettings(batch_size=batch, idle_wait=0.2, policy=POLICY)
    async with running_deliveries(url, settings):
        started = time.monotonic()
        made, _ = await create_subscription(
            pool,
            owner="bench",
            target_url=receiver.url,
            filters=Filters(stream_prefix="bench-"),
            start=START,
            created_by="bench",
        )
        await receiver.wait_for(EVENTS, timeout=600)
        elapsed = time.monotonic() - started
    await receiver.stop()
    await delete_subscription(pool, made.subscription_id)
    return {
        "batch": batch,
        "events": receiver.delivered_events,
        "seconds": elapsed,
        "per_second": receiver.delivered_events / elapsed,
        "requests": len(receiver.requests),
    }


async def latency(pool: Any, url: str, store: EventStore) -> dict[str, Any]:
    receiver = Receiver()
    await receiver.start()
    head = await store.horizon()
    made, _ = await create_subscription(
        pool,
        owner="bench",
        target_url=receiver.url,
        filters=Filters(stream_prefix="latency-"),
        start=Cursor(head.transaction_id, 0),
        created_by="bench",
    )
    committed: dict[str, float] = {}
    async with running_deliveries(url, DeliverySettings(idle_wait=1.0, policy=POLICY)):
        await asyncio.sleep(1.5)  # the worker has picked the subscription up and is idle
        for n in range(LATENCY_EVENTS):
            event = NewEvent(type="Noted", data=payload(n))
            await store.append(f"latency-{n % 10}", [event])
            committed[str(event.event_id)] = time.monotonic()
            await asyncio.sleep(INTERVAL)
        await receiver.wait_for(LATENCY_EVENTS, timeout=60)
    await receiver.stop()
    await delete_subscription(pool, made.subscription_id)
    samples = [receiver.first_seen[i] - t for i, t in committed.items()]
    return {
        "events": len(samples),
        "p50": percentile(samples, 0.50),
        "p99": percentile(samples, 0.99),
        "max": max(samples) * 1000,
    }


async def main() -> str:
    async with fresh_database("entente_bench_feed") as url:
        pool = await create_pool(url, min_size=2, max_size=8)
        store = EventStore(pool)
        await fill(store)
        # as autovacuum would within a minute of such a bulk load: without statistics the
        # planner reads the global order by a sort over the whole table (~100 ms a page)
        await pool.execute("ANALYZE event_store.events")
        lines = [
            "| batch size | events | seconds | events/s | requests |",
            "|---:|---:|---:|---:|---:|",
        ]
        for batch in (100, 500):
            row = await throughput(pool, url, batch)
            lines.append(
                f"| {row['batch']} | {row['events']:,} | {row['seconds']:.2f}"
                f" | {row['per_second']:,.0f} | {row['requests']:,} |"
            )
            print(lines[-1], flush=True)
        found = await latency(pool, url, store)
        lines += [
            "",
            "| events (one every 20 ms) | p50 ms | p99 ms | max ms |",
            "|---:|---:|---:|---:|",
            f"| {found['events']} | {found['p50']:.1f} | {found['p99']:.1f} | {found['max']:.1f} |",
        ]
        print(lines[-1], flush=True)
        await store.settle()
        await pool.close()
    return "\n".join(lines)


if __name__ == "__main__":
    report = asyncio.run(main())
    print("\n" + report)
    Path(".data").mkdir(exist_ok=True)
    Path(".data/bench-feed.md").write_text(report + "\n")
