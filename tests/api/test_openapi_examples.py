"""Must-show (part of 3): every request body in the OpenAPI document has an example,
every operation a description, and the examples are bodies the register accepts."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from api.contract import _body_types
from api.examples import BODIES, PATH_PARAMETERS
from tests.api.conftest import auth

STORY = (
    "LaunchDialogue",
    "AppointLead",
    "RenameDialogue",
    "ScheduleSession",
    "HoldSession",
    "AdoptOutcome",
    "RecordProgress",
    "ChangeOutcomeStatus",
    "AssessCompliance",
    "PlanVisit",
    "ConfirmVisitDates",
    "CompleteVisit",
    "RecordIndicator",
    "RecordMilestone",
)
"""Command examples in an order the register accepts them in, one after the other."""


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    ]


async def test_every_body_has_an_example_that_decodes_into_its_type(client: Any) -> None:
    document = (await client.get("/docs/openapi.json")).json()
    types = {body.__name__: body for body in _body_types(client.app)}
    bodies = 0
    for method, path, operation in _operations(document):
        assert operation.get("description", "").strip(), (method, path)
        for media in operation.get("requestBody", {}).get("content", {}).values():
            name = media["schema"]["$ref"].rsplit("/", 1)[1]
            assert media.get("example") == BODIES[name], (method, path)
            msgspec.json.decode(msgspec.json.encode(media["example"]), type=types[name])
            bodies += 1
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] in PATH_PARAMETERS:
                assert parameter["example"] == PATH_PARAMETERS[parameter["name"]]
    assert bodies >= len(types) == len(BODIES)


async def test_the_story_examples_are_recorded_in_order(
    client: Any, tokens: dict[str, str]
) -> None:
    document = (await client.get("/docs/openapi.json")).json()
    route = {
        operation["operationId"]: path
        for _, path, operation in _operations(document)
        if operation.get("operationId") in STORY
    }
    for name in STORY:
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_PARAMETERS[m.group(1)], route[name])
        response = await client.post(path, json=BODIES[name], headers=auth(tokens["writer"]))
        assert response.status_code in {200, 201}, (name, response.text)
        assert response.json()["events"], name  # something was recorded
