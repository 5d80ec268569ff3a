"""The app's one middleware: request ids, log context, HTTP metrics and conditional GET.

Why one pure ASGI function instead of three middlewares and Litestar's Prometheus
middleware: each layer cost a closure, a wrapped `send` and, for the Prometheus one, a
Request object, label dicts and four `labels()` lookups per request, on every command.
Here each request wraps `send` once, the metric children are looked up once per (method,
route template, status) and then held, and the conditional GET work (api/conditional.py)
runs only for the GET routes that opt in.

A route whose handler names a lean app in its `opt` (LEAN: the command routes,
api/commanding.py `lean_command`) is served by that app instead of Litestar's handler
call, inside the same exception middleware, so a problem it raises is rendered as the
route's own would be and still passes this middleware's `send`.

What each part does is unchanged: X-Request-ID in and out (api/request_context.py),
request_id and correlation_id on every log line, `entente_http_*` by route template
(api/metrics.py), ETag / 304 / Cache-Control (api/conditional.py).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from litestar._asgi.utils import wrap_in_exception_handler
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.conditional import held, policy_of
from api.metrics import HTTP_REQUESTS
from api.request_context import sane_header
from api.structured_logs import bind_request, unbind_request

LEAN = "lean"
"""A route handler's `opt` key: a function of the route's own ASGI app (its fallback)
giving the app that serves the route instead."""


def edge(app: ASGIApp, *, lean: bool = True) -> ASGIApp:
    """Middleware: ids, log context, metrics and conditional GET around every HTTP request.

    Litestar builds one stack per route handler and method, so `app` is one route's.
    `lean=False` serves every route through Litestar (the tests compare the two paths).
    """
    lean_apps: dict[int, ASGIApp] = {}

    def served_by(scope: Scope) -> ASGIApp:
        """The route's lean app when it has one (built once), else the route itself."""
        handler = scope.get("route_handler")
        if handler is None or not lean:
            return app
        found = lean_apps.get(id(handler))
        if found is None:
            lean_app = handler.opt.get(LEAN)
            found = lean_apps[id(handler)] = (
                app if lean_app is None else wrap_in_exception_handler(lean_app(app))
            )
        return found

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = sane_header(scope, b"x-request-id") or uuid.uuid4().hex
        correlation_id = sane_header(scope, b"x-correlation-id") or request_id
        state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
        state["request_id"] = request_id
        state["correlation_id"] = correlation_id
        id_header = (b"x-request-id", request_id.encode())
        status = 200  # as Litestar's middleware counted a request that never answered

        async def send_out(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        policy = policy_of(scope)
        inner = send_out if policy is None else held(scope, policy, send_out)
        measured = HTTP_REQUESTS.route(scope)
        tokens = bind_request(request_id, correlation_id)
        started = time.perf_counter()
        if measured is not None:
            measured.in_progress.inc()
        try:
            await served_by(scope)(scope, receive, inner)
        finally:
            if measured is not None:
                measured.in_progress.dec()
                HTTP_REQUESTS.observe(measured, status, time.perf_counter() - started)
            unbind_request(tokens)

    return middleware
