"""The demo loads through the command path, and the article's relationship history reads back."""

from __future__ import annotations

from api.demo import load_demo
from domain.demo import ESPD_ID
from tests.api.command_scenario import event_count, last_position
from tests.api.conftest import auth


async def test_demo_loads_once_and_reads_back(demo_client, tokens, pool):
    """demo_client loaded the demo; loading again writes nothing. Its worker projects the
    timeline, through which the pair's history finds its streams (after_position waits)."""
    client = demo_client
    assert await load_demo(pool) == 0
    assert await event_count(pool) > 20
    response = await client.get(f"/dialogues/{ESPD_ID}", headers=auth(tokens["reader"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"]["charter"]["acronym"] == "ESPD"
    history = await client.get(
        "/relationships/KZ-US/history",
        params={"limit": 1000, "after_position": await last_position(pool)},
        headers=auth(tokens["auditor"]),
    )
    assert history.status_code == 200, history.text
    events = history.json()["events"]
    assert all(e["metadata"]["actor"] == "demo-loader" for e in events)
    assert {e["type"] for e in events} >= {
        "DialogueLaunched",
        "SessionHeld",
        "OutcomeAdopted",
        "IndicatorRecorded",
        "MilestoneRecorded",
        "VisitPlanned",
    }
