"""Client CPU per append, counted in instructions by valgrind's callgrind: load-independent.

Not a test. Wall-clock figures on the shared 2-core machines move with the load; the
number of instructions the client executes per append does not. For each side (the
store's single-event append, a raw INSERT on one connection, a raw INSERT through the
pool, and the store's 100-event append per event) the client runs under callgrind twice,
with BENCH_CPU_APPENDS and twice as many appends after the same warm-up, so start-up and
warm-up cancel out in the difference. Needs `valgrind` on PATH (Debian: apt-get install
valgrind).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg

from benchmarks.bench_store import METADATA, RAW_INSERT, RAW_TABLE, payload, raw_rows
from benchmarks.common import fresh_database
from store import EventStore, NewEvent
from store.database import SESSION_SETTINGS, asyncpg_dsn, create_pool

APPENDS = int(os.environ.get("BENCH_CPU_APPENDS", "200"))
WARM_UP = 50
BATCH = 100
SIDES = ("store", "raw_conn", "raw_pool", "store_batch")


async def inner(url: str, side: str, appends: int) -> None:
    """Run `appends` appends of one side at one writer (after the warm-up)."""
    pool = await create_pool(url, min_size=2, max_size=2)
    connection = await asyncpg.connect(asyncpg_dsn(url), server_settings=SESSION_SETTINGS)
    store = EventStore(pool)
    sid = f"cpu-{uuid.uuid4().hex[:8]}"
    version = 0
    for i in range(WARM_UP + appends):
        if side == "store":
            events = [NewEvent(type="Benchmarked", data=payload(i))]
            version = (await store.append(sid, events, version, METADATA)).version
        elif side == "store_batch":
            events = [NewEvent(type="Benchmarked", data=payload(i)) for _ in range(BATCH)]
            version = (await store.append(sid, events, version, METADATA)).version
        elif side == "raw_conn":
            await connection.execute(RAW_INSERT, *raw_rows(sid, i, 1, i)[0])
        else:
            await pool.execute(RAW_INSERT, *raw_rows(sid, i, 1, i)[0])
    await store.settle()
    await connection.close()
    await pool.close()


def instructions(url: str, side: str, appends: int) -> int:
    """Instructions the client executed (callgrind's total) for one run of `inner`."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not on PATH (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        subprocess.run(  # noqa: S603 - our own interpreter and module, our own arguments
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.bench_store_cpu",
                "--inner",
                url,
                side,
                str(appends),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},  # the same start-up in both runs
        )
        totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
        if totals is None:
            raise RuntimeError("callgrind wrote no totals")
        return int(totals[1])


async def main() -> str:
    rows: dict[str, float] = {}
    async with fresh_database("entente_bench_store_cpu") as url:
        owner = await asyncpg.connect(asyncpg_dsn(url))
        await owner.execute(RAW_TABLE)
        await owner.close()
        for side in SIDES:
            once = await asyncio.to_thread(instructions, url, side, APPENDS)
            twice = await asyncio.to_thread(instructions, url, side, 2 * APPENDS)
            events = APPENDS * (BATCH if side == "store_batch" else 1)
            rows[side] = (twice - once) / events
            print(f"{side}: {rows[side]:,.0f} instructions per event", flush=True)
    lines = [
        "| side | client instructions per event | vs. raw INSERT on its own connection |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {side} | {count:,.0f} | {count / rows['raw_conn']:.2f} |"
        for side, count in rows.items()
    ]
    return "\n".join(lines) + f"\n\n{APPENDS} and {2 * APPENDS} appends per side, one writer"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inner"]:
        asyncio.run(inner(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        report = asyncio.run(main())
        print("\n" + report)
        Path(".data").mkdir(exist_ok=True)
        Path(".data/bench-store-cpu.md").write_text(report + "\n")
