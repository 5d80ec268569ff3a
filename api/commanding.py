"""One HTTP route per domain command, all handled the same way.

POST body = the command (a msgspec Struct); ids in the path must match the body's.
If-Match carries the stream version the caller last saw; it is required for corrections
and retractions (they amend what someone else recorded) and optional elsewhere: the
command is then judged against the latest state and appended at the version it was
judged on, so a concurrent change is a 409, never a lost update.
"""

from __future__ import annotations

import functools
import hashlib
import re
from enum import Enum
from typing import Annotated, Any, NamedTuple

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.types import ASGIApp, Receive, Scope, Send

from api.auth import caller
from api.dependencies import command_store
from api.edge import LEAN
from api.problems import problem, problem_responses
from api.representation import MAX_ITEMS, MAX_TEXT, oversize, unstorable
from api.request_checks import STRICT_BODY, request_checks
from domain.commands import Command
from domain.errors import AlreadyExists, DomainError
from domain.streams import location_for, stream_id_for
from service.handling import handle
from store.errors import IdempotencyKeyReused, WrongExpectedVersion
from store.event_store import EventStore
from store.metrics import COMMANDS


class IfMatch(Enum):
    """How a route treats the If-Match header."""

    OPTIONAL = "optional"
    REQUIRED = "required"


class CommandAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """What a command did: the stream's new version and a position token for reads."""

    stream_id: str
    version: int
    events: list[str]
    positions: list[int]
    position: str | None
    replayed: bool


class Accepted(NamedTuple):
    """A command's answer before it is a response: what both command paths send."""

    content: CommandAccepted
    status: int
    headers: dict[str, str]


ETAG_PATTERN = r'^\s*(?:"(0|[1-9][0-9]{0,17})"|(0|[1-9][0-9]{0,17}))\s*$'
"""A strong ETag as GET sends it, `"3"` (or bare, `3`, which curl users type). Only the
forms the server issues: If-Match compares strongly (RFC 9110 13.1.1), so a weak W/"3",
a `"07"` that no GET ever sent, half a pair of quotes, `*` or a list are refused with a
400 rather than read as some version."""
_ETAG = re.compile(ETAG_PATTERN)


def expected_version(request: Request[Any, Any, Any], policy: IfMatch) -> int | None:
    """The version named by If-Match, or None when absent and allowed to be."""
    header = request.headers.get("if-match")
    if header is None:
        if policy is IfMatch.REQUIRED:
            raise problem(428, "send If-Match with the version (ETag) you are correcting")
        return None
    match = _ETAG.match(header)
    if match is None:
        weak = " (a weak ETag never matches: send it without W/)" if "W/" in header else ""
        raise problem(400, f'If-Match must be an ETag like "3", not {header!r}{weak}')
    return int(match.group(1) or match.group(2))


