"""The OpenAPI document is served and describes every route the app has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from api.problems import KINDS, TITLES
from tests.api.command_scenario import command_paths
from tests.api.test_roles import ROUTES


def _openapi_path(template: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", r"{\1}", template)


async def test_openapi_is_served_and_lists_every_route(client: Any) -> None:
    response = await client.get("/docs/openapi.json")
    assert response.status_code == 200, response.text
    spec = response.json()
    assert spec["info"]["title"] == "Entente"
    paths = spec["paths"]
    for method, template, _, _permission in ROUTES:
        if template.startswith("/docs"):
            continue
        path = _openapi_path(template)
        assert path in paths, path
        assert method.lower() in paths[path], (method, path)
    operations = {
        op.get("operationId")
        for item in paths.values()
        for op in item.values()
        if isinstance(op, dict)
    }
    for name, template in command_paths(client.app).items():
        assert name in operations, name
        assert "post" in paths[_openapi_path(template)]


async def test_docs_page_is_served_without_a_key(client: Any) -> None:
    response = await client.get("/docs/swagger")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    assert (await client.get("/health")).json() == {"status": "ok"}


PROBLEM = "application/problem+json"


def _operation(spec: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    operation: dict[str, Any] = spec["paths"][_openapi_path(template)][method.lower()]
    return operation


def _problem_statuses(spec: dict[str, Any], operation: dict[str, Any]) -> set[int]:
    """The documented problem statuses, each checked to be a problem+json with its types."""
    found = set()
    for status, response in operation["responses"].items():
        if int(status) < 400:
            continue
        assert set(response.get("content", {})) == {PROBLEM}, (status, response)
        ref = response["content"][PROBLEM]["schema"]["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][ref]
        assert schema["properties"]["status"]["const"] == int(status)
        kind = schema["properties"]["type"]
        kinds = kind.get("enum") or [kind["const"]]
        assert kinds and all(k.startswith("urn:entente:problem:") for k in kinds)
        assert all(f"`{kind}`" in response["description"] for kind in kinds)
        found.add(int(status))
    return found


async def test_every_command_route_documents_its_problems(client: Any) -> None:
    spec = (await client.get("/docs/openapi.json")).json()
    for name, template in command_paths(client.app).items():
        handler = next(
            h
            for route in client.app.routes
            if route.path == template
            for h in getattr(route, "route_handlers", [])
            if "POST" in h.http_methods
        )
        operation = _operation(spec, "POST", template)
        expected = {400, 401, 403, 409, 413, 415, 422, 503}
        if handler.opt["if_match"] == "required":
            expected.add(428)
        if handler.status_code != 201 or "{dialogue_id" in template or "{visit_id" in template:
            expected.add(404)
        assert _problem_statuses(spec, operation) == expected, name
        assert str(handler.status_code) in operation["responses"], name


async def test_every_other_route_documents_its_problems(client: Any) -> None:
    spec = (await client.get("/docs/openapi.json")).json()
    for method, template, _, permission in ROUTES:
        if permission in {"write"} or template.startswith("/docs"):
            continue
        documented = _problem_statuses(spec, _operation(spec, method, template))
        if permission != "public":
            assert {401, 403} <= documented, (method, template)
        assert 400 in documented, (method, template)  # a query parameter it does not take
        if permission != "public":
            assert 503 in documented, (method, template)  # the database does not answer


async def test_conditional_gets_document_their_etag_and_304(client: Any) -> None:
    spec = (await client.get("/docs/openapi.json")).json()
    conditional = [
        (method, route.path)
        for route in client.app.routes
        for handler in getattr(route, "route_handlers", [])
        if "cache_control" in handler.opt and "permission" in handler.opt
        for method in handler.http_methods
        if method == "GET"
    ]
    assert len(conditional) >= 5, conditional
    for method, template in conditional:
        responses = _operation(spec, method, template)["responses"]
        assert "304" in responses and "ETag" in responses["200"]["headers"], template


def test_documented_problem_types_are_the_ones_the_app_uses() -> None:
    """Each status's default kind, and every `kind=` the api/ code raises, is documented."""
    for status, kinds in KINDS.items():
        assert TITLES[status][0] in kinds, status
    raised = re.compile(r"problem\(\s*(\d{3}),(?:[^()]|\([^()]*\))*?kind=\"([\w-]+)\"", re.S)
    found = 0
    for source in Path("api").glob("*.py"):
        for status, kind in raised.findall(source.read_text()):
            assert kind in KINDS[int(status)], (source.name, status, kind)
            found += 1
    assert found >= 8


async def test_the_headers_every_answer_carries_are_documented(client: Any) -> None:
    spec = (await client.get("/docs/openapi.json")).json()
    operations = [
        (path, operation)
        for path, item in spec["paths"].items()
        if not path.startswith("/docs")
        for operation in item.values()
        if isinstance(operation, dict)
    ]
    for path, operation in operations:
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            assert "X-Request-ID" in headers, (path, status)
            if status == "401":
                assert "WWW-Authenticate" in headers, path
            if status in ("429", "503"):
                assert "Retry-After" in headers, (path, status)
    replay = spec["paths"]["/dialogues"]["post"]["responses"]["200"]["headers"]
    assert {"ETag", "Location", "X-Position"} <= set(replay)


async def test_the_change_feed_documents_its_cloudevents_answer(client: Any) -> None:
    spec = (await client.get("/docs/openapi.json")).json()
    content = spec["paths"]["/events"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "application/cloudevents-batch+json"} <= set(content)
