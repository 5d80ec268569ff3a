"""Must-show (part of 3): a client generated from the served OpenAPI document works.

openapi-python-client (a dev dependency, offline) generates a Python package from
`/docs/openapi.json` of a served API into a temporary folder; the test imports it and,
with its typed models, launches a dialogue, schedules a session and reads both back,
the session also from the sessions listing as a typed row of a typed page.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from api.examples import BODIES, CHARTER, DIALOGUE_ID, SESSION_ID
from store.api_keys import create_key
from tests.api.serving import served_api
from tests.api.test_docs_page import HTTP_TIMEOUT

PACKAGE = "entente_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
CONFIG = "literal_enums: true\npost_hooks: []\n"
"""Literal types for enums (time-zone names such as GMT+0 and GMT-0 would collide as enum
member names) and no formatting hooks (nothing to format in a throw-away package)."""


def generate(document: bytes, folder: Path) -> None:
    """Write the client package `PACKAGE` into `folder` from an OpenAPI document."""
    (folder / "openapi.json").write_bytes(document)
    (folder / "config.yaml").write_text(CONFIG)
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(folder / "openapi.json"),
            "--output-path",
            str(folder / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(folder / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    """`tmp_path` on sys.path while the test runs; the generated modules forgotten after."""
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_generated_client_launches_schedules_and_reads_back(
    database_url: str, pool: Any, importable: Path
) -> None:
    _, token = await create_key(pool, "generated-client", ["writer", "reader"])
    async with served_api(database_url, with_worker=True) as (base, _):
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            generate((await http.get(f"{base}/docs/openapi.json")).content, importable)

        client = _module("client").AuthenticatedClient(
            base_url=base, token=token, timeout=httpx.Timeout(HTTP_TIMEOUT)
        )
        models = _module("models")
        launched = await _module("api.dialogues.launch_dialogue").asyncio(
            client=client, body=models.LaunchDialogue.from_dict(BODIES["LaunchDialogue"])
        )
        assert isinstance(launched, models.CommandAccepted), launched
        assert (launched.stream_id, launched.version) == (f"dialogue-{DIALOGUE_ID}", 1)

        scheduled = await _module("api.sessions.schedule_session").asyncio(
            DIALOGUE_ID,
            client=client,
            body=models.ScheduleSession.from_dict(BODIES["ScheduleSession"]),
            if_match='"1"',
        )
        assert isinstance(scheduled, models.CommandAccepted), scheduled
        assert scheduled.version == 2 and scheduled.events == ["SessionScheduled"]

        dialogue = await _module("api.dialogues.dialogues_dialogue_id_get_dialogue").asyncio(
            DIALOGUE_ID, client=client
        )
        state = dialogue.to_dict()
        assert state["version"] == 2, state
        assert SESSION_ID in str(state), state

        session = await _module("api.read_models.sessions_session_id_get_session").asyncio(
            SESSION_ID, client=client, after_position=scheduled.position
        )
        assert isinstance(session, models.SessionRow), session
        row = session.to_dict()
        assert row["session_id"] == SESSION_ID and row["dialogue_id"] == DIALOGUE_ID, row
        assert row["status"] == "scheduled", row

        page = await _module("api.read_models.sessions_list_sessions").asyncio(
            client=client, dialogue_id=uuid.UUID(DIALOGUE_ID), after_position=scheduled.position
        )
        assert isinstance(page, models.SessionPage), page  # typed, not a loose mapping
        (listed,) = page.items
        assert isinstance(listed, models.SessionRow), listed
        assert listed.session_id == uuid.UUID(SESSION_ID), listed
        assert listed.dialogue_name == CHARTER["name"] and listed.status == "scheduled"
        assert listed.parties == CHARTER["parties"] and page.next_cursor is None

        refused = await _module("api.sessions.schedule_session").asyncio(
            DIALOGUE_ID,
            client=client,
            body=models.ScheduleSession.from_dict(BODIES["ScheduleSession"]),
            if_match='"1"',
        )
        assert isinstance(refused, models.Problem409), refused  # a stale If-Match, typed
