"""Every error as an RFC 9457 problem: a stable `type` per kind, never a stack trace."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.problem_details import ProblemDetailsException

from api.request_context import sane_header
from domain.errors import AlreadyExists, DomainError, InvalidValue, NotFound
from reporting.keyset import BadCursor
from store.availability import database_unavailable, summary
from store.errors import IdempotencyKeyReused, InvalidCursor, WrongExpectedVersion

log = logging.getLogger("entente.api")

PROBLEM_BASE = "urn:entente:problem:"

TITLES = {
    400: ("invalid-request", "The request is malformed"),
    401: ("unauthenticated", "A valid API key is required"),
    403: ("forbidden", "This key's roles do not allow that"),
    404: ("not-found", "No such resource"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "The resource changed since you read it"),
    413: ("too-large", "The request body is too large"),
    415: ("unsupported-media-type", "Send application/json"),
    422: ("rule-violated", "The request breaks a rule of the register"),
    428: ("precondition-required", "If-Match is required for this change"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Something went wrong on our side"),
    503: ("unavailable", "The service is not ready"),
}


KIND_TITLES = {
    "already-exists": "That already exists",
    "not-ready": "Not ready yet",
    "last-admin-key": "The last admin key cannot go",
    "invalid-cursor": "The cursor or position was not issued by this server",
    "invalid-value": "A value the register refuses",
    "unknown-field": "A field the register does not know",
    "unknown-parameter": "A query parameter the route does not take",
    "too-long": "A value is too long",
    "path-body-mismatch": "The path and the body name different things",
    "idempotency-key-reused": "The Idempotency-Key was used for another request",
    "not-yet-consistent": "Not caught up with that position yet",
    "database-unavailable": "The database cannot be reached",
}
"""A kind's own title where the status's would mislead (a 409 that is no conflict)."""


# Every `type` the API can answer with, by status: the OpenAPI document is built from this,
# and tests/api/test_openapi.py checks that the problems the app returns are listed here.
KINDS: dict[int, tuple[str, ...]] = {
    400: ("invalid-request", "invalid-cursor", "unknown-parameter"),
    401: ("unauthenticated",),
    403: ("forbidden",),
    404: ("not-found",),
    409: ("conflict", "already-exists", "not-ready", "last-admin-key"),
    413: ("too-large",),
    415: ("unsupported-media-type",),
    422: (
        "rule-violated",
        "invalid-value",
        "path-body-mismatch",
        "unknown-field",
        "too-long",
        "idempotency-key-reused",
        "invalid-schedule",
        "export-failed",
    ),
    428: ("precondition-required",),
    429: ("too-many-requests",),
    503: ("unavailable", "not-yet-consistent", "database-unavailable", "not-ready"),
}

PROBLEM_MEDIA_TYPE = "application/problem+json"


def _problem_struct(status: int) -> type[msgspec.Struct]:
    urns = tuple(PROBLEM_BASE + kind for kind in KINDS[status])
    fields: list[Any] = [
        ("type", Literal[urns]),  # type: ignore[valid-type]
        ("title", str),
        ("status", Literal[status]),  # type: ignore[valid-type]
        ("detail", str),
    ]
    if status in (400, 422):
        fields.append(("errors", list[dict[str, Any]] | None, None))
    if status == 409:
        fields.append(("current_version", int | None, None))
    if status == 422:
        fields.append(("rule", str | None, None))
    fields.append(("request_id", str | None, None))
    return msgspec.defstruct(f"Problem{status}", fields, kw_only=True, frozen=True)


PROBLEM_STRUCTS: dict[int, type[msgspec.Struct]] = {s: _problem_struct(s) for s in KINDS}

# Why a status can happen, said once for every route that documents it.
WHY: dict[int, str] = {
    400: "malformed JSON, a body of the wrong shape, a query parameter the route does not "
    "take, or a bad query, header or cursor",
    401: "no live API key in `Authorization: Bearer <key>`",
    403: "the key's roles do not grant this route's permission",
    404: "the addressed resource (dialogue, visit, session, outcome, fact, key) does not exist",
    409: "If-Match names a version that is no longer current, the resource already exists, "
    "an export's file is not ready, or the key is the last live admin key",
    413: "the body is over 256 KiB",
    415: "the body is declared as something other than JSON (`Content-Type: application/json`)",
    422: "a value the register refuses: an unknown party, a broken rule, a path/body id "
    "mismatch, an over-long text, an Idempotency-Key reused for another request, an invalid "
    "schedule or a failed export",
    428: "this change amends a record, so it needs If-Match with the version you saw",
    429: "this process is producing as many exports at once as it allows; retry after"
    " Retry-After seconds, or send the export as a job",
    503: "the database does not answer (retry after Retry-After seconds), the read models have"
    " not reached after_position, or (readiness) a background loop or the projections lag",
}


def problem_description(status: int) -> str:
    """What a problem status means for any route, and the `type`s it comes with."""
    kinds = ", ".join(f"`{PROBLEM_BASE}{kind}`" for kind in KINDS[status])
    return f"{TITLES[status][1]}: {WHY[status]}. Problem types: {kinds}."


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI `responses` for the problems a route can return, each with its `type`s."""
    return {
        status: ResponseSpec(
            data_container=PROBLEM_STRUCTS[status],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
            description=problem_description(status),
        )
        for status in sorted(statuses)
    }


