"""Checks every request passes before its handler decodes anything (Litestar before_request).

What Litestar itself gets wrong for this API, fixed in one place:

- JSON nesting. msgspec decodes recursively, so a 2 KB body of ~1,000 nested brackets ends
  in a RecursionError (a 500). No body the register accepts is nested more than a few
  levels, so a body deeper than MAX_JSON_DEPTH is refused as a 400 before it is decoded.
- Timestamps. Litestar reads a query value typed as a datetime leniently, so `?as_of=0.5`
  meant half a second after 1970; the OpenAPI document says RFC 3339 date-time, so a bare
  number is refused as a 400.
- Body types. Litestar converts a decoded body to the handler's type in lax mode, so
  `"retention": "8"`, `"paused": "true"` or `"year_from": "2020"` were accepted as 8, True
  and 2020 although the OpenAPI document says integer and boolean. A body that only lax
  coercion makes fit is refused as a 400 naming the field; one that fits neither way goes
  on to the handler's own refusal as before. The strictly decoded body is kept in scope
  state (STRICT_BODY) for the command routes' lean path.
- Query integers. Litestar converts `limit=2.0` or `after_version=1e0` to 2 and 1; the
  document says integer, so such a value is refused as a 400 (as a body's 8.0 is).
- Unknown query parameters. Litestar ignores a query parameter a route does not take, so
  `/sessions?stauts=held` answered every session as if unfiltered: a typo silently
  widened a report. A parameter the route does not take is refused as a 400 naming it
  and the ones the route takes (read from the route's own signature as Litestar parses
  it, aliases and dependencies included).
- OPTIONS. Litestar builds a path's OPTIONS answer from the first route registered at that
  path, so `OPTIONS /dialogues` named POST but not GET; the answer here is built from every
  method the finished app serves at the path.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Iterable
from typing import Any, NamedTuple, get_args

import msgspec
from litestar import Request, Response
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.auth import require_permission
from api.problems import problem

MAX_JSON_DEPTH = 32
"""Arrays and objects inside one another; the deepest command body is under ten."""

STRICT_BODY = "strict_body"
"""Scope state: the body as the route's Struct, decoded strictly by the checks (None when it
does not fit), so the lean command path (api/commanding.py) need not decode it again."""

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply a JSON text nests arrays and objects (counting stops past `limit`).

    Brackets inside strings do not count; the text need not be valid JSON (a malformed body
    is the decoder's to refuse), only the depth it would make the decoder recurse to.
    """
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        else:
            depth -= 1
    return deepest


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_CHARSET = re.compile(r'charset\s*=\s*"?([^";\s]+)', re.IGNORECASE)


class _Integer(NamedTuple):
    """A query parameter typed as an integer (or a list of them), with its bounds."""

    name: str
    minimum: int | None
    maximum: int | None


class _Shape(NamedTuple):
    moments: tuple[str, ...]
    """Query parameters typed as datetimes."""
    integers: tuple[_Integer, ...]
    takes_body: bool
    body_type: Any
    """The body's declared type when it is one msgspec decodes strictly, else None."""


@functools.lru_cache(maxsize=4096)
def _shape(handler: Any) -> _Shape:
    """What the checks need of a route, read from its signature once, not per request."""
    parameters = handler.parsed_fn_signature.parameters
    moments = tuple(
        name
        for name, field in parameters.items()
        if field.annotation is dt.datetime or dt.datetime in get_args(field.annotation)
    )
    integers = tuple(
        _integer(name, field) for name, field in parameters.items() if _holds_int(field)
    )
    data = parameters.get("data")
    body_type = data.annotation if data is not None else None
    strict = isinstance(body_type, type) and issubclass(body_type, msgspec.Struct)
    return _Shape(moments, integers, data is not None, body_type if strict else None)


def _integer(name: str, field: Any) -> _Integer:
    """The parameter's name in the query and its bounds as its declaration states them."""
    declared = field.kwarg_definition or next(
        (inner.kwarg_definition for inner in field.inner_types if inner.kwarg_definition), None
    )  # `Position | None` keeps its bounds on the inner type
    alias = getattr(declared, "query", None) or name
    return _Integer(alias, getattr(declared, "ge", None), getattr(declared, "le", None))


