"""Must-show (part of 3): the served OpenAPI document validates as OpenAPI 3.1, declares
the bearer scheme generated clients and Swagger UI's Authorize button use, and marks the
public operations as needing no key."""

from __future__ import annotations

from openapi_spec_validator import OpenAPIV31SpecValidator

from api.contract import BEARER


async def test_the_document_validates_and_declares_bearer_auth(client):
    served = await client.get("/docs/openapi.json")
    assert served.status_code == 200
    document = served.json()
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in OpenAPIV31SpecValidator(document).iter_errors()
    ]
    assert errors == [], errors[:5]

    assert document["components"]["securitySchemes"] == {"bearer": BEARER}
    assert document["security"] == [{"bearer": []}]
    paths = document["paths"]
    for public in ("/health", "/health/live", "/health/ready", "/metrics"):
        assert paths[public]["get"]["security"] == [], public
    assert paths["/calendar.ics"]["get"]["security"] == [{"bearer": []}, {}]
    assert "security" not in paths["/dialogues"]["post"]  # inherits: a key is required
    # documentation-only response headers are typed
    headers = paths["/dialogues"]["post"]["responses"]["201"]["headers"]
    assert {h["schema"]["type"] for h in headers.values()} == {"string"}