def idempotency_key(request: Request[Any, Any, Any], actor: str) -> str | None:
    """The caller's Idempotency-Key, scoped to the key that sent it."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not re.fullmatch(r"[\x21-\x7e]{1,200}", key):
        raise problem(400, "Idempotency-Key must be 1-200 visible ASCII characters")
    return f"{actor}:{key}"


def fingerprint(request: Request[Any, Any, Any], body: Any) -> bytes:
    """What makes a retry "the same request": method, path, If-Match and decoded body."""
    canonical = msgspec.json.encode(
        [request.method, request.url.path, request.headers.get("if-match"), body],
        order="sorted",
    )
    return hashlib.sha256(canonical).digest()


def _check_path(request: Request[Any, Any, Any], body: dict[str, Any]) -> None:
    for name, value in request.path_params.items():
        if name == "pair":
            wanted = "-".join(sorted(str(p) for p in body.get("parties", [])))
            given = "-".join(sorted(str(value).upper().split("-")))
        else:
            wanted, given = str(body.get(name)), str(value)
        if wanted != given:
            raise problem(
                422,
                f"the path says {name}={given} but the body says {wanted}",
                kind="path-body-mismatch",
            )


SMALL_BODY = min(MAX_TEXT, 2 * MAX_ITEMS)
"""A JSON text this short holds no string over MAX_TEXT characters and no list over
MAX_ITEMS items (each item takes a character and a comma), so it is not walked."""


async def _check_representation(request: Request[Any, Any, Any], body: Any) -> None:
    """422 for text or lists over the register's limits, or text holding a NUL.

    Walking the decoded body costs more than the rest of a command's checks together, so
    the raw JSON is asked first: a short one cannot be oversize, and a NUL can only be
    written in JSON as the escape \\u0000 (a raw control character is refused when decoded).
    """
    raw = await request.body()
    if len(raw) > SMALL_BODY and (too_big := oversize(body)):
        raise problem(422, too_big, kind="too-long")
    if b"\\u0000" in raw and (nul := unstorable(body)):
        raise problem(422, nul, kind="invalid-value")


def _outcome(error: Exception) -> str:
    """How a command that raised counts in entente_commands."""
    if isinstance(error, WrongExpectedVersion | AlreadyExists):
        return "conflict"
    if isinstance(error, DomainError | IdempotencyKeyReused):
        return "rejected"
    if isinstance(error, HTTPException) and error.status_code < 500:
        return "rejected"
    return "failed"


async def run_command(
    request: Request[Any, Any, Any],
    store: EventStore,
    command: Command,
    policy: IfMatch,
    created: bool,
) -> Accepted:
    """Authorised, decoded command → decision → answer with ETag and Location; each
    counted by outcome (accepted, conflict, rejected, failed)."""
    name = type(command).__name__
    try:
        accepted = await _run_command(request, store, command, policy, created)
    except Exception as error:
        COMMANDS.labels(name, _outcome(error)).inc()
        raise
    COMMANDS.labels(name, "accepted").inc()
    return accepted


async def _run_command(
    request: Request[Any, Any, Any],
    store: EventStore,
    command: Command,
    policy: IfMatch,
    created: bool,
) -> Accepted:
    body = msgspec.to_builtins(command)
    await _check_representation(request, body)
    _check_path(request, body)
    key = caller(request)
    state = request.scope["state"]
    idem = idempotency_key(request, key.name)
    decision = await handle(
        store,
        command,
        expected_version=expected_version(request, policy),
        metadata={
            "actor": key.name,
            "request_id": state["request_id"],
            "correlation_id": state["correlation_id"],
            "causation_id": state["request_id"],
            "command": type(command).__name__,
            "reason": getattr(command, "reason", None),
        },
        idempotency_key=idem,
        fingerprint=fingerprint(request, body) if idem else None,
    )
    token = decision.cursor.encode() if decision.cursor else None
    headers = {"ETag": f'"{decision.version}"', "Location": location_for(decision.stream_id)}
    if token:
        headers["X-Position"] = token
    content = CommandAccepted(
        stream_id=decision.stream_id,
        version=decision.version,
        events=decision.event_types,
        positions=list(decision.positions),
        position=token,
        replayed=decision.replayed,
    )
    return Accepted(content, 201 if created and decision.event_types else 200, headers)


class CommandRoute(NamedTuple):
    """What a command route runs: its command type and how it treats If-Match."""

    command_type: type[Any]
    if_match: IfMatch
    created: bool


_JSON = (b"content-type", b"application/json")


def _head(accepted: Accepted, body: bytes) -> list[tuple[bytes, bytes]]:
    """The response headers Litestar writes for the route's Response, in its order."""
    return [
        *((name.lower().encode(), value.encode()) for name, value in accepted.headers.items()),
        _JSON,
        (b"content-length", str(len(body)).encode()),
    ]


