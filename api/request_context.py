"""Request and correlation ids: taken from the caller when sane, echoed on every response.

Sane: a short run of safe characters that the log redaction leaves alone, so the ids can
go on every log line as they are (api/structured_logs.py does not redact them again)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.log_redaction import redact
from api.structured_logs import bind_request, unbind_request

_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def sane_header(scope: Scope, name: bytes) -> str | None:
    """The header's value when sane (see above), else None."""
    for key, value in scope.get("headers", []):
        if key == name:
            text = value.decode("latin-1")
            return text if _SANE.match(text) and redact(text) == text else None
    return None


def request_ids(app: ASGIApp) -> ASGIApp:
    """Middleware: put request_id and correlation_id in scope state and X-Request-ID out,
    and bind both to every log line written while the request is served (the worker's
    probe app; the API's own middleware, api/edge.py, does the same)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = sane_header(scope, b"x-request-id") or uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
        state["request_id"] = request_id
        state["correlation_id"] = sane_header(scope, b"x-correlation-id") or request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        tokens = bind_request(request_id, state["correlation_id"])
        try:
            await app(scope, receive, send_with_id)
        finally:
            unbind_request(tokens)

    return middleware