def _range(minimum: int | None, maximum: int | None) -> str:
    if minimum is None:
        return f"at most {maximum}"
    return f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"


def _holds_int(field: Any) -> bool:
    """An int, an optional one, or a list of them (what the routes' signatures use)."""
    if field.annotation is int:
        return True
    return any(_holds_int(inner) for inner in field.inner_types)


def _bad_integer(request: Request[Any, Any, Any], integers: tuple[_Integer, ...]) -> str | None:
    """Why a query parameter typed as an integer is refused: a value that is one only by
    lax conversion (`2.0`, `1e0`; the document says integer, and a value is refused, never
    converted), or one outside the bounds the document states, which Litestar checks on
    `int` but not on `int | None` (where `?before=2**63` reached the database)."""
    for name, minimum, maximum in integers:
        for value in request.query_params.getall(name, ()):
            if not _INTEGER.fullmatch(value):
                return f"{name} is an integer, written in decimal digits (like 20)"
            if len(value) > 40:  # beyond any bound; int() of 4,300 digits is refused
                return f"{name} has {len(value)} digits; no count here has more than 16"
            number = int(value)
            if (minimum is not None and number < minimum) or (
                maximum is not None and number > maximum
            ):
                return f"{name} is {_range(minimum, maximum)}"
    return None


def strictly(body: bytes, body_type: Any) -> tuple[Any, str | None]:
    """`body` decoded strictly into `body_type`, and None; or None and why it fits only by
    lax coercion (a string for a number or a boolean, 8.0 for 8, "null" for null); or
    None and None when it fits neither way (the handler's own refusal answers it)."""
    try:
        return msgspec.json.decode(body, type=body_type), None
    except msgspec.DecodeError as strict_error:
        try:
            msgspec.json.decode(body, type=body_type, strict=False)
        except msgspec.DecodeError:
            return None, None
        return None, str(strict_error)


def _numeric_moment(request: Request[Any, Any, Any], moments: tuple[str, ...]) -> str | None:
    """The first query parameter typed as a datetime whose value is a bare number."""
    for name in moments:
        value = request.query_params.get(name)
        if value is not None and _NUMBER.fullmatch(value.strip()):
            return name
    return None


@functools.lru_cache(maxsize=16)
def _query_names(app: Any) -> dict[Any, dict[str, bool]]:
    """Each of the app's own route handlers (they carry a `permission`; the docs pages
    do not) → the query parameters it takes, as Litestar will read them, each with
    whether it takes a list."""
    return {
        handler: {p.field_alias: p.is_sequence for p in kwargs.expected_query_params}
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler, kwargs in route.route_handler_map.values()
        if "permission" in handler.opt
    }


def _non_canonical_id(request: Request[Any, Any, Any]) -> str | None:
    """A path id Litestar read as a UUID from another spelling (no hyphens, braces,
    `urn:uuid:`): one resource would have many URLs, each cached and logged apart."""
    segments = set(request.scope["path"].lower().split("/"))
    for name, value in request.path_params.items():
        if isinstance(value, uuid.UUID) and str(value) not in segments:
            return name
    return None


def _unknown_parameter(request: Request[Any, Any, Any]) -> str | None:
    """Why the request is refused if it names a query parameter its route does not take."""
    taken = _query_names(request.app).get(request.route_handler)
    if taken is None:
        return None
    if unknown := set(request.query_params) - set(taken):
        takes = ", ".join(sorted(taken)) or "none"
        return f"unknown query parameter {', '.join(sorted(unknown))}; this route takes: {takes}"
    return None


def _repeated_parameter(request: Request[Any, Any, Any]) -> str | None:
    """Why the request is refused if it names a single-valued parameter more than once:
    Litestar would keep the last silently (`as_of=A&as_of=B` answered as of B)."""
    taken = _query_names(request.app).get(request.route_handler, {})
    for name, values in request.query_params.dict().items():
        if len(values) > 1 and not taken.get(name, True):
            return f"{name} is given {len(values)} times; it takes one value"
    return None


