"""The README's curl tour, run by scripts/tour.sh against a real `entente serve` process."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest

from store.api_keys import ROLES, create_key
from tests.api.served import ROOT, served_api


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tour is written with curl")
async def test_the_readme_tour_runs_against_a_served_api(database_url, pool):
    _, token = await create_key(pool, "tour", list(ROLES))
    with served_api(database_url) as base:
        tour = await asyncio.to_thread(
            subprocess.run,
            ["bash", "scripts/tour.sh", base],
            cwd=ROOT,
            env={**os.environ, "ENTENTE_KEY": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert tour.returncode == 0, tour.stdout + tour.stderr
    assert "tour complete" in tour.stdout
    assert '"broken":[]' in tour.stdout
