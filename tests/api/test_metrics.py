"""Must-show: /metrics exposes the service's metrics after a command, a projection batch
and an export, and carries no audit metadata (the reader walk in
test_reader_visibility.py also reads its label names)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from tests.api.command_scenario import Driver, body_of, path_for, scenario
from tests.api.conftest import auth


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_metrics_after_a_command_a_projection_batch_and_an_export(
    database_url, tokens, tmp_path
):
    app = create_app(database_url, run_projections=True, export_root=tmp_path)
    async with AsyncTestClient(app=app) as client:
        before = _samples((await client.get("/metrics")).text)
        writer = Driver(client, tokens["writer"])
        launch, rename = scenario("metrics")[:2]
        launched = await writer.send(launch, **{"X-Request-ID": "metrics-request-1"})
        assert launched.status_code == 201
        stale = await writer.send(rename, **{"If-Match": '"99"'})
        assert stale.status_code == 409
        elsewhere = path_for(app, rename).replace(str(rename.dialogue_id), str(uuid.uuid4()))
        mismatch = await client.post(
            elsewhere, json=body_of(rename), headers=auth(tokens["writer"])
        )
        assert mismatch.status_code == 422

        for _ in range(300):  # generous: the in-process worker projects the launch
            samples = _samples((await client.get("/metrics")).text)
            if _value(samples, "entente_projection_batches_total") > _value(
                before, "entente_projection_batches_total"
            ) and not _value(samples, "entente_projection_lag_events"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no projection batch was counted")

        catalogue = (await client.get("/reports/catalogue", headers=auth(tokens["reader"]))).json()
        report = catalogue[0]["name"]
        export = await client.post(
            "/exports", json={"report": report, "format": "csv"}, headers=auth(tokens["reader"])
        )
        assert export.status_code == 201, export.text
        scraped = await client.get("/metrics")  # no key: open like the health checks

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = _samples(scraped.text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("entente_commands_total", command="LaunchDialogue", outcome="accepted") == 1
    assert grew("entente_commands_total", command="RenameDialogue", outcome="conflict") == 1
    assert grew("entente_commands_total", command="RenameDialogue", outcome="rejected") == 1
    assert grew("entente_append_seconds_count") >= 1
    assert grew("entente_append_batch_size_count") >= 1
    assert _value(after, "entente_projection_events_applied", projection="dialogues") >= 1
    assert ("entente_projection_lag_seconds", frozenset({("projection", "dialogues")})) in after
    assert grew("entente_exports_total", report=report, format="csv", outcome="succeeded") == 1
    assert ("entente_loop_restarts", frozenset({("loop", "projections")})) in after
    assert _value(after, "entente_loop_running", loop="projections") == 1
    # HTTP metrics by route template and status, never by a path holding an id
    assert grew("entente_http_requests_total", path="/exports", status_code="201") == 1
    templates = {dict(ls)["path"] for n, ls in after if n == "entente_http_requests_total"}
    assert any("{dialogue_id" in t for t in templates), templates
    assert not any(str(launch.dialogue_id) in t for t in templates)
    assert "metrics-request-1" not in scraped.text and "writer" not in scraped.text