class Problem(ProblemDetailsException):
    """A problem whose body names the request (its X-Request-ID), as its log lines do."""

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """The problem+json response, with the request's `request_id`. A request the router
        refused (no such path: 404; no such method: 405) reached no route and so none of
        the middleware that names requests: it is named here, X-Request-ID included."""
        response = super().to_response(request)
        state = request.scope.setdefault("state", {})  # type: ignore[typeddict-item]
        request_id = state.get("request_id")
        if request_id is None:
            request_id = sane_header(request.scope, b"x-request-id") or uuid.uuid4().hex
            state["request_id"] = request_id
            response.headers["X-Request-ID"] = request_id
        if isinstance(response.content, dict):
            response.content.setdefault("request_id", request_id)
        return response


CHALLENGE = 'Bearer realm="entente"'
"""What a 401 answers in WWW-Authenticate: an API key as a bearer token (RFC 6750)."""


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemDetailsException:
    """A problem of a known kind; `kind` overrides the default for the status. A 401 names
    the scheme that would succeed (RFC 9110 11.6.1)."""
    default_kind, title = TITLES.get(status, TITLES[500])
    if status == 401:
        headers = {"WWW-Authenticate": CHALLENGE, **(headers or {})}
    return Problem(
        status_code=status,
        type_=PROBLEM_BASE + (kind or default_kind),
        title=KIND_TITLES.get(kind or default_kind, title),
        detail=detail,
        headers=headers,
        extra=extra or None,
    )


