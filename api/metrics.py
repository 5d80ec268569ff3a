"""`/metrics`: Prometheus text for this process, open like the health checks.

HTTP request counts and latency by route template and status come from Litestar's
Prometheus middleware (`entente_http_*`); the service's own metrics are in
store/metrics.py. Projection lag and loop state are read when scraped: the lag from the
checkpoints in the database (so any API process reports it, whichever worker projects),
the loops from this process's supervisors.

Why no key: the text holds counts labelled with route templates, command types,
projection, report and loop names, never an id, actor, key or a value from a request,
so there is no audit metadata to protect; scrapers rarely hold API keys. Put the port
behind the network policy you give /health if even those counts are private.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import REGISTRY, generate_latest

from projections.status import projection_status
from store.database import Pool
from store.metrics import (
    LOOP_RESTARTS,
    LOOP_RUNNING,
    PROJECTION_EVENTS_APPLIED,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
)
from store.supervision import SupervisedLoop

log = logging.getLogger("entente.metrics")

SCRAPE_DATABASE_TIMEOUT = 2.0
"""Seconds a scrape waits for the checkpoints; past that the lag gauges keep their last
values (the scrape itself still answers, so an outage does not hide the other metrics)."""

CONTENT_TYPE = "text/plain; version=0.0.4"
"""The classic text format every Prometheus reads (Litestar adds the charset)."""

HTTP_METRICS = PrometheusConfig(
    app_name="entente",
    prefix="entente_http",
    group_path=True,  # label by route template: /dialogues/{dialogue_id}, never an id
    exclude=["^/metrics$"],
)


async def _read_projections(pool: Any) -> None:
    for s in await asyncio.wait_for(projection_status(pool), SCRAPE_DATABASE_TIMEOUT):
        PROJECTION_LAG_EVENTS.labels(s.projection).set(s.lag_events)
        PROJECTION_LAG_SECONDS.labels(s.projection).set(s.lag_seconds)
        PROJECTION_EVENTS_APPLIED.labels(s.projection).set(s.events_applied)


def _read_loops(loops: list[SupervisedLoop]) -> None:
    for loop in loops:
        status = loop.status()
        LOOP_RESTARTS.labels(status.loop).set(status.restarts)
        LOOP_RUNNING.labels(status.loop).set(1 if loop.alive else 0)


@get(
    "/metrics",
    summary="Prometheus metrics of this process",
    description="Prometheus text exposition: HTTP, commands, appends, projection lag, "
    "exports and background loops (docs/OPERATIONS.md lists each). No key needed; holds "
    "no register data and no audit metadata.",
    tags=["health"],
    opt={"permission": "public"},
    media_type=CONTENT_TYPE,
)
async def metrics(pool: Pool, loops: list[SupervisedLoop]) -> Response[bytes]:
    """Refresh the gauges read at scrape time, then render every metric."""
    try:
        await _read_projections(pool)
    except Exception as error:  # an outage or a slow database must not fail the scrape
        log.warning("metrics: projection lag not read (%s)", type(error).__name__)
    _read_loops(loops)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE)


routes = [metrics]
