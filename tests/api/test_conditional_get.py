"""Must-show: a repeated GET with the ETag answers 304 (a dialogue's state, a read-model
item, the calendar feed), each with the Cache-Control its route documents, and a change
makes the old ETag stale."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest_asyncio
from litestar.testing import AsyncTestClient

from api.conditional import CALENDAR, REVALIDATE
from domain import demo
from tests.api.conftest import auth


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(demo_client: AsyncTestClient[Any]) -> AsyncTestClient[Any]:
    """The app with its in-process worker over the demo (tests/api/conftest.py)."""
    return demo_client


async def _projected(live: Any, path: str, headers: dict[str, str], **params: str) -> Any:
    """The answer once the in-process worker is idle: two GETs in a row agree (a test
    before may have changed what it projects)."""
    previous = None
    for _ in range(300):  # generous
        answer = await live.get(path, headers=headers, params=params)
        ready = answer.status_code == 200 and (
            path != "/calendar.ics" or str(demo.HLDDR_INAUGURAL_SESSION_ID) in answer.text
        )
        if ready and previous is not None and previous.content == answer.content:
            return answer
        previous = answer if ready else None
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never answered 200 twice alike")


async def _revalidates(live: Any, path: str, headers: dict[str, str], **params: str) -> str:
    """GET twice: same strong ETag; with If-None-Match, 304 and no body."""
    first = await _projected(live, path, headers, **params)
    etag: str = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/"), etag
    again = await live.get(path, headers=headers, params=params)
    assert again.status_code == 200 and again.headers["ETag"] == etag
    assert again.content == first.content
    cached = await live.get(path, headers={**headers, "If-None-Match": etag}, params=params)
    assert cached.status_code == 304, cached.text
    assert cached.content == b"" and cached.headers["ETag"] == etag
    listed = await live.get(
        path, headers={**headers, "If-None-Match": f'"other", W/{etag}'}, params=params
    )
    assert listed.status_code == 304  # If-None-Match compares weakly, lists allowed
    stale = await live.get(path, headers={**headers, "If-None-Match": '"stale"'}, params=params)
    assert stale.status_code == 200 and stale.content == first.content
    return etag


async def test_state_revalidates_and_a_change_makes_its_etag_stale(live, tokens):
    reader, writer = auth(tokens["reader"]), auth(tokens["writer"])
    path = f"/dialogues/{demo.ESPD_ID}"
    etag = await _revalidates(live, path, reader)
    state = (await live.get(path, headers=reader)).json()
    assert etag == f'"{state["version"]}"'  # the version, as If-Match takes it back
    assert (await live.get(path, headers=reader)).headers["Cache-Control"] == REVALIDATE
    # a view at valid_at is another resource (URL) whose bytes the version fixes too
    await _revalidates(live, path, reader, valid_at="2021-12-01")
    renamed = await live.post(
        f"{path}/rename",
        json={"dialogue_id": str(demo.ESPD_ID), "name": "ESPD (renamed)", "acronym": "ESPD"},
        headers={**writer, "If-Match": etag},
    )
    assert renamed.status_code == 200, renamed.text
    after = await live.get(path, headers={**reader, "If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] == renamed.headers["ETag"]


async def test_a_read_model_item_revalidates(live, tokens):
    path = f"/sessions/{demo.HLDDR_INAUGURAL_SESSION_ID}"
    await _revalidates(live, path, auth(tokens["reader"]))
    answer = await live.get(path, headers=auth(tokens["reader"]))
    assert answer.headers["Cache-Control"] == REVALIDATE
    assert "Authorization" in answer.headers["Vary"]


async def test_the_calendar_feed_revalidates(live, tokens):
    reader = auth(tokens["reader"])
    await _revalidates(live, "/calendar.ics", reader, since="2021-01-01")
    answer = await live.get("/calendar.ics", headers=reader, params={"since": "2021-01-01"})
    assert answer.headers["Cache-Control"] == CALENDAR
    # a session known only as "early 2022" spans that period and says so
    assert 'Dates known only as "early 2022"' in answer.text.replace("\r\n ", "")


async def test_unconditional_routes_and_errors_are_untouched(live, tokens):
    listing = await live.get("/dialogues", headers=auth(tokens["reader"]))
    assert listing.status_code == 200 and "ETag" not in listing.headers
    missing = await live.get(
        "/sessions/00000000-0000-0000-0000-000000000000", headers=auth(tokens["reader"])
    )
    assert missing.status_code == 404 and "ETag" not in missing.headers
