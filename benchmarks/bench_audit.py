"""The transparency log at scale: tree building, inclusion proofs and audit bundles.

Not a test: it prints a table (and writes it to .data/bench-audit.md) for
docs/PERFORMANCE.md. A log of BENCH_AUDIT_EVENTS events (default 1,000,000) is bulk
inserted as the owner (the tree reads only the stored columns, so these rows need not
carry real chains) and vacuumed, plus one relationship of 1,000 events appended through
the store.
Then, on the same server:

- the checkpointer builds the tree over the whole backlog and signs (leaves per second,
  to set beside the store's append rate in bench-store);
- inclusion proofs for random events are served over HTTP by the app (auditor key);
- the 1,000-event relationship's audit bundle is served over HTTP, and verified offline;
- the whole log is verified against the tree (`verify_tree`: every leaf recomputed from
  its event, the root folded again and compared with the latest checkpoint).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from benchmarks.common import fresh_database, percentile
from entente_verify.bundle import verify_bundle
from entente_verify.note import Signer
from store import EventStore, NewEvent
from store.api_keys import create_key
from store.database import create_pool
from store.transparency import Checkpointer, verify_tree

EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))
CHUNK = 100_000
STREAMS = 10_000
PAIR = ("DE", "FR")
RELATIONSHIP_EVENTS = 1000
PROOFS = 2000
BUNDLES = 20

BULK_SQL = """INSERT INTO event_store.events (transaction_id, stream_id, version, event_id, type,
    schema_version, data, metadata, recorded_at, prev_hash, hash)
SELECT pg_current_xact_id(), 'bench-' || (g % $3), g / $3 + 1, gen_random_uuid(), 'Noted', 1,
    jsonb_build_object('n', g, 'summary', repeat('x', 300)), '{"actor": "bench"}',
    now(), NULL, sha256(convert_to(g::text, 'UTF8'))
FROM generate_series($1::bigint, $2::bigint - 1) AS g"""


async def load(owner_url: str) -> None:
    """The bulk of the log (owner, set-based), then the relationship through the store."""
    pool = await create_pool(owner_url, max_size=2)
    try:
        for start in range(0, EVENTS, CHUNK):
            await pool.execute(BULK_SQL, start, min(start + CHUNK, EVENTS), STREAMS)
        store = EventStore(pool)
        stream = f"relationship-{PAIR[0]}-{PAIR[1]}"
        for version in range(0, RELATIONSHIP_EVENTS, 100):
            events = [
                NewEvent(type="IndicatorRecorded", data={"n": n, "value": n * 1.5})
                for n in range(version, version + 100)
            ]
            await store.append(stream, events, version, {"actor": "bench"})
        await store.settle()
        # Set hint bits and the visibility map now: the first reader of a freshly bulk-
        # loaded row pays for that, which in service the projections do as events arrive.
        await pool.execute("VACUUM (ANALYZE) event_store.events")
    finally:
        await pool.close()


async def build(url: str, signer: Signer) -> tuple[float, float, int]:
    """(seconds, CPU seconds of this process, leaves) for the checkpointer to take in the
    whole backlog and sign."""
    pool = await create_pool(url, max_size=2)
    checkpointer = Checkpointer(pool, url, signer)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        await checkpointer.catch_up()
        return time.perf_counter() - started, time.process_time() - cpu, checkpointer.size
    finally:
        await checkpointer.release()
        await pool.close()


async def verify_whole_log(url: str) -> tuple[float, float, int]:
    """(seconds, CPU seconds of this process, leaves checked) for `verify_tree` over the
    whole log, as `GET /verify` and `entente verify` run it."""
    pool = await create_pool(url, max_size=2)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        report = await verify_tree(pool)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await pool.close()
    assert report.intact, report.problems[:3]
    return seconds, cpu, report.leaves_checked


async def serve(url: str, size: int, signer: Signer) -> dict[str, Any]:
    """Proof and bundle latencies over HTTP, through the app's own routes and guard."""
    app = create_app(url, pool_size=4)
    async with app.lifespan():
        _, token = await create_key(app.state.pool, "bench-auditor", ["auditor"])
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            positions = await app.state.pool.fetch(
                "SELECT position FROM transparency.leaves WHERE leaf_index = ANY($1::bigint[])",
                random.sample(range(size), PROOFS),
            )
            proof_times = []
            for row in positions:
                started = time.perf_counter()
                response = await http.get(
                    "/transparency/inclusion",
                    params={"position": row["position"], "tree_size": size},  # a kept one
                    headers=headers,
                )
                proof_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            bundle_times = []
            content = b""
            for _ in range(BUNDLES):
                started = time.perf_counter()
                response = await http.get(
                    f"/relationships/{PAIR[0]}-{PAIR[1]}/bundle", headers=headers
                )
                bundle_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                content = response.content
    started = time.perf_counter()
    report = verify_bundle(content, signer.verifier)
    verified = time.perf_counter() - started
    assert report.ok and len(report.events) == RELATIONSHIP_EVENTS, report.lines()[-1]
    return {
        "proof_p50": percentile(proof_times, 0.5),
        "proof_p99": percentile(proof_times, 0.99),
        "bundle_p50": percentile(bundle_times, 0.5),
        "bundle_p99": percentile(bundle_times, 0.99),
        "bundle_max": max(bundle_times) * 1000,
        "bundle_bytes": len(content),
        "verify_ms": verified * 1000,
    }


