"""Must-show 3 (issue 16): SIGKILL of `entente worker` in the middle of a delivery loses
nothing; after a restart every event arrives, in order, and only the batch that was in
flight arrives twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from store import NO_STREAM, EventStore, NewEvent
from store.records import START
from store.webhook_subscriptions import Filters, create_subscription
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
BATCH = 5


def start_worker(owner_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--database-url", owner_url, "worker"],
        cwd=ROOT,
        env={
            **os.environ,
            "ENTENTE_WEBHOOK_SCHEMES": "http",
            "ENTENTE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
            "ENTENTE_WEBHOOK_BATCH_SIZE": str(BATCH),
            "ENTENTE_WEBHOOK_RETRY_FIRST_SECONDS": "0.1",
            "ENTENTE_WEBHOOK_RETRY_MAX_SECONDS": "0.5",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_sigkill_mid_delivery_loses_nothing_and_keeps_order(
    owner_database_url: str, pool, store: EventStore
):
    streams = [f"crash-{uuid.uuid4()}" for _ in range(4)]
    expected: list[str] = []
    for n in range(15):
        for stream in streams:
            event = NewEvent(type="Noted", data={"n": n})
            await store.append(stream, [event], NO_STREAM if n == 0 else n)
            expected.append(str(event.event_id))
    receiver = Receiver(delay=0.05)  # each request takes a while: a kill lands mid-request
    await receiver.start()
    await create_subscription(
        pool,
        owner="test",
        target_url=receiver.url,
        filters=Filters(stream_prefix="crash-"),
        start=START,
        created_by="test",
    )
    worker = start_worker(owner_database_url)
    try:
        await receiver.wait_for(20, timeout=60)
        if receiver.in_flight == 0:  # wait until a request is being answered
            receiver.answering.clear()
            await asyncio.wait_for(receiver.answering.wait(), 10)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        killed_at = len(receiver.requests)
        assert killed_at * BATCH < len(expected)  # killed before the end
        worker = start_worker(owner_database_url)
        await receiver.wait_for(len(expected), timeout=60)
        await asyncio.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        await receiver.stop()
    received = [i for r in receiver.requests for i in r.ids]
    first_seen = list(dict.fromkeys(received))
    assert first_seen == expected  # nothing lost, in log order
    duplicates = len(received) - len(first_seen)
    print(f"\n[webhooks] killed after {killed_at} requests; {duplicates} events sent twice")
    assert duplicates <= BATCH  # only the batch in flight came twice
    # and each request still carried consecutive events of the log
    for request in receiver.requests:
        start = expected.index(request.ids[0])
        assert request.ids == expected[start : start + len(request.ids)]
