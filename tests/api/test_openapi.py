"""The OpenAPI document is served and describes every route the app has."""

from __future__ import annotations

import re
from typing import Any

from tests.api.catalog import command_paths
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
