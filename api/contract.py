"""The OpenAPI document, made to say what the server enforces.

Litestar describes request bodies from their types but drops what msgspec's own schema
keeps (constraints inside arrays and tuples, closed objects), and it cannot know the checks
the register makes in code: party codes that ISO 3166-1 knows, reasons that are not blank,
text of at most 20,000 characters, reports in the catalogue, IANA time zones, the shape
of If-Match and Idempotency-Key. A client (or schemathesis) that trusts the
document would send values the server then refuses. So the served document is rewritten
once, here: request-body components come from msgspec's schema, and each check the
server makes that a JSON Schema can state is added where it applies. Checks a schema
cannot state stay in the route descriptions: a rule that depends on the record (a session
must be held before an outcome is adopted), a path id that must equal the body's, a
partial date's start before its end, opaque cursors and position tokens. Nor are a few
that a schema could state but that make generated cases crawl (text without NUL, the
1,000-item cap on lists, the ISO list in the `pair` path parameter): the server refuses
those as before.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi.plugins import JsonRenderPlugin

from api.parameters import MAX_TEXT as MAX_QUERY_TEXT
from api.representation import MAX_TEXT
from reporting.catalogue import CATALOGUE
from reporting.cron import _zones

PARTY_PATTERN = "^[A-Z]{2}$"
"""What msgspec's PartyCode says; the register also wants ISO 3166-1 to know the code."""
NOT_BLANK = "\\S"
"""A reason must say something: not empty, not only white space."""
TEXT_QUERIES = ("status", "kind", "topic", "name", "framework", "stream_prefix", "stream_id")


@lru_cache(maxsize=1)
def party_codes() -> list[str]:
    """Every code the register accepts as a party (ISO 3166-1 alpha-2)."""
    import pycountry

    return sorted(str(country.alpha_2) for country in pycountry.countries)


def _any_case(code: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in code)


def _codes_pattern() -> str:
    return "(?:" + "|".join(_any_case(code) for code in party_codes()) + ")"


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object under `node`, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _body_types(app: Litestar) -> list[Any]:
    return [
        field.annotation
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if (field := handler.parsed_fn_signature.parameters.get("data")) is not None
    ]


def _tighten_body(schema: dict[str, Any]) -> None:
    """Add to one request component each check the server makes on every body value."""
    for node in _walk(schema):
        if node.get("pattern") == PARTY_PATTERN:
            del node["pattern"]
            node["enum"] = party_codes()
        elif node.get("type") == "string" and not ({"format", "enum", "pattern"} & set(node)):
            node["maxLength"] = MAX_TEXT
        properties = node.get("properties")
        if isinstance(properties, dict) and properties.get("reason", {}).get("type") == "string":
            properties["reason"].update(maxLength=MAX_TEXT, pattern=NOT_BLANK)


def _tighten_named(components: dict[str, Any]) -> None:
    """Checks made in code on particular fields of the non-command bodies."""
    catalogue = sorted(CATALOGUE)
    for name in ("ExportRequest", "ScheduleSpec"):
        if name in components:
            components[name]["properties"]["report"] = {"enum": catalogue}
    spec = components.get("ScheduleSpec")
    if spec:
        simple_name = {"type": "string", "pattern": "^(?!\\.)[\\w.-]{1,64}$"}
        spec["properties"].update(
            name=simple_name,
            destination=simple_name,
            timezone={"enum": sorted(_zones())},
            retention={"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
        )
    parameters = components.get("ReportParameters")
    if parameters:
        party = {"type": "string", "pattern": f"^{_codes_pattern()}$"}
        pair = {"type": "string", "pattern": f"^{_codes_pattern()}-{_codes_pattern()}$"}
        year = {"type": "integer", "minimum": 1, "maximum": 9999}
        for field, schema in (("party", party), ("pair", pair)):
            parameters["properties"][field] = {"anyOf": [schema, {"type": "null"}]}
        for field in ("year_from", "year_to"):
            parameters["properties"][field] = {"anyOf": [year, {"type": "null"}], "default": None}


def _tighten_parameters(paths: dict[str, Any]) -> None:
    """Query, path and header parameters the routes check in code."""
    known: dict[tuple[str, str], dict[str, Any]] = {
        ("query", "party"): {"type": "string", "enum": party_codes()},
        ("path", "pair"): {"type": "string", "pattern": "^[A-Za-z]{2}-[A-Za-z]{2}$"},
        ("header", "If-Match"): {"type": "string", "pattern": '^\\s*(?:W/)?"?\\d{1,18}"?\\s*$'},
        ("header", "Idempotency-Key"): {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
    }
    for name in TEXT_QUERIES:
        text = {"type": "string", "maxLength": MAX_QUERY_TEXT}
        known[("query", name)] = text
    known[("path", "stream_id")] = known[("query", "stream_id")]
    for item in paths.values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                schema = known.get((parameter.get("in"), parameter.get("name")))
                if schema is None:
                    continue
                parameter["schema"] = dict(schema)
                if parameter["name"] == "If-Match" and "If-Match: required" in str(
                    operation.get("description")
                ):
                    parameter["required"] = True  # a correction without it is a 428


BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "An Entente API key (`entente keys create`), never in a URL.",
}
_TYPED_PATH = re.compile(r"\{(\w+):\w+\}")


def _permissions(app: Litestar) -> dict[tuple[str, str], str]:
    """(document path, lower-case method) → the route's permission."""
    found = {}
    for route in app.routes:
        path = _TYPED_PATH.sub(r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            permission = str(handler.opt.get("permission", "public"))
            for method in handler.http_methods:
                found[path, method.lower()] = permission
    return found


def _secure(app: Litestar, document: dict[str, Any]) -> None:
    """The bearer scheme (Swagger UI's Authorize button, generated clients' auth): every
    operation needs it but the public ones (health, metrics); the calendar feed also
    opens with a calendar token in `?token=`, so it takes either."""
    document["components"].setdefault("securitySchemes", {})["bearer"] = BEARER
    document["security"] = [{"bearer": []}]
    permissions = _permissions(app)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            permission = permissions.get((path, method))
            if permission == "public":
                operation["security"] = []
            elif permission == "feed":
                operation["security"] = [{"bearer": []}, {}]


def _typed_headers(paths: dict[str, Any]) -> None:
    """A response header is described by a schema (OpenAPI 3.1 requires `schema` or
    `content`; Litestar leaves documentation-only headers without one): all are text."""
    for operations in paths.values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                for header in response.get("headers", {}).values():
                    if "schema" not in header and "content" not in header:
                        header["schema"] = {"type": "string"}


def enforced(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    """A copy of Litestar's document that states the server's checks (see the module)."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _, bodies = msgspec.json.schema_components(
        _body_types(app), ref_template="#/components/schemas/{name}"
    )
    for name, schema in bodies.items():
        if name in components:
            _tighten_body(schema)
            components[name] = schema
    _tighten_named(components)
    _tighten_parameters(document.get("paths", {}))
    _typed_headers(document.get("paths", {}))
    _secure(app, document)
    return document


class EnforcedJsonRenderPlugin(JsonRenderPlugin):
    """Serves /docs/openapi.json as `enforced` rewrites it, computed once per app."""

    def __init__(self) -> None:
        super().__init__()
        self._rendered: dict[int, bytes] = {}

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        key = id(request.app)
        if key not in self._rendered:
            self._rendered[key] = self.render_json(request, enforced(request.app, openapi_schema))
        return self._rendered[key]
