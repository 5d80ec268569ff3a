"""Replaying one long stream: GET /dialogues/{id} at its head and as recorded mid-way.

One dialogue of EVENTS events (BENCH_REPLAY_EVENTS, default 10,000): ten sessions
scheduled and held, each with an outcome and a progress note, then renames, lead changes
and outcome status changes (a state of a real dialogue's size), appended 100 events per
append so that recorded times step through the stream. The API is served in this
process by uvicorn on a free port and read over HTTP by one client, REQUESTS times per
figure (BENCH_REPLAY_REQUESTS, default 20):

- at the head and with ?as_of= the moment event EVENTS/2 was recorded,
- each without the cache of folded states (ENTENTE_REPLAY_SNAPSHOTS=0's behaviour, the
  baseline of the same run) and with it (service/replaying.py), after one cold request;

and, for reference, the in-process cost of a full replay: reading the stream, and
decoding plus folding it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from litestar import Litestar

from api.app import create_app
from benchmarks.common import fresh_database, percentile
from domain import commands as c
from domain.codec import domain_events
from domain.events import Event
from domain.facts import OutcomeStatus
from domain.streams import DIALOGUE, decide_all, decider_for
from domain.values import Person
from service.handling import load, to_new_event
from service.replaying import FoldedStates
from store.api_keys import create_key
from store.database import create_pool
from store.event_store import EventStore
from store.roles import derived_app_url, provision_login_role
from tests.unit import builders as b

EVENTS = int(os.environ.get("BENCH_REPLAY_EVENTS", "10000"))
REQUESTS = int(os.environ.get("BENCH_REPLAY_REQUESTS", "20"))
STATUSES: tuple[OutcomeStatus, ...] = ("in progress", "adopted")
SESSIONS = 10


def _ids(n: int, kind: str) -> uuid.UUID:
    return uuid.uuid5(b.D, f"{kind}/{n}")


def _opening(n: int) -> Iterator[c.Command]:
    """A year of the dialogue: a session scheduled and held, an outcome and a note."""
    s, o = _ids(n, "session"), _ids(n, "outcome")
    yield b.schedule(s, when="2022")
    yield b.hold(s, when="2022-06-15")
    yield b.adopt(o, s, target="2023")
    yield c.RecordProgress(
        dialogue_id=b.D, outcome_id=o, progress_id=_ids(n, "note"), progress=b.progress()
    )


def _follow_up(n: int) -> Iterator[c.Command]:
    """The long tail of an audited dialogue: renames, leads, outcome statuses."""
    yield c.RenameDialogue(dialogue_id=b.D, name=f"Dialogue {n}")
    lead = Person(name=f"Lead {n}", title="Minister", organization="MFA", party="KZ")
    yield c.AppointLead(dialogue_id=b.D, lead=lead)
    outcome = _ids(n % SESSIONS, "outcome")
    yield c.ChangeOutcomeStatus(
        dialogue_id=b.D, outcome_id=outcome, status=STATUSES[n // SESSIONS % 2]
    )


def long_history(events: int) -> list[Event]:
    """A dialogue's first `events` events, decided in memory: SESSIONS sessions with an
    outcome each, then follow-up, so the state stays the size of a real dialogue's."""
    openings = (command for n in range(SESSIONS) for command in _opening(n))
    follow_ups = (command for n in range(events) for command in _follow_up(n))
    history = decide_all([b.launch(), *openings, *follow_ups])[DIALOGUE.stream_id(b.D)]
    return history[:events]


async def fill(store: EventStore, history: list[Event]) -> None:
    """The history, 100 events per append (each append has its own recorded time)."""
    stream_id = DIALOGUE.stream_id(b.D)
    for start in range(0, len(history), 100):
        chunk = [to_new_event(e) for e in history[start : start + 100]]
        await store.append(stream_id, chunk, start, {"actor": "bench"})


