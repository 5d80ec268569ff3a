"""A key's exports in progress are capped: beyond the cap, 429 and nothing written.

On an app with no worker of its own, so that queued jobs stay queued while counted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from reporting.export_worker import IN_PROGRESS_PER_KEY
from store.api_keys import create_key
from tests.api.conftest import auth

JOB = {"report": "visits", "format": "csv", "mode": "job"}


async def _runs_of(pool: Any, key: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM exports.runs WHERE requested_by = $1", key
    )
    return count


async def test_a_key_at_its_exports_in_progress_is_429_and_nothing_is_written(
    concurrent_client, pool
):
    busy = auth((await create_key(pool, "busy-reader", ["reader"]))[1])
    other = auth((await create_key(pool, "other-reader", ["reader"]))[1])
    assert IN_PROGRESS_PER_KEY == 4
    queued = []
    for _ in range(IN_PROGRESS_PER_KEY):
        job = await concurrent_client.post("/exports", headers=busy, json=JOB)
        assert job.status_code == 202, job.text
        queued.append(job.json()["run_id"])
    runs = await pool.fetchval("SELECT count(*) FROM exports.runs")

    for body in (JOB, {**JOB, "mode": "sync"}):  # either mode: the key's work in progress
        refused = await concurrent_client.post("/exports", headers=busy, json=body)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["retry-after"] == "10"
        problem = refused.json()
        assert problem["type"] == "urn:entente:problem:too-many-requests"
        assert "busy-reader" in problem["detail"]
        assert (problem["in_progress"], problem["limit"]) == (4, 4)
    assert await pool.fetchval("SELECT count(*) FROM exports.runs") == runs  # nothing written

    elsewhere = await concurrent_client.post("/exports", headers=other, json=JOB)
    assert elsewhere.status_code == 202, "another key has its own allowance"

    await pool.execute(  # a worker finishes one of them
        "UPDATE exports.runs SET status = 'failed', finished_at = now() WHERE run_id = $1::uuid",
        queued[0],
    )
    again = await concurrent_client.post("/exports", headers=busy, json=JOB)
    assert again.status_code == 202, again.text
    assert await _runs_of(pool, "busy-reader") == IN_PROGRESS_PER_KEY + 1


async def test_concurrent_requests_of_one_key_never_pass_the_cap_together(concurrent_client, pool):
    eager = auth((await create_key(pool, "eager-reader", ["reader"]))[1])
    answers = await asyncio.gather(
        *(concurrent_client.post("/exports", headers=eager, json=JOB) for _ in range(12))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202] * IN_PROGRESS_PER_KEY + [429] * (12 - IN_PROGRESS_PER_KEY)
    assert await _runs_of(pool, "eager-reader") == IN_PROGRESS_PER_KEY