# msgspec's words for a body of the wrong shape (malformed → 400); any other body error is
# a value the register refuses (an unknown party, a pattern, a length) → 422.
_SHAPE_ERROR = re.compile(
    r"^(Expected `[^`]+`, got `|Object missing required field"
    r"|JSON is malformed|Input data was truncated|a JSON body is required$|\S+ is required$)"
)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]*)`")
"""A field the register does not know is refused, never dropped: it would be lost data."""
"""msgspec's words for a body of the wrong shape, and ours (`_readable`) for no body."""


def _refused_values(errors: Any) -> bool:
    if not isinstance(errors, list) or not errors:
        return False
    return all(
        isinstance(e, dict)
        and e.get("source") == "body"
        and not _SHAPE_ERROR.match(str(e.get("message", "")))
        for e in errors
    )


_MISSING = re.compile(r"^'([^']*)'$")
"""Litestar's message for a value it could not find is the KeyError's repr: `'data'`."""


def _readable(errors: Any) -> Any:
    """The errors with Litestar's KeyError reprs said in words, less the path parameters
    Litestar lists as missing beside a body error: the router matched, so they are there."""
    if not isinstance(errors, list):
        return errors
    return [
        _in_words(e) if isinstance(e, dict) else e
        for e in errors
        if not (
            isinstance(e, dict)
            and e.get("source") == "path"
            and _MISSING.match(str(e.get("message", "")))
        )
    ]


def _in_words(error: dict[str, Any]) -> dict[str, Any]:
    if not _MISSING.match(str(error.get("message", ""))):
        return error
    if error.get("source") == "body" and error.get("key", "data") == "data":
        return {**error, "message": "a JSON body is required"}
    return {**error, "message": f"{error.get('key')} is required"}


def _dicts(errors: Any) -> list[dict[str, Any]]:
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _unknown_fields(errors: Any) -> str | None:
    """ "unknown field `colour` in `$.plan`" for a body naming fields no command has."""
    named = []
    for e in errors if isinstance(errors, list) else []:
        found = isinstance(e, dict) and _UNKNOWN_FIELD.match(str(e.get("message", "")))
        if found and e.get("source") == "body":
            where = "$" if e.get("key", "data") == "data" else f"$.{e['key']}"
            named.append(f"`{found.group(1)}` in `{where}`")
    return f"unknown field {', '.join(named)}: check its spelling" if named else None


MAX_BODY_BYTES = 256 * 1024
"""The largest request body the app reads (Litestar's request_max_body_size)."""


def _from_http(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ProblemDetailsException):
        return exc
    errors = _readable(exc.extra) if isinstance(exc, ValidationException) else None
    detail = str(exc.detail)
    if isinstance(exc, ValidationException) and "too large" not in detail.lower():
        if unknown := _unknown_fields(errors):
            return problem(422, unknown, kind="unknown-field", errors=errors)
        if _refused_values(errors):
            said = "; ".join(f"{e.get('key', 'body')}: {e['message']}" for e in _dicts(errors))
            return problem(422, said, kind="invalid-value", errors=errors)
        return problem(400, detail, errors=errors) if errors else problem(400, detail)
    if exc.status_code == 413:
        detail = (
            f"the body is over the limit of {MAX_BODY_BYTES} bytes ({MAX_BODY_BYTES // 1024} KiB)"
        )
    elif isinstance(exc, NotFoundException) and detail == "Not Found":  # the router's own
        detail = "no such resource: check the path against the API document (/docs)"
    elif isinstance(exc, MethodNotAllowedException):
        allowed = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow", "")
        detail = f"this path does not take that method; it takes {allowed or 'others'}"
    return problem(exc.status_code, detail, headers=exc.headers)


def _from_domain(exc: DomainError) -> ProblemDetailsException:
    if isinstance(exc, NotFound):
        return problem(404, str(exc))
    if isinstance(exc, AlreadyExists):
        return problem(409, str(exc), kind="already-exists")
    if isinstance(exc, InvalidValue):
        return problem(422, str(exc), kind="invalid-value")
    return problem(422, str(exc), kind="rule-violated", rule=type(exc).__name__)


def _from_conflict(exc: WrongExpectedVersion) -> ProblemDetailsException:
    return problem(409, str(exc), current_version=exc.actual)


def _from_key_reuse(exc: IdempotencyKeyReused) -> ProblemDetailsException:
    # the store scopes a key to its caller ("<key name>:<key>"): say the key as it was sent
    sent = exc.key.split(":", 1)[-1]
    return problem(
        422,
        f"Idempotency-Key {sent!r} was already used for a different request: use a new key",
        kind="idempotency-key-reused",
    )


def _from_cursor(exc: InvalidCursor | BadCursor) -> ProblemDetailsException:
    return problem(400, str(exc), kind="invalid-cursor")


PROBLEM_MAP: dict[type[Exception], Any] = {
    HTTPException: _from_http,
    DomainError: _from_domain,
    WrongExpectedVersion: _from_conflict,
    IdempotencyKeyReused: _from_key_reuse,
    InvalidCursor: _from_cursor,
    BadCursor: _from_cursor,
}


RETRY_AFTER_SECONDS = 5
"""What a 503 for an unreachable database asks callers to wait: about the time the
background loops take to reconnect (store.supervision back-off)."""


def database_unavailable_problem(detail: str) -> ProblemDetailsException:
    """503 database-unavailable with Retry-After: the request may be sent again unchanged."""
    return problem(
        503,
        detail,
        kind="database-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The last resort: an unreachable database is a 503 and one log line (an outage is
    not a bug: no trace); anything else logs its trace for us and tells the caller only
    the request id."""
    request_id = request.scope.get("state", {}).get("request_id")
    if database_unavailable(exc):
        log.warning(
            "request %s %s %s: database unavailable (%s), answered 503",
            request_id,
            request.method,
            request.scope.get("path_template", "?"),  # the route, never a value in the path
            summary(exc),
        )
        detail = f"the database does not answer; retry in {RETRY_AFTER_SECONDS} s"
        return database_unavailable_problem(detail).to_response(request)
    log.exception(
        "request %s %s %s failed",
        request_id,
        request.method,
        request.scope.get("path_template", "?"),  # the route, never a value in the path
    )
    return problem(500, f"request {request_id} failed; it has been logged").to_response(request)