def lean_command(route: CommandRoute, fallback: ASGIApp) -> ASGIApp:
    """The command route as a plain ASGI app, past Litestar's per-request machinery.

    Why: the framework's handler call (its kwargs and signature models, the Response
    object and its rendering) cost ~28 µs of CPU per command, over a third of the HTTP
    layer's own ~75 µs measured with the command stubbed (docs/PERFORMANCE.md, "HTTP
    commands"). Here the same steps run through
    the same functions: the before_request checks (key and role first, 415, depth, the
    strictly typed body, which they keep decoded), run_command, and the answer Litestar
    would have written. A body that does not decode strictly goes to `fallback` (the
    Litestar route, which runs the same checks again and refuses it in its own words), so
    every refusal is the framework's. Problems raised here are rendered by the same
    exception handlers: api/edge.py wraps this app in Litestar's exception middleware.
    """
    command_type, policy, created = route

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        request: Request[Any, Any, Any] = Request(scope, receive, send)
        await request_checks(request)  # a POST never gets an answer from it, only problems
        command = scope["state"].get(STRICT_BODY)  # decoded strictly by the checks
        if not isinstance(command, command_type):
            await fallback(scope, receive, send)
            return
        accepted = await run_command(request, command_store(request), command, policy, created)
        body = msgspec.json.encode(accepted.content)
        await send(
            {
                "type": "http.response.start",
                "status": accepted.status,
                "headers": _head(accepted, body),
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return serve


def command_problems(path: str, if_match: IfMatch, created: bool) -> tuple[int, ...]:
    """The problem statuses a command route can answer with.

    Launching a dialogue, planning or logging a visit and recording a pair's fact address
    no earlier record, so they have no 404; every other command names a dialogue, visit
    or fact that must exist (scheduling a session needs its dialogue, and so on).
    """
    statuses = [400, 401, 403, 409, 413, 415, 422]
    if not created or "{dialogue_id" in path or "{visit_id" in path:
        statuses.append(404)
    if if_match is IfMatch.REQUIRED:
        statuses.append(428)
    return tuple(sorted(statuses))


IfMatchHeader = Annotated[
    str | None,
    Parameter(header="If-Match", description='The stream version you saw, as its ETag ("3").'),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Parameter(
        header="Idempotency-Key",
        description="Any 1-200 visible ASCII characters; a retry with the same key and body "
        "returns the original response and writes nothing.",
    ),
]
COMMAND_RESPONSE_HEADERS = [
    ResponseHeader(name="ETag", description="The stream's new version", documentation_only=True),
    ResponseHeader(name="Location", description="The resource", documentation_only=True),
    ResponseHeader(
        name="X-Position",
        description="Position token: send it as after_position to read your write",
        documentation_only=True,
    ),
]


NOTHING_NEW = ResponseSpec(
    data_container=CommandAccepted,
    generate_examples=False,
    description="Accepted, but nothing new was recorded (the command changed nothing, or it "
    "was a retry of one that did: `replayed`)",
)


def command_route(
    path: str,
    command_type: type[Any],
    *,
    summary: str,
    tag: str,
    if_match: IfMatch = IfMatch.OPTIONAL,
    created: bool = False,
) -> HTTPRouteHandler:
    """A POST route that decodes `command_type` and runs it."""

    async def run(
        request: Request[Any, Any, Any],
        data: Any,
        if_match_header: IfMatchHeader = None,
        idempotency_key_header: IdempotencyKeyHeader = None,
    ) -> Response[CommandAccepted]:
        """The headers are read from the request; they are declared to document them."""
        accepted = await run_command(request, command_store(request), data, if_match, created)
        return Response(accepted.content, status_code=accepted.status, headers=accepted.headers)

    run.__annotations__ = {**run.__annotations__, "data": command_type}
    run.__name__ = f"post_{command_type.__name__}"
    stream_hint = stream_id_for.__doc__ or ""
    return post(
        path,
        summary=summary,
        description=f"Command `{command_type.__name__}`. If-Match: {if_match.value}. "
        f"Idempotency-Key: optional, recommended. {stream_hint}",
        tags=[tag],
        operation_id=command_type.__name__,
        status_code=201 if created else 200,
        opt={
            "permission": "write",
            "if_match": if_match.value,
            LEAN: functools.partial(lean_command, CommandRoute(command_type, if_match, created)),
        },
        name=command_type.__name__,
        responses={
            **problem_responses(*command_problems(path, if_match, created)),
            **({200: NOTHING_NEW} if created else {}),
        },
        response_headers=COMMAND_RESPONSE_HEADERS,
    )(run)