async def in_process(store: EventStore) -> dict[str, float]:
    """Milliseconds to read the whole stream, and to decode and fold it (median of 5)."""
    reads, folds = [], []
    decider = decider_for(b.launch())
    for _ in range(5):
        started = time.perf_counter()
        records = await store.read_stream(DIALOGUE.stream_id(b.D))
        read = time.perf_counter()
        decider.fold(domain_events(records))
        reads.append(read - started)
        folds.append(time.perf_counter() - read)
    return {
        "read_ms": statistics.median(reads) * 1000,
        "decode_fold_ms": statistics.median(folds) * 1000,
    }


async def cpu_per_replay(store: EventStore, middle: dt.datetime) -> dict[str, float]:
    """This process's CPU milliseconds per `load` (median of REQUESTS), whole and cached:
    less sensitive to the machine's load than wall time (PostgreSQL's share excluded)."""
    figures = {}
    stream_id = DIALOGUE.stream_id(b.D)
    for name, until in (("head", None), ("as_of_middle", middle)):
        for cache in (FoldedStates(capacity=0), FoldedStates()):
            await load(store, stream_id, recorded_until=until, folded=cache)  # warm
            samples = []
            for _ in range(REQUESTS):
                started = time.process_time()
                await load(store, stream_id, recorded_until=until, folded=cache)
                samples.append(time.process_time() - started)
            label = "with cache" if cache.capacity else "without cache"
            figures[f"{name}, {label}"] = statistics.median(samples) * 1000
    return figures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def timed_gets(http: httpx.AsyncClient, url: str, params: dict[str, str]) -> list[float]:
    """REQUESTS sequential GETs; each must answer 200 with the whole state."""
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = await http.get(url, params=params)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return samples


async def over_http(app: Litestar, base: str, token: str, middle: dt.datetime) -> dict[str, Any]:
    """p50/p99 at the head and as of the middle, without and with the cache."""
    url = f"{base}/dialogues/{b.D}"
    points = {"head": {}, "as_of_middle": {"as_of": middle.isoformat()}}
    figures: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=120) as http:
        for cache in ("without cache", "with cache"):
            app.state.folded = FoldedStates(capacity=0 if cache == "without cache" else 5_000)
            for name, params in points.items():
                started = time.perf_counter()
                response = await http.get(url, params=params)
                first = time.perf_counter() - started
                assert response.status_code == 200, response.text
                samples = await timed_gets(http, url, params)
                figures[f"{name}, {cache}"] = {
                    "first_ms": round(first * 1000, 1),
                    "p50_ms": round(percentile(samples, 0.5), 1),
                    "p99_ms": round(percentile(samples, 0.99), 1),
                    "version": response.json()["version"],
                }
    return figures


async def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    history = long_history(EVENTS)
    async with fresh_database("bench_replay") as url:
        pool = await create_pool(url, max_size=4)
        try:
            store = EventStore(pool)
            await fill(store, history)
            middle_event = await store.read_stream(
                DIALOGUE.stream_id(b.D), from_version=EVENTS // 2, to_version=EVENTS // 2
            )
            middle = middle_event[0].recorded_at
            reference = await in_process(store)
            cpu = await cpu_per_replay(store, middle)
            _, token = await create_key(pool, "bench", ["reader"])
        finally:
            await pool.close()
        await provision_login_role(url, derived_app_url(url))
        port = _free_port()
        app = create_app(derived_app_url(url))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.05)
        try:
            figures = await over_http(app, f"http://127.0.0.1:{port}", token, middle)
        finally:
            server.should_exit = True
            await serving
    print(
        f"stream of {len(history)} events; {REQUESTS} requests per figure; "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(
        f"in process, whole stream: read {reference['read_ms']:.0f} ms, "
        f"decode + fold {reference['decode_fold_ms']:.0f} ms"
    )
    for name, ms in cpu.items():
        print(f"in process, CPU per replay {name:<28} {ms:>8.1f} ms")
    for name, f in figures.items():
        print(
            f"GET {name:<28} first {f['first_ms']:>7.1f} ms  p50 {f['p50_ms']:>7.1f} ms"
            f"  p99 {f['p99_ms']:>7.1f} ms  (version {f['version']})"
        )


if __name__ == "__main__":
    asyncio.run(main())
