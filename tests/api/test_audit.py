"""Audit reads: as recorded at a past moment, as valid at a date, and a relationship's history."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import quote

from api.demo import DEMO_ACTOR, load_demo
from domain import commands as c
from domain.demo import ESPD_ID, golden_scenario
from domain.facts import SessionPlan
from domain.values import PartialDate
from reporting.disclosure import AUDIT_FIELDS
from tests.api.command_scenario import Driver, ids, last_position
from tests.api.conftest import auth
from tests.unit import builders as b


async def _recorded_at(pool: Any, stream: str, version: int) -> dt.datetime:
    value: dt.datetime = await pool.fetchval(
        "SELECT recorded_at FROM event_store.events WHERE stream_id = $1 AND version = $2",
        stream,
        version,
    )
    return value


def _q(moment: dt.datetime) -> str:
    return quote(moment.isoformat())


async def test_as_of_returns_the_state_before_a_later_change(client, tokens, pool):
    i = ids("as-of")
    driver = Driver(client, tokens["writer"])
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    await asyncio.sleep(0.05)
    rename = c.RenameDialogue(dialogue_id=i["d"], name="Renamed later")
    assert (await driver.send(rename)).status_code == 200
    stream = f"dialogue-{i['d']}"
    launched = await _recorded_at(pool, stream, 1)
    renamed = await _recorded_at(pool, stream, 2)
    assert launched < renamed
    between = launched + (renamed - launched) / 2
    reader = auth(tokens["reader"])

    now = await client.get(f"/dialogues/{i['d']}", headers=reader)
    assert now.json()["state"]["charter"]["name"] == "Renamed later"
    assert now.headers["etag"] == '"2"'

    then = await client.get(f"/dialogues/{i['d']}?as_of={_q(between)}", headers=reader)
    assert then.status_code == 200, then.text
    assert then.json()["state"]["charter"]["name"] == "ESPD"
    assert then.json()["version"] == 1
    assert then.headers["etag"] == '"1"'

    exactly = await client.get(f"/dialogues/{i['d']}?as_of={_q(renamed)}", headers=reader)
    assert exactly.json()["version"] == 2

    before = await client.get(
        f"/dialogues/{i['d']}?as_of={_q(launched - dt.timedelta(seconds=1))}", headers=reader
    )
    assert before.status_code == 404
    assert before.json()["type"] == "urn:entente:problem:not-found"


async def test_valid_at_folds_only_what_had_happened_by_then(client, tokens):
    i = ids("valid-at")
    driver = Driver(client, tokens["writer"])
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    rename = c.RenameDialogue(
        dialogue_id=i["d"], name="Renamed in 2023", effective=PartialDate.parse("2023-01-01")
    )
    assert (await driver.send(rename)).status_code == 200
    reader = auth(tokens["reader"])
    url = f"/dialogues/{i['d']}"

    before = await client.get(f"{url}?valid_at=2022-06-01", headers=reader)
    assert before.status_code == 200, before.text
    assert before.json()["state"]["charter"]["name"] == "ESPD"
    assert before.json()["valid_at"] == "2022-06-01"
    assert before.json()["version"] == 2  # the stream's version as recorded, not as valid

    on_the_day = await client.get(f"{url}?valid_at=2023-01-01", headers=reader)
    assert on_the_day.json()["state"]["charter"]["name"] == "Renamed in 2023"

    # later than the effective date, the new name still holds
    later = await client.get(f"{url}?valid_at=2024-01-01", headers=reader)
    assert later.json()["state"]["charter"]["name"] == "Renamed in 2023"


async def test_valid_at_combines_with_as_of(client, tokens, pool):
    i = ids("valid-and-as-of")
    driver = Driver(client, tokens["writer"])
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    await asyncio.sleep(0.05)
    rename = c.RenameDialogue(dialogue_id=i["d"], name="Later", effective=PartialDate.parse("2023"))
    assert (await driver.send(rename)).status_code == 200
    first = await _recorded_at(pool, f"dialogue-{i['d']}", 1)
    reader = auth(tokens["reader"])
    both = await client.get(
        f"/dialogues/{i['d']}?as_of={_q(first)}&valid_at=2024-01-01", headers=reader
    )
    assert both.status_code == 200, both.text
    assert both.json()["state"]["charter"]["name"] == "ESPD"
    assert both.json()["version"] == 1


async def test_a_corrected_session_day_never_comes_back_at_any_valid_time(client, tokens, pool):
    """Issue 12: held "on the 18th", corrected to the 19th; the plan was agreed on the 5th."""
    i = ids("valid-corrected")
    driver = Driver(client, tokens["writer"])
    launch = c.LaunchDialogue(
        dialogue_id=i["d"], charter=b.charter(launched_on=PartialDate.parse("2021-01-01"))
    )
    plan = SessionPlan(
        planned=PartialDate.parse("2022-01"), agreed_on=PartialDate.parse("2022-01-05")
    )
    for command in (
        launch,
        c.ScheduleSession(dialogue_id=i["d"], session_id=i["s1"], plan=plan),
        c.HoldSession(dialogue_id=i["d"], session_id=i["s1"], record=b.record(when="2022-01-18")),
    ):
        assert (await driver.send(command)).is_success
    await asyncio.sleep(0.05)
    correct = c.CorrectSessionRecord(
        dialogue_id=i["d"], session_id=i["s1"], record=b.record(when="2022-01-19"), reason="19th"
    )
    assert (await driver.send(correct)).is_success
    before_correction = await _recorded_at(pool, f"dialogue-{i['d']}", 3)
    reader = auth(tokens["reader"])
    url = f"/dialogues/{i['d']}"

    async def session(query: str) -> dict[str, Any] | None:
        response = await client.get(f"{url}?{query}", headers=reader)
        assert response.status_code == 200, response.text
        found: dict[str, Any] | None = response.json()["state"]["sessions"].get(str(i["s1"]))
        return found

    assert await session("valid_at=2022-01-04") is None
    assert (await session("valid_at=2022-01-10"))["status"] == "scheduled"  # type: ignore[index]
    at_18 = await session("valid_at=2022-01-18")
    assert at_18 is not None and (at_18["status"], at_18["record"]) == ("scheduled", None)
    at_19 = await session("valid_at=2022-01-19")
    assert at_19["record"]["held_on"]["start"] == "2022-01-19"  # type: ignore[index]
    then = await session(f"as_of={_q(before_correction)}")
    assert then["record"]["held_on"]["start"] == "2022-01-18"  # type: ignore[index]
    then_at_18 = await session(f"as_of={_q(before_correction)}&valid_at=2022-01-18")
    assert then_at_18["status"] == "held"  # type: ignore[index]


async def test_the_kz_us_history_lists_the_articles_events_in_recorded_order(
    demo_client, tokens, pool
):
    """The pair's streams are found in the timeline read model: the demo_client's worker
    projects them, and the loop below polls until it has."""
    client = demo_client
    await load_demo(pool)
    auditor = auth(tokens["auditor"])
    wanted = len(golden_scenario())
    events: list[dict[str, Any]] = []
    cursor = None
    # The history is read in the safe global order: events behind a transaction still in
    # flight anywhere on the server are held back, so a tailing reader polls on an empty page.
    deadline = asyncio.get_running_loop().time() + 10
    while sum(e["metadata"]["actor"] == DEMO_ACTOR for e in events) < wanted:
        url = "/relationships/KZ-US/history?limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = await client.get(url, headers=auditor)
        assert page.status_code == 200, page.text
        body = page.json()
        events += body["events"]
        cursor = body["next_cursor"]
        if not body["events"]:
            assert asyncio.get_running_loop().time() < deadline, "the history stalled"
            await asyncio.sleep(0.05)
    # the default page size answers too, in the same order
    seen = [e["position"] for e in events]
    whole = await client.get("/relationships/KZ-US/history", headers=auditor)
    assert whole.status_code == 200, whole.text
    assert [e["position"] for e in whole.json()["events"]][: len(seen)] == seen
    # either order of the pair, any case
    swapped = await client.get("/relationships/us-kz/history?limit=1000", headers=auditor)
    assert [e["position"] for e in swapped.json()["events"]][: len(seen)] == seen

    # other tests of this module record KZ-US dialogues too, as writers; all name an actor
    assert all(e["metadata"]["actor"] in {DEMO_ACTOR, "test-writer"} for e in events)
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    recorded = [e["recorded_at"] for e in events]
    assert recorded == sorted(recorded)
    # every command of the article is there, in the order it was entered
    demo = [e for e in events if e["metadata"]["actor"] == DEMO_ACTOR]
    commands = [e["metadata"]["command"] for e in demo]
    assert commands == [type(command).__name__ for command in golden_scenario()]
    for event in demo:
        assert event["metadata"]["request_id"].startswith("demo-")
        assert event["hash"]
    espd = [e for e in events if e["stream_id"] == f"dialogue-{ESPD_ID}"]
    assert [e["version"] for e in espd] == list(range(1, len(espd) + 1))


async def test_history_filters_by_recorded_time(demo_client, tokens, pool):
    client = demo_client
    await load_demo(pool)
    auditor = auth(tokens["auditor"])
    settled = await last_position(pool)  # the timeline has found every stream of the pair
    everything = (
        await client.get(
            f"/relationships/KZ-US/history?limit=1000&after_position={settled}", headers=auditor
        )
    ).json()
    events = everything["events"]
    middle = events[len(events) // 2]["recorded_at"]
    later = await client.get(
        f"/relationships/KZ-US/history?limit=1000&recorded_from={quote(middle)}", headers=auditor
    )
    assert later.status_code == 200, later.text
    got = later.json()["events"]
    assert got and all(e["recorded_at"] >= middle for e in got)
    assert len(got) < len(events)
    earlier = await client.get(
        f"/relationships/KZ-US/history?limit=1000&recorded_until={quote(middle)}", headers=auditor
    )
    assert earlier.status_code == 200, earlier.text
    assert all(e["recorded_at"] <= middle for e in earlier.json()["events"])


async def test_stream_history_and_verification(client, tokens, pool):
    await load_demo(pool)
    auditor = auth(tokens["auditor"])
    stream = await client.get(f"/streams/dialogue-{ESPD_ID}/events?limit=3", headers=auditor)
    assert stream.status_code == 200, stream.text
    page = stream.json()
    assert [e["version"] for e in page["events"]] == [1, 2, 3]
    assert page["next_cursor"] == "3"
    rest = await client.get(
        f"/streams/dialogue-{ESPD_ID}/events?after_version=3&limit=1000", headers=auditor
    )
    assert rest.json()["events"][0]["version"] == 4
    # next_cursor goes back as `cursor`, as on every other page
    again = await client.get(
        f"/streams/dialogue-{ESPD_ID}/events?cursor=3&limit=1000", headers=auditor
    )
    assert again.json() == rest.json()
    for bad in ("xyz", "-1", "3.0", "9" * 5000, "٣"):
        refused = await client.get(
            f"/streams/dialogue-{ESPD_ID}/events", params={"cursor": bad}, headers=auditor
        )
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["type"] == "urn:entente:problem:invalid-cursor"
    clash = await client.get(
        f"/streams/dialogue-{ESPD_ID}/events?cursor=3&after_version=2", headers=auditor
    )
    assert clash.status_code == 400
    verified = await client.get("/verify", headers=auditor)
    assert verified.status_code == 200, verified.text
    assert verified.json()["broken"] == []


async def test_the_change_feed_shows_who_and_why_to_auditors_only(client, tokens):
    i = ids("feed-metadata")
    driver = Driver(client, tokens["writer"])
    assert (await driver.send(c.LaunchDialogue(dialogue_id=i["d"], charter=b.charter()))).is_success
    prefix = f"dialogue-{i['d']}"
    seen = {}
    for role in ("reader", "auditor"):
        response = await client.get(
            "/events", params={"stream_prefix": prefix}, headers=auth(tokens[role])
        )
        assert response.status_code == 200, response.text
        [event] = response.json()["events"]
        seen[role] = event["metadata"]
    assert seen["auditor"]["actor"] == "test-writer"
    assert AUDIT_FIELDS.isdisjoint(seen["reader"])
    assert AUDIT_FIELDS & set(seen["auditor"]) >= {"actor", "request_id", "correlation_id"}
    assert seen["reader"]["command"] == "LaunchDialogue"
