"""Must-show (part of 3): /docs renders the API in a real browser with no network.

Headless Chromium (Debian's `chromium`, installed here when missing) opens the docs page
of a served API with every host name but localhost unresolvable, and its rendered DOM
must show every operation of the document: Swagger UI gives each one an element id
ending in its operationId and a `data-path` with its path, and it renders none of them
unless its script and the document loaded. So a page that still needed a CDN fails.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests import browser
from tests.api.serving import served_api

HTTP_TIMEOUT = 120
"""Seconds: the first request for the document builds it, slow on a loaded machine."""
RENDER_BUDGET_MS = 30_000
"""Virtual time the page gets to load and render (it needs about a second)."""

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    # any host but the loopback address fails to resolve: the page gets no network
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the chromium binary; on a machine without it, the install that
    tests/browser.py started when this test was collected (the rest of the suite ran
    meanwhile) is awaited here."""
    found, reason = browser.chromium_when_installed()
    if found is None:
        pytest.skip(
            "headless Chromium is needed to render /docs and could not be installed "
            f"({reason}); install Debian's `chromium` package to run this test"
        )
    return found


def rendered_dom(chromium: str, url: str, profile: Path) -> str:
    """The page's DOM after it loaded and ran its scripts (virtual time, no waiting)."""
    done = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={RENDER_BUDGET_MS}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


async def test_docs_render_every_operation_with_no_network(
    chromium: str, database_url: str, tmp_path: Path
) -> None:
    async with served_api(database_url) as (base, _):
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            page = (await http.get(f"{base}/docs")).text
            document = (await http.get(f"{base}/docs/openapi.json")).json()
        dom = rendered_dom(chromium, f"{base}/docs", tmp_path / "profile")

    # the page itself names no other host: every asset comes from the app
    assets = re.findall(r"""<(?:script|link)[^>]*(?:src|href)=["']([^"']+)""", page)
    assert assets and all(asset.startswith("/docs/assets/") for asset in assets), assets

    operations = {
        (path, operation["operationId"])
        for path, item in document["paths"].items()
        for operation in item.values()
        if isinstance(operation, dict)
    }
    assert len(operations) > 90, len(operations)
    shown_ids = set(re.findall(r'id="operations-[^"]*?-(\w+)"', dom))
    shown_paths = set(re.findall(r'data-path="([^"]+)"', dom))
    missing = sorted(
        (path, op_id)
        for path, op_id in operations
        if op_id not in shown_ids or path not in shown_paths
    )
    assert not missing, (missing[:10], dom[:2000])
    assert 'class="btn authorize' in dom  # the bearer scheme's Authorize button
