"""Paging to the end of a history stops there: the last page answers `next_cursor: null`
(issue 12), while the change feed always hands back a cursor to resume from later."""

from __future__ import annotations

from typing import Any

from api.demo import load_demo
from domain.demo import ESPD_ID
from tests.api.conftest import auth


async def _pages(client: Any, headers: dict[str, str], url: str, **params: Any) -> list[Any]:
    """Every page of a history, following `next_cursor` until it is null."""
    pages, cursor_name = [], "after_version" if "/streams/" in url else "cursor"
    while True:
        page = (await client.get(url, params=params, headers=headers)).json()
        pages.append(page)
        if page["next_cursor"] is None:
            return pages
        assert len(pages) < 100, "the history never ended"
        params[cursor_name] = page["next_cursor"]


async def test_the_last_page_of_a_history_has_no_next_cursor(client, tokens, pool):
    await load_demo(pool)
    auditor = auth(tokens["auditor"])
    stream = f"/streams/dialogue-{ESPD_ID}/events"
    whole = (await client.get(stream, params={"limit": 1000}, headers=auditor)).json()
    assert whole["next_cursor"] is None, "one short page is the whole history"
    pages = await _pages(client, auditor, stream, limit=3)
    versions = [e["version"] for p in pages for e in p["events"]]
    assert versions == [e["version"] for e in whole["events"]]
    assert all(p["next_cursor"] is not None for p in pages[:-1])

    history = "/relationships/KZ-US/history"
    everything = (await client.get(history, params={"limit": 1000}, headers=auditor)).json()
    assert everything["next_cursor"] is None
    paged = await _pages(client, auditor, history, limit=7)
    assert [e["position"] for p in paged for e in p["events"]] == [
        e["position"] for e in everything["events"]
    ]


async def test_the_change_feed_always_hands_back_a_cursor(client, tokens, pool):
    await load_demo(pool)
    reader = auth(tokens["reader"])
    tail = (await client.get("/events", params={"limit": 1000}, headers=reader)).json()
    assert len(tail["events"]) < 1000 and tail["next_cursor"] is not None
    after = await client.get("/events", params={"cursor": tail["next_cursor"]}, headers=reader)
    assert after.json()["events"] == [] and after.json()["next_cursor"] is not None
