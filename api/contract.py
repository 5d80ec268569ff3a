"""The OpenAPI document, made to say what the server enforces, and the docs page.

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

The document also carries an example for every request body (api/examples.py) and the
bearer scheme, and /docs serves Swagger UI from the package's own files, not a CDN, so
the page works with no network (api/static/swagger-ui/README.md).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from api.commanding import ETAG_PATTERN
from api.examples import BODIES, PATH_PARAMETERS
from api.parameters import MAX_COUNT, MAX_KNOWN_SIZES
from api.parameters import MAX_TEXT as MAX_QUERY_TEXT
from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_STRUCTS, problem_description
from api.representation import MAX_TEXT
from reporting.catalogue import CATALOGUE
from reporting.cron import time_zones
from reporting.schedules import SIMPLE_NAME

PARTY_PATTERN = "^[A-Z]{2}$"
"""What msgspec's PartyCode says; the register also wants ISO 3166-1 to know the code."""
NOT_BLANK = (
    "[^\\s\\x00-\\x1f\\x7f-\\x9f\\u00ad\\u180e\\u200b-\\u200f\\u2028-\\u202e"
    "\\u2060-\\u206f\\ufeff\\ue000-\\uf8ff]"
)
"""A character a reader sees (domain.values.shows_something), as near as a pattern in the
document's ECMA-262 dialect can say it: not white space, a control or a format mark. A
reason must say something, and a dialogue's name must show something."""
ASSETS = Path(__file__).parent / "static" / "swagger-ui"
ASSETS_PATH = "/assets"
"""Under the docs path: /docs/assets/swagger-ui-bundle.js and the rest."""
ASSETS_MAX_AGE = 86_400
"""A day: the files change only with a new Swagger UI version (a new deployment)."""
TEXT_QUERIES = ("topic", "name", "framework", "stream_prefix", "stream_id")


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


def _fixed_length_array(node: dict[str, Any]) -> None:
    """A tuple of one item type (a pair of parties) as an array of that type and fixed
    length: the same values, in a form generated clients read (`items: false` after
    `prefixItems` stops openapi-python-client)."""
    prefix = node.get("prefixItems")
    if node.get("items") is False and prefix and all(item == prefix[0] for item in prefix):
        del node["prefixItems"]
        node["items"] = prefix[0]


DECIMAL = {
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": 64}, {"type": "number"}],
    "description": 'A decimal: a string (`"1500000.00"`, the form it is recorded in) or a'
    " JSON number; finite, below 10^30, at most 12 decimals. It is recorded as the number it"
    " names, in Python's decimal notation (`1e3` is recorded as `1E+3`).",
}
"""msgspec decodes a Decimal from a string or a number alike, so the document says both."""


def _tighten_body(schema: dict[str, Any]) -> None:
    """Add to one request component each check the server makes on every body value."""
    for node in _walk(schema):
        _fixed_length_array(node)
        if node.get("format") == "decimal":
            node.clear()
            node.update(DECIMAL)
        elif node.get("pattern") == PARTY_PATTERN:
            del node["pattern"]
            node["enum"] = party_codes()
        elif node.get("type") == "string" and not ({"format", "enum", "pattern"} & set(node)):
            node["maxLength"] = min(node.get("maxLength", MAX_TEXT), MAX_TEXT)
        properties = node.get("properties")
        if isinstance(properties, dict) and properties.get("reason", {}).get("type") == "string":
            properties["reason"].update(maxLength=MAX_TEXT, pattern=NOT_BLANK)