def allowed_methods(routes: Iterable[Any]) -> dict[str, str]:
    """Each path's Allow header: every method the app serves there, OPTIONS included."""
    return {
        route.path: ", ".join(sorted(route.methods))
        for route in routes
        if isinstance(route, HTTPRoute)
    }


def _not_json(content_type: str | None) -> str | None:
    """The declared media type of a body that says it is not JSON (none declared is JSON).

    Litestar decodes any body as JSON whatever it is declared as; a text/plain body is
    more likely a client's mistake than JSON, so it is refused rather than guessed at.
    """
    if content_type is None:
        return None
    media, _, parameters = content_type.partition(";")
    media = media.strip().lower()
    if not (media == "application/json" or media.endswith("+json")):
        return media or "empty"
    charset = _CHARSET.search(parameters)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        return f"{media} in {charset.group(1)} (JSON is UTF-8, RFC 8259)"
    return None


def _has_body(request: Request[Any, Any, Any]) -> bool:
    """Whether the request says it carries a body (a length above 0, or chunks)."""
    length = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    return chunked or (length is not None and length.strip() not in ("", "0"))


async def request_checks(request: Request[Any, Any, Any]) -> Response[None] | None:
    """The app's before_request hook: check the caller's key against the route's role
    (401/403), answer OPTIONS, then refuse what the address and the body cannot mean.

    The key is checked here rather than as a Litestar guard, in the same place (before
    anything else the route does): Litestar copies the route handler for every guard
    call, a tenth of the framework's own cost per command."""
    handler = request.route_handler
    await require_permission(request, handler)
    if request.method == "OPTIONS":
        path = next(iter(handler.paths))
        allow = allowed_methods(request.app.routes).get(path, "OPTIONS")
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": allow})
    shape = _shape(handler)
    _check_address(request, shape)
    await _check_body(request, shape)
    return None


def _check_address(request: Request[Any, Any, Any], shape: _Shape) -> None:
    """Path ids in one spelling; no query parameter the route does not take, none
    repeated that takes one value; date-times that are not bare numbers; integers that
    are integers within their bounds."""
    if request.path_params and (spelled := _non_canonical_id(request)):
        raise problem(404, f"no such resource: write {spelled} as 8-4-4-4-12 hex digits")
    if request.query_params and (unknown := _unknown_parameter(request)):
        raise problem(400, unknown, kind="unknown-parameter")
    if request.query_params and (repeated := _repeated_parameter(request)):
        raise problem(400, repeated)
    if shape.moments and (numeric := _numeric_moment(request, shape.moments)):
        raise problem(400, f"{numeric} is an RFC 3339 date-time like 2022-03-01T00:00:00Z")
    if shape.integers and (bad := _bad_integer(request, shape.integers)):
        raise problem(400, bad)


async def _check_body(request: Request[Any, Any, Any], shape: _Shape) -> None:
    """No body where the route takes none; JSON in UTF-8 (415), not nested too deep,
    fitting its type strictly (kept in scope state for the lean command path)."""
    if not shape.takes_body:
        if _has_body(request):
            raise problem(400, "this route takes no body; send the request without one")
        return
    if declared := _not_json(request.headers.get("content-type")):
        raise problem(415, f"the body is declared as {declared}; send application/json")
    if _too_deep(await request.body()):
        raise problem(400, f"the body nests arrays and objects more than {MAX_JSON_DEPTH} deep")
    if shape.body_type is not None:
        decoded, coerced = strictly(await request.body(), shape.body_type)
        if coerced:
            raise problem(400, f"the body does not match its schema: {coerced}")
        request.scope.setdefault("state", {})[STRICT_BODY] = decoded


def _too_deep(body: bytes) -> bool:
    """Whether a body nests deeper than MAX_JSON_DEPTH; a body with no more opening
    brackets than that cannot, whatever its strings hold, and is not scanned."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    return json_depth(body) > MAX_JSON_DEPTH
