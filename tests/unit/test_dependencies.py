"""Handlers get their resources as typed dependencies, which never reach the API contract,
and only the wiring touches the application's state."""

from __future__ import annotations

import re
from pathlib import Path

from api.app import create_app
from api.dependencies import DEPENDENCIES

API = Path(__file__).resolve().parents[2] / "api"

WIRING = {"app.py", "dependencies.py"}


def test_no_dependency_appears_as_a_parameter_in_the_openapi_document():
    schema = create_app("postgresql://nobody@127.0.0.1:1/none").openapi_schema.to_schema()
    documented = {
        parameter["name"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
    }
    assert documented  # the document has parameters at all
    assert documented.isdisjoint(DEPENDENCIES)


def test_only_the_wiring_touches_the_application_state():
    touching = {
        path.name
        for path in API.glob("*.py")
        if re.search(r"\bapp\.state\b", path.read_text(encoding="utf-8"))
    }
    assert "app.py" in touching
    assert touching <= WIRING, f"only the wiring may touch app.state: {sorted(touching - WIRING)}"
