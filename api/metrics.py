"""`/metrics`: Prometheus text for this process, open like the health checks.

HTTP request counts and latency by route template and status (`entente_http_*`, the
names and labels Litestar's Prometheus middleware used) are counted by the app's one
middleware (api/edge.py) through `HTTP_REQUESTS`; the service's own metrics are in
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
from litestar.types import Scope
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest

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

LABELS = ("method", "path", "status_code", "app_name")
APP_NAME = "entente"
NOT_MEASURED = frozenset({"/metrics"})
"""Paths not counted (a scrape would count itself)."""


class RouteMetrics:
    """The metric children of one (method, route template): looked up once, then held."""

    def __init__(self, http: HttpRequests, method: str, path: str) -> None:
        self.in_progress = http.in_progress.labels(method, path, "200", APP_NAME)
        self.method = method
        self.path = path
        self.by_status: dict[int, tuple[Any, ...]] = {}


class HttpRequests:
    """`entente_http_*`: requests, errors, durations and requests in progress, labelled by
    method, route template (never an id), status and app name.

    Why not prometheus_client's `labels()` per request: it builds a tuple, checks and
    joins the label values under a lock each time; the children are cached here per
    route and status (a bounded set: route templates, methods and statuses)."""

    def __init__(self, prefix: str = "entente_http") -> None:
        self.total = Counter(f"{prefix}_requests_total", "Total requests", LABELS)
        self.errors = Counter(f"{prefix}_requests_error_total", "Total errors in requests", LABELS)
        self.duration = Histogram(
            f"{prefix}_request_duration_seconds", "Request duration, in seconds", LABELS
        )
        self.in_progress = Gauge(
            f"{prefix}_requests_in_progress",
            "Total requests currently in progress",
            LABELS,
            multiprocess_mode="livesum",
        )
        self._routes: dict[tuple[str, str], RouteMetrics] = {}

    def route(self, scope: Scope) -> RouteMetrics | None:
        """The children for this request's route, or None for a path not measured."""
        path = scope.get("path_template") or scope["path"]
        if path in NOT_MEASURED:
            return None
        method: str = scope.get("method", "GET")  # type: ignore[assignment]
        route = self._routes.get((method, path))
        if route is None:
            route = self._routes[(method, path)] = RouteMetrics(self, method, path)
        return route

    def observe(self, route: RouteMetrics, status: int, seconds: float) -> None:
        """Count one finished request and its duration."""
        children = route.by_status.get(status)
        if children is None:
            values = (route.method, route.path, str(status), APP_NAME)
            children = (self.total.labels(*values), self.duration.labels(*values))
            if status >= 500:
                children += (self.errors.labels(*values),)
            route.by_status[status] = children
        for counted in children[::2]:  # the total, and the errors of a 5xx
            counted.inc()
        children[1].observe(seconds)


HTTP_REQUESTS = HttpRequests()
"""This process's HTTP metrics (api/edge.py counts into them)."""


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