async def main() -> str:
    """Run every scenario once on a fresh database; the Markdown table."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    signer = Signer.generate("bench.entente/log")
    load_before = os.getloadavg()[0]
    async with fresh_database("entente_bench_audit") as url:
        started = time.perf_counter()
        await load(url)
        loaded = time.perf_counter() - started
        print(f"loaded {EVENTS + RELATIONSHIP_EVENTS:,} events in {loaded:.0f} s", flush=True)
        seconds, cpu, leaves = await build(url, signer)
        print(f"tree: {leaves:,} leaves in {seconds:.1f} s", flush=True)
        served = await serve(url, leaves, signer)
        verified, verify_cpu, checked = await verify_whole_log(url)
        print(f"verified {checked:,} leaves in {verified:.1f} s", flush=True)
    rate = leaves / seconds
    return "\n".join(
        [
            "| measure | figure | target |",
            "|---|---|---|",
            f"| log size | {leaves:,} events | ≥ 1,000,000 |",
            f"| tree build (leaves + nodes + signed checkpoint) | {rate:,.0f} leaves/s"
            f" ({seconds:.1f} s) | ≥ 20,000 leaves/s |",
            f"| checkpointer's own CPU (hashing, encoding) | {cpu / leaves * 1e6:.1f} µs/leaf"
            f" ({leaves / cpu:,.0f} leaves per CPU-second) | — |",
            f"| load average (1 min) before / after the run | {load_before:.1f} /"
            f" {os.getloadavg()[0]:.1f} | — |",
            f"| inclusion proof over HTTP, p50 / p99 | {served['proof_p50']:.2f} /"
            f" {served['proof_p99']:.2f} ms | p99 < 10 ms |",
            f"| 1,000-event relationship bundle over HTTP, p50 / p99 / max |"
            f" {served['bundle_p50']:.0f} / {served['bundle_p99']:.0f} /"
            f" {served['bundle_max']:.0f} ms ({served['bundle_bytes'] / 1e6:.1f} MB) | < 1 s |",
            f"| offline verification of that bundle | {served['verify_ms']:.0f} ms | — |",
            f"| whole-log verification against the tree (`verify_tree`) | {verified:.1f} s,"
            f" {checked / verified:,.0f} leaves/s (own CPU {verify_cpu / checked * 1e6:.1f}"
            " µs/leaf) | — |",
        ]
    )


if __name__ == "__main__":
    report = asyncio.run(main())
    print("\n" + report)
    Path(".data").mkdir(exist_ok=True)
    Path(".data/bench-audit.md").write_text(report + "\n")
