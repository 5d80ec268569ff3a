"""Composing the application: its routes, hooks, middleware, plugins and lifespan.

The other half of the wiring, opening and handing out resources, is api/dependencies.py.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.middleware import DefineMiddleware
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

from api import (
    audit,
    calendar_tokens,
    dialogues,
    exports,
    feed,
    health,
    keys,
    metrics,
    outcomes,
    projections,
    read_models,
    relationships,
    reports,
    sessions,
    subscriptions,
    transparency,
    visits,
)
from api.background import background_work
from api.contract import openapi_config
from api.dependencies import (
    DEPENDENCIES,
    close_streams,
    keep_loops,
    new_state,
    serving_resources,
)
from api.dependencies import SYNC_EXPORTS as SYNC_EXPORTS  # tests and operators read it here
from api.edge import edge
from api.problems import MAX_BODY_BYTES, PROBLEM_MAP, unexpected
from api.request_checks import request_checks
from delivery.targets import TargetPolicy
from projections.status import max_lag_seconds
from reporting.export_worker import DEFAULT_ROOT
from store.availability import log_outages_in_one_line
from store.sealing import key_from_env


def _freeze_the_started_app() -> None:
    """Move everything alive now to the collector's permanent generation.

    Once started, the app's modules, routes, OpenAPI document and the framework's tables
    live as long as the process, yet every full pass of the cycle collector walked them
    again: frozen, a served command cost about a fifth less CPU (docs/PERFORMANCE.md,
    "HTTP commands"). Reference counting still frees what is dropped later. Not for a
    process that runs the projections: their batches use the freeze themselves
    (projections/collector.py), and not in tests, which start many apps in one process.
    """
    gc.collect()
    gc.freeze()


def create_app(
    database_url: str,
    *,
    pool_size: int = 10,
    run_projections: bool = False,
    export_root: Path = DEFAULT_ROOT,
    webhook_policy: TargetPolicy | None = None,
    read_database_url: str | None = None,
    freeze_after_startup: bool = False,
    lean_commands: bool = True,
) -> Litestar:
    """An app bound to one database; pools (and, locally, the projections) live with it.

    run_projections=True runs the worker (projections, exports) inside the API process, as
    `make run` does so that the local setup stays one command; production runs
    `entente worker` processes instead (docs/SCALING.md). `webhook_policy` says which
    webhook targets subscriptions may name (default: from the environment).
    `read_database_url` names a streaming replica (a least-privilege login, like
    `database_url`) for the reads that may run there (api/dependencies.py); without it
    every read goes to the primary. `freeze_after_startup` (what `entente serve` asks for
    when the process runs no background loops) keeps what the started app holds out of
    the cycle collector's walks (`_freeze_the_started_app`). `lean_commands=False` runs
    the command routes through Litestar's handler call instead of their lean path
    (api/commanding.py `lean_command`): the tests show both answer alike.
    """

    log_outages_in_one_line()
    key_from_env()  # a malformed webhook sealing key stops the app here, not at a request
    max_lag_seconds()  # and a malformed readiness bound, not every readiness probe

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with serving_resources(
            app.state,
            database_url,
            read_database_url=read_database_url,
            pool_size=pool_size,
            export_root=export_root,
            webhook_policy=webhook_policy,
        ):
            if run_projections:
                async with background_work(database_url, export_root) as loops:
                    keep_loops(app.state, loops)
                    yield
            else:
                if freeze_after_startup:
                    _freeze_the_started_app()
                yield
            close_streams(app)

    route_handlers: list[Any] = [
        *dialogues.routes,
        *sessions.routes,
        *outcomes.routes,
        *visits.routes,
        *relationships.routes,
        *audit.routes,
        *feed.routes,
        *transparency.routes,
        *read_models.routes,
        *reports.routes,
        *projections.routes,
        *exports.routes,
        *calendar_tokens.routes,
        *subscriptions.routes,
        *keys.routes,
        *health.routes,
        *metrics.routes,
    ]
    app = Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        dependencies=DEPENDENCIES,
        state=new_state(),
        before_request=request_checks,  # the key and role first (api/auth.py)
        # ids, log context, metrics, conditional GET in one, and the lean command path
        middleware=[DefineMiddleware(edge, lean=lean_commands)],  # api/edge.py
        plugins=[
            ProblemDetailsPlugin(ProblemDetailsConfig(exception_to_problem_detail_map=PROBLEM_MAP))
        ],
        exception_handlers={Exception: unexpected},
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=openapi_config(),
        debug=False,
        logging_config=None,  # the process configures logging (api/log_redaction.py), not Litestar
    )
    return app
