"""The service's own Prometheus metrics, defined once per process (docs/OPERATIONS.md
"Metrics" lists each with an example alert).

They live in `store` so that the event store, the projections and the exports can count
what they do without importing the API; `/metrics` (api/metrics.py) exposes them with
Litestar's HTTP metrics. Labels are names from the code (command types, projections,
reports, loops), never values from a request: no id, actor or key reaches a label.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter(
    "entente_commands",
    "Commands handled, by command type and outcome (accepted, conflict, rejected, failed)",
    ["command", "outcome"],
)
APPEND_SECONDS = Histogram(
    "entente_append_seconds",
    "Time to append one command's events to the log (committed appends)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
APPEND_BATCH_SIZE = Histogram(
    "entente_append_batch_size",
    "Appends combined into one database call by write combining",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
APPEND_CALL_SECONDS = Histogram(
    "entente_append_call_seconds",
    "Time one database call of the append path takes, from sending it to its result"
    " (a combined call, a lone append, a multi-event append); beside"
    " entente_append_seconds it tells time at the database from time waiting for a call",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
PROJECTION_LAG_EVENTS = Gauge(
    "entente_projection_lag_events",
    "Events in the log a projection has not applied yet (read when scraped)",
    ["projection"],
)
PROJECTION_LAG_SECONDS = Gauge(
    "entente_projection_lag_seconds",
    "Age of the oldest event a projection has not applied yet (read when scraped)",
    ["projection"],
)
PROJECTION_EVENTS_APPLIED = Gauge(
    "entente_projection_events_applied",
    "Events a projection has applied since it was built (its checkpoint, read when scraped)",
    ["projection"],
)
PROJECTION_BATCHES = Counter(
    "entente_projection_batches",
    "Projection batches applied by this process",
    ["projection"],
)
EXPORTS = Counter(
    "entente_exports",
    "Report exports produced, by report, format and outcome (succeeded, failed)",
    ["report", "format", "outcome"],
)
LOOP_RESTARTS = Gauge(
    "entente_loop_restarts",
    "Times a background loop of this process was restarted after a failure"
    " (store/supervision.py; read when scraped)",
    ["loop"],
)
LOOP_RUNNING = Gauge(
    "entente_loop_running",
    "1 while a background loop of this process is running, else 0 (read when scraped)",
    ["loop"],
)