def _tighten_named(components: dict[str, Any]) -> None:
    """Checks made in code on particular fields of the non-command bodies."""
    catalogue = sorted(CATALOGUE)
    for name in ("ExportRequest", "ScheduleSpec"):
        if name in components:
            components[name]["properties"]["report"] = {"enum": catalogue}
    for name in ("Charter", "RenameDialogue"):
        if name in components:
            components[name]["properties"]["name"].update(pattern=NOT_BLANK)
    spec = components.get("ScheduleSpec")
    if spec:
        simple_name = {"type": "string", "pattern": f"^{SIMPLE_NAME.pattern}$"}
        spec["properties"].update(
            name=simple_name,
            destination=simple_name,
            timezone={"enum": sorted(time_zones())},
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
        ("query", "party"): {  # read in any case, as the pair in a path is
            "type": "string",
            "pattern": f"^{_codes_pattern()}$",
            "description": "An ISO 3166-1 alpha-2 code, in any case (kz = KZ)",
        },
        ("path", "pair"): {"type": "string", "pattern": "^[A-Za-z]{2}-[A-Za-z]{2}$"},
        ("header", "If-Match"): {"type": "string", "pattern": ETAG_PATTERN},
        ("header", "Idempotency-Key"): {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
        ("query", "known_size"): {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
            "maxItems": MAX_KNOWN_SIZES,
        },
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


def _handlers(app: Litestar) -> dict[tuple[str, str], Any]:
    """(document path, lower-case method) → the route handler answering it."""
    found = {}
    for route in app.routes:
        path = _TYPED_PATH.sub(r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                found[path, method.lower()] = handler
    return found


def _permissions(app: Litestar) -> dict[tuple[str, str], str]:
    """(document path, lower-case method) → the route's permission."""
    return {
        operation: str(handler.opt.get("permission", "public"))
        for operation, handler in _handlers(app).items()
    }


def _problem(status: int) -> dict[str, Any]:
    """A problem response as the document states it where a route declares it itself."""
    schema = {"$ref": f"#/components/schemas/{PROBLEM_STRUCTS[status].__name__}"}
    return {
        "description": problem_description(status),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
    }


NOT_MODIFIED = {
    "description": "Not Modified: If-None-Match named the current ETag; no body.",
    "headers": {"ETag": {"schema": {"type": "string"}}},
}
CHALLENGED = {"schema": {"type": "string"}, "description": 'Always `Bearer realm="entente"`.'}
RETRY_AFTER = {"schema": {"type": "string"}, "description": "Seconds to wait before retrying."}
REQUEST_ID = {
    "schema": {"type": "string"},
    "description": "Names the request in the service's logs (and in a problem's request_id).",
}
CONDITIONAL = {
    "ETag": {"schema": {"type": "string"}, "description": "A strong validator of the body."},
    "Cache-Control": {"schema": {"type": "string"}, "description": "The route's policy."},
    "Vary": {"schema": {"type": "string"}, "description": "Always `Authorization`."},
}


def _complete_responses(app: Litestar, document: dict[str, Any]) -> None:
    """The answers every route of a kind can give, stated where a route did not say them
    itself: 400 on any route of the API (a query parameter it does not take), 503 on any
    that needs the database (all but the public ones), 415 on any with a body, the ETag
    and 304 of the routes that answer conditional GETs (api/conditional.py), and the
    headers every answer of a kind carries."""
    handlers = _handlers(app)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            handler = handlers.get((path, method))
            if handler is None or "permission" not in handler.opt:
                continue
            responses = operation.setdefault("responses", {})
            for status in _problems_of_every_route(handler, operation):
                responses.setdefault(str(status), _problem(status))
            for media, what in handler.opt.get("also_answers", {}).items():
                content = responses.get("200", {}).setdefault("content", {})
                content[media] = {"schema": {"type": "array", "description": what}}
            if "cache_control" in handler.opt and "200" in responses:
                responses["200"].setdefault("headers", {}).update(CONDITIONAL)
                responses["304"] = copy.deepcopy(NOT_MODIFIED)
            _headers_of_every_answer(responses)
            operation["responses"] = dict(sorted(responses.items()))


def _problems_of_every_route(handler: Any, operation: dict[str, Any]) -> list[int]:
    statuses = [400]
    if handler.opt["permission"] != "public":
        statuses.append(503)
    if "requestBody" in operation:
        statuses.append(415)
    return statuses


def _headers_of_every_answer(responses: dict[str, Any]) -> None:
    """X-Request-ID on all; Retry-After on 429 and 503; WWW-Authenticate on 401; and a
    route's success headers on each of its successes (a command's 201 and its replay's
    200, an export's 201 and its job's 202), which Litestar states on one."""
    successes = [r for status, r in responses.items() if status.startswith("2")]
    declared: dict[str, Any] = next((r["headers"] for r in successes if r.get("headers")), {})
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        if status.startswith("2"):
            response["headers"] = headers = {**declared, **headers}
        if status in ("429", "503"):
            headers["Retry-After"] = RETRY_AFTER
        if status == "401":
            headers["WWW-Authenticate"] = CHALLENGED
        headers["X-Request-ID"] = REQUEST_ID


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


def _examples(paths: dict[str, Any]) -> None:
    """Every request body gets its example (api/examples.py), and path parameters the ids
    those examples name, so Swagger UI's "Try it out" starts from a request that fits."""
    for operations in paths.values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                name = str(media.get("schema", {}).get("$ref", "")).rsplit("/", 1)[-1]
                if name in BODIES:
                    media["example"] = BODIES[name]
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") in PATH_PARAMETERS:
                    parameter["example"] = PATH_PARAMETERS[parameter["name"]]


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
    _complete_responses(app, document)
    _typed_headers(document.get("paths", {}))
    _examples(document.get("paths", {}))
    _secure(app, document)
    return document


class ServedDocument:
    """The document as `enforced` rewrites it, computed once for the one app whose
    OpenAPI config holds this object, and shared by /docs and /docs/openapi.json."""

    def __init__(self) -> None:
        self._document: dict[str, Any] | None = None
        self.json: bytes | None = None

    def of(self, app: Litestar, openapi_schema: dict[str, Any]) -> dict[str, Any]:
        if self._document is None:
            self._document = enforced(app, openapi_schema)
        return self._document


class EnforcedJsonRenderPlugin(JsonRenderPlugin):
    """Serves /docs/openapi.json as `enforced` rewrites it."""

    def __init__(self, document: ServedDocument) -> None:
        super().__init__()
        self._document = document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._document.json is None:
            served = self._document.of(request.app, openapi_schema)
            self._document.json = self.render_json(request, served)
        return self._document.json


class OfflineSwaggerRenderPlugin(SwaggerRenderPlugin):
    """Swagger UI 5 from the app's own files (api/static/swagger-ui, see its README), so
    /docs works with no network; it shows the enforced document (bearer scheme, examples)."""

    def __init__(self, document: ServedDocument, docs_path: str) -> None:
        assets = f"{docs_path}{ASSETS_PATH}"
        super().__init__(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
        )
        self._document = document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self._document.of(request.app, openapi_schema))

    def receive_router(self, router: Router) -> None:
        """Serve the assets beside the page, public like it (no `permission`)."""
        super().receive_router(router)
        router.register(
            create_static_files_router(
                path=ASSETS_PATH,
                directories=[ASSETS],
                name="docs-assets",
                cache_control=CacheControlHeader(max_age=ASSETS_MAX_AGE, public=True),
                include_in_schema=False,
            )
        )


def openapi_config(docs_path: str = "/docs") -> OpenAPIConfig:
    """The OpenAPI set-up of one app: the document (descriptions from the handlers'
    docstrings), Swagger UI at `docs_path` and the JSON at `docs_path`/openapi.json."""
    document = ServedDocument()
    return OpenAPIConfig(
        title="Entente",
        version="0.1.0",
        description="An event-sourced register of diplomatic dialogues. Send API keys as "
        "`Authorization: Bearer <key>`; errors are RFC 9457 problem+json.",
        path=docs_path,
        use_handler_docstrings=True,
        render_plugins=[
            OfflineSwaggerRenderPlugin(document, docs_path),
            EnforcedJsonRenderPlugin(document),
        ],
    )
